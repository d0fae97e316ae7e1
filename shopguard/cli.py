"""The ``shopguard`` command.

Every subcommand takes the same ``--config FILE`` and ``--set section.key=value`` options and
builds one :class:`~shopguard.config.ShopguardConfig` from them, which it passes down.

Examples::

    shopguard demo                          # broker + topics + job + demo traffic, alerts on screen
    shopguard kafka start|stop|status       # the embedded KRaft broker
    shopguard cluster start|submit|status|cancel|stop   # a standalone Flink session cluster
    shopguard run --set kafka.bootstrap_servers=kafka-1:9092   # the job against an existing cluster
    shopguard produce --speedup 120         # stream the Taobao slice into user-events
    shopguard alerts                        # follow behavior-alerts
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from shopguard.config import ShopguardConfig, load_config, to_toml
from shopguard.errors import ShopguardError


def _config_args(args: argparse.Namespace) -> list[str]:
    """The ``--config``/``--set`` options as given, to hand the same configuration to a child process."""
    passed = ["--config", args.config] if args.config else []
    for item in args.overrides:
        passed += ["--set", item]
    return passed


def cmd_kafka(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.kafka_broker import broker_command

    return broker_command(cfg, args.action)


def cmd_cluster(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.flink_cluster import cluster_command

    return cluster_command(cfg, args.action)


def cmd_topics(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.topics import ensure_topics

    created = ensure_topics(cfg)
    print(f"topics on {cfg.kafka.bootstrap_servers}: created {', '.join(created) or 'none (all exist)'}")
    return 0


def cmd_jars(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.flink_home import flink_home
    from shopguard.local.maven_artifacts import kafka_broker_jars

    broker = kafka_broker_jars(cfg)
    home = flink_home(cfg)
    print(f"Kafka broker: {len(broker)} jars; Flink home with the Kafka connector and the job's Java steps: {home}")
    return 0


def cmd_run(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.jobs.detect_job import run_detect_job

    run_detect_job(cfg)
    return 0


def cmd_detect(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.jobs.replay_job import ReplayFiles, run_replay

    files = ReplayFiles(Path(args.input), Path(args.output), Path(args.scores_output) if args.scores_output else None)
    rules = []
    if args.rules:
        from shopguard.local.rule_topic import read_rule_file, with_versions
        from shopguard.udfs.detection_rules import RuleSet

        rules = [rule.to_json() for rule in with_versions(read_rule_file(args.rules), RuleSet())]
    run_replay(cfg, files, model_path=args.model, rules=rules)
    return 0


def cmd_produce(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.demo_traffic import demo_events
    from shopguard.local.producer import replay_events
    from shopguard.training.datasets import read_taobao

    events, bad_rows = read_taobao(cfg.data.taobao_csv)
    for row in bad_rows[:5]:
        print(f"skipped {row}", file=sys.stderr)
    if cfg.demo.max_events:
        events = events[: cfg.demo.max_events]
    traffic = demo_events(events, cfg.demo.abnormal_users, cfg.demo.seed, cfg.validation.min_event_time_ms)
    sent = replay_events(cfg, traffic, cfg.demo.speedup)
    print(f"produced {sent:,} events to {cfg.topics.events!r} on {cfg.kafka.bootstrap_servers}")
    return 0


def cmd_alerts(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.alert_feed import describe_alert, open_consumer, records

    consumer = open_consumer(cfg, cfg.topics.alerts, from_start=args.from_start)
    try:
        for _, _, alert in records(consumer, stop=lambda: False):
            print(json.dumps(alert, ensure_ascii=False) if args.json else describe_alert(alert), flush=True)
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()
    return 0


def cmd_demo(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.demo import run_demo

    return run_demo(cfg, _config_args(args))


def cmd_console(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.console.server import run_console

    return run_console(cfg)


def cmd_simulate(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.behaviour_stats import measure_behaviour
    from shopguard.training.calibration_report import write_calibration_report
    from shopguard.training.datasets import read_taobao
    from shopguard.training.labelled_traffic import mix_in_anomalies
    from shopguard.training.simulator import ContextAssumptions, ShopperSimulator

    real, _ = read_taobao(cfg.data.taobao_csv)
    real = [e for e in real if e.ts_ms >= cfg.validation.min_event_time_ms]
    start = min(e.ts_ms for e in real)
    span = max(e.ts_ms for e in real) - start
    assumptions = ContextAssumptions()
    simulated = ShopperSimulator(measure_behaviour(real), assumptions).simulate(args.users, start, span, args.seed)
    if args.out:
        traffic = mix_in_anomalies(simulated, args.abused_share, args.seed)
        labels_path = Path(args.out).with_suffix(".labels.jsonl")
        traffic.write(args.out, labels_path)
        print(
            f"wrote {len(traffic.events):,} events of {args.users:,} simulated shoppers to {args.out}, "
            f"{len(traffic.labels):,} of them abused (labels in {labels_path})"
        )
    report = write_calibration_report(real, simulated, args.report_dir, cfg.data.taobao_csv, assumptions)
    print(f"calibration report: {report}")
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _report_dir(cfg: ShopguardConfig, args: argparse.Namespace) -> Path:
    """Where ``shopguard evaluate`` writes its reports: ``--report-dir``, else ``training.report_dir``."""
    return Path(args.report_dir or cfg.training.report_dir)


def cmd_train(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.evaluation_data import build_evaluation_data
    from shopguard.training.train_lstm import TrainingRun
    from shopguard.training.train_pipeline import train_and_export

    data = build_evaluation_data(cfg, _progress)
    folder = train_and_export(
        cfg, data, args.out or Path(cfg.cache_dir) / "trained", run=TrainingRun(epochs=args.epochs), progress=_progress
    )
    card = json.loads((folder / "card.json").read_text())
    print(f"trained {card['model_version']} in {card['training_seconds']} s: {folder}")
    print(
        "test figures: "
        + ", ".join(
            f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in card["metrics"].items()
            if k != "per_type"
        )
    )
    return 0


def cmd_evaluate(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.detectors.isolation_forest import IsolationForestDetector
    from shopguard.training.detectors.next_event import NextEventDetector
    from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
    from shopguard.training.detectors.velocity_rules import VelocityRules
    from shopguard.training.evaluation import evaluate_all
    from shopguard.training.evaluation_data import build_evaluation_data
    from shopguard.training.evaluation_report import report_json, summary_table, write_evaluation_report
    from shopguard.training.train_pipeline import train_and_export
    from shopguard.udfs.model_registry import open_registry

    if args.dataset:
        return _evaluate_dataset(cfg, args)
    if args.churn_only:
        return _evaluate_section_only(cfg, args, "churn", lambda report_dir: _evaluate_churn(cfg, report_dir))
    if args.rings_only:
        return _evaluate_section_only(
            cfg, args, "rings", lambda report_dir: _evaluate_rings(cfg, args.model, report_dir, args.seeds)
        )
    if args.events or args.labels:
        return _evaluate_labelled(cfg, args)
    data = build_evaluation_data(cfg, _progress)
    model_dir = args.model
    if model_dir is None:
        current = open_registry(cfg).current()
        if current is not None:
            model_dir = open_registry(cfg).local_model_dir(current.model_version)
        else:
            _progress("no --model and nothing published yet: training one first")
            model_dir = train_and_export(cfg, data, Path(cfg.cache_dir) / "trained", progress=_progress)
    if args.via_job:
        return _evaluate_via_job(cfg, model_dir, data, _report_dir(cfg, args))
    detectors = [
        (OnnxSequenceDetector(model_dir), False),
        (NextEventDetector(progress=_progress), True),
        (VelocityRules(), True),
        (IsolationForestDetector(), True),
    ]
    results = evaluate_all(detectors, data, cfg.training.target_alert_rate, _progress)
    context = {
        "model_dir": str(model_dir),
        "training_data": data.fingerprint,
        "target_alert_rate": cfg.training.target_alert_rate,
        "train_share": cfg.training.train_share,
        "validation_share": cfg.training.validation_share,
    }
    report_dir = _report_dir(cfg, args)
    report = write_evaluation_report(results, "lstm", data.test, report_dir, context)
    ablation, returning, scores = _evaluate_ablation(cfg, Path(model_dir), report_dir, args.seeds)
    body = report_json(results, "lstm", context) | {"ablation": ablation}
    if not args.skip_unseen:
        body |= _evaluate_unseen(
            cfg, data, returning, scores, Path(model_dir), report_dir, full_size=args.unseen_full_size
        )
    body["churn"] = _evaluate_churn(cfg, report_dir)
    body["verdicts"] = _evaluate_verdicts(Path(model_dir), report_dir)
    body["rings"] = _evaluate_rings(cfg, str(model_dir), report_dir, args.seeds)
    (report_dir / "evaluation.json").write_text(json.dumps(body, indent=1) + "\n")
    if args.json:
        print(json.dumps(body))
    else:
        print(summary_table(results))
        print(f"report: {report} and {report_dir / 'ablation.md'}")
    return 0


def _evaluate_verdicts(model_dir: Path, report_dir: Path) -> dict:
    """The verdicts section (``verdicts.md``, key ``verdicts``): precision and recall by type from the analysts'
    verdicts the model was refitted with (its ``verdicts.json``; empty for a model trained without any)."""
    from shopguard.training.verdict_refit import VERDICTS_FILE, figures_markdown

    path = model_dir / VERDICTS_FILE
    if not path.is_file():
        return {}
    body = json.loads(path.read_text())
    (report_dir / "verdicts.md").write_text(figures_markdown(body["by_type"], body.get("left_out", 0)))
    _progress(f"{body['verdicts']} analysts' verdicts: {report_dir / 'verdicts.md'}")
    return body


def _evaluate_churn(cfg: ShopguardConfig, report_dir: Path) -> dict:
    """The churn section (``churn.md``, key ``churn``): the job's churn rule on simulated drifting customers."""
    from shopguard.training.churn_report import evaluate_churn, terminal_lines, write_churn_report

    body = evaluate_churn(cfg, _progress)
    write_churn_report(body, report_dir)
    for line in terminal_lines(body):
        _progress(line)
    return body


def _evaluate_rings(cfg: ShopguardConfig, model_dir: str | None, report_dir: Path, seeds: tuple[int, ...] = ()) -> dict:
    """The rings section (``rings.md``, key ``rings``): ring families among simulated shoppers who share networks,
    also on the simulations of ``seeds``."""
    from shopguard.training.evaluation_rings import evaluate_and_report, report_lines

    body = evaluate_and_report(cfg, model_dir, report_dir, _progress, seeds)
    for line in report_lines(body)[4:]:
        _progress(line)
    return body


def _evaluate_section_only(
    cfg: ShopguardConfig, args: argparse.Namespace, section: str, evaluate_section: Callable[[Path], dict]
) -> int:
    """``shopguard evaluate --churn-only`` or ``--rings-only``: one section of the evaluation, written to
    ``SECTION.json`` (key ``SECTION``, as in ``evaluation.json``) beside the section's ``SECTION.md``."""
    report_dir = _report_dir(cfg, args)
    body = {section: evaluate_section(report_dir)}
    (report_dir / f"{section}.json").write_text(json.dumps(body, indent=1) + "\n")
    if args.json:
        print(json.dumps(body))
    print(f"report: {report_dir / f'{section}.md'}", file=sys.stderr)
    return 0


def _evaluate_ablation(cfg: ShopguardConfig, model_dir: Path, report_dir: Path, seeds: tuple[int, ...]):
    """Each detector alone and combined on returning shoppers (with the model's own combiner if it has one),
    and the same targets on the simulations of ``seeds``; also the returning data and every detector's
    scores, for the unseen-family evaluation to reuse."""
    from shopguard.training.ablation_report import ablation_json, write_ablation_report
    from shopguard.training.ensemble_training import evaluate_ensemble
    from shopguard.training.returning_data import build_returning_data
    from shopguard.training.simulation_spread import targets_across_seeds

    returning = build_returning_data(cfg, _progress)
    result, scores = evaluate_ensemble(cfg, returning, model_dir, _progress)
    across_seeds = targets_across_seeds(cfg, model_dir, seeds, _progress) if seeds else []
    write_ablation_report(result, report_dir, {"returning_data": returning.fingerprint}, across_seeds)
    return ablation_json(result, across_seeds), returning, scores


def _evaluate_unseen(
    cfg: ShopguardConfig, data, returning, scores: dict, model_dir: Path, report_dir: Path, full_size: bool = False
) -> dict:
    """Leave one family out (training/evaluation_unseen.py): the evaluation JSON's unseen-family entries.

    ``full_size``: each fold's LSTM as large as the shipped one (64 hidden units, 5 epochs, every normal
    one-visit user) instead of the quick default, which ranks worse and takes a fraction of the time."""
    from shopguard.training.ensemble_training import with_new_account
    from shopguard.training.evaluation_unseen import (
        DECISION_ROWS,
        UnseenPlan,
        leave_one_family_out,
        score_real_shoppers,
    )
    from shopguard.training.evaluation_unseen_report import write_unseen_report

    label_free = with_new_account({name: p for name, p in scores.items() if name != "lstm"}, model_dir, returning)
    real = score_real_shoppers(cfg, model_dir, returning, data.real_normal, _progress)
    unseen = leave_one_family_out(
        data.train,
        data.validation,
        returning,
        label_free,
        cfg.training.target_alert_rate,
        plan=UnseenPlan(epochs=5, hidden=64, normal_share=1.0) if full_size else UnseenPlan(),
        chosen=DECISION_ROWS[cfg.training.decision],
        progress=_progress,
        real=real,
    )
    write_unseen_report(unseen, report_dir)
    return {
        "unseen_families": unseen["families"],
        "unseen_min_recall": unseen["unseen_min_recall"],
        "unseen_mean_pr_auc": unseen["unseen_mean_pr_auc"],
        "unseen": {k: v for k, v in unseen.items() if k != "families"},
    }


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds 11,12,13``."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes whole numbers separated by commas (like 11,12,13), not {text!r}"
        ) from None


def _evaluate_labelled(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    """``--events`` and ``--labels``: the team's own labelled events replayed through the job, judged per user."""
    from shopguard.training.labelled_replay import replay_labelled
    from shopguard.training.labelled_replay_report import figure_table, report_body, write_labelled_report

    if not (args.events and args.labels):
        raise ShopguardError("--events and --labels go together: the events to replay and who in them was abused")
    report_dir = _report_dir(cfg, args)
    result = replay_labelled(
        cfg, args.events, args.labels, args.model, report_dir / "labelled-replay", args.min_events, _progress
    )
    report = write_labelled_report(result, report_dir)
    print(json.dumps(report_body(result)) if args.json else "\n".join(figure_table(result) + [f"report: {report}"]))
    return 0


def _evaluate_dataset(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    """``--dataset fraud-data``: Fraud_Data converted, replayed through the job, the later half judged."""
    from shopguard.training.fraud_data_check import append_to_report, evaluate_fraud_data, terminal_lines
    from shopguard.training.labelled_replay_report import report_body, write_labelled_report

    if args.events or args.labels:
        raise ShopguardError("--dataset replays a known dataset: give it without --events and --labels")
    report_dir = _report_dir(cfg, args)
    result = evaluate_fraud_data(cfg, args.model, report_dir, _progress, half=args.half)
    report = write_labelled_report(result, report_dir)
    append_to_report(report, result)
    print(json.dumps(report_body(result)) if args.json else "\n".join(terminal_lines(result) + [f"report: {report}"]))
    return 0


def _evaluate_via_job(cfg: ShopguardConfig, model_dir, data, report_dir: Path) -> int:
    from shopguard.training.job_parity import compare_with_job

    comparison = compare_with_job(cfg, model_dir, data, report_dir / "job-replay", _progress)
    (report_dir / "job_parity.json").write_text(json.dumps(comparison, indent=1) + "\n")
    print(json.dumps(comparison, indent=1))
    verdict = "within" if comparison["pr_auc_difference"] <= 0.01 else "NOT within"
    _progress(
        f"job PR-AUC {comparison['job']['pr_auc']:.4f} vs offline {comparison['offline']['pr_auc']:.4f}: "
        f"{verdict} 0.01 ({report_dir / 'job_parity.json'})"
    )
    return 0 if comparison["pr_auc_difference"] <= 0.01 and not comparison["events_without_job_score"] else 1


def cmd_bench(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.bench.benchmark import BenchPlan, run_benchmark
    from shopguard.jobs.detect_job import model_source

    source = model_source(cfg)
    model_dir = Path(args.model) if args.model else source.folder_for(source.current_version())
    if args.sweep is not None:
        return _latency_sweep(cfg, args, model_dir)
    plan = BenchPlan.quick() if args.quick else BenchPlan.targets() if args.targets else BenchPlan.full()
    if args.repeats is not None:
        if args.repeats < 1:
            raise ShopguardError(f"--repeats {args.repeats}: give 1 or more runs per throughput figure")
        plan = dataclasses.replace(plan, repeats=args.repeats)
    # --json promises one JSON object on stdout: what the broker and cluster helpers say goes to stderr
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        figures = run_benchmark(cfg, model_dir, plan, Path(args.out), _progress)
    if args.json:
        print(json.dumps(figures))
    else:
        print((Path(args.out) / "bench.md").read_text())
    return 0


def _latency_sweep(cfg: ShopguardConfig, args: argparse.Namespace, model_dir: Path) -> int:
    from shopguard.bench.latency_sweep import SweepPlan, parse_loads, run_latency_sweep

    if args.quick or args.repeats is not None:
        raise ShopguardError("--sweep runs one job through a ladder of loads: leave out --quick and --repeats")
    plan = SweepPlan(parse_loads(args.sweep), seconds=args.sweep_seconds, warm_up_events=args.warm_up_events)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        figures = run_latency_sweep(cfg, model_dir, plan, Path(args.out), _progress)
    print(json.dumps(figures) if args.json else (Path(args.out) / "sweep.md").read_text())
    return 0


def cmd_mine_patterns(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.history_mining import mine_history

    summary = mine_history(cfg, args.events, args.model, _progress)
    print(
        f"mined {summary.users:,} users' patterns from {summary.events:,} events into {summary.store}"
        + (f" ({summary.bad_line_count:,} bad lines skipped)" if summary.bad_line_count else "")
    )
    return 0


def cmd_calibrate(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.ensemble_training import decide
    from shopguard.training.rarity_calibration import calibrate_rarity

    calibrate_rarity(cfg, Path(args.model), _progress)  # the tables the decision below is fitted with
    decide(cfg, Path(args.model), _progress, args.decision)
    return 0


def cmd_publish(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.publishing import publish_model

    publish_model(cfg, args.model_dir, force=args.force, progress=_progress)
    return 0


def cmd_retrain(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.training.evaluation_data import build_evaluation_data
    from shopguard.training.publishing import publish_model
    from shopguard.training.train_pipeline import train_and_export
    from shopguard.training.verdict_refit import apply_verdicts, copy_for_verdicts, figures_markdown

    judged, left_out = _judged_alerts(cfg)
    data = None
    if args.from_model:
        folder = copy_for_verdicts(args.from_model, Path(cfg.cache_dir) / "trained")
    else:
        data = build_evaluation_data(cfg, _progress)
        folder = train_and_export(cfg, data, Path(cfg.cache_dir) / "trained", progress=_progress, judged=judged)
    figures = apply_verdicts(folder, judged, left_out)
    report = Path(cfg.training.report_dir) / "verdicts.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(figures_markdown(figures["by_type"], left_out))
    _progress(
        f"{len(judged)} analysts' verdicts used; type thresholds {figures['type_thresholds'] or 'unchanged'}; "
        f"report: {report}"
    )
    publish_model(cfg, folder, force=args.force, data=data, progress=_progress)
    return 0


def _judged_alerts(cfg: ShopguardConfig):
    """The alerts analysts judged (the verdicts on topics.feedback with their alerts), and how many were left out."""
    from shopguard.local.alert_feed import committed_values
    from shopguard.local.alert_feedback import read_verdicts
    from shopguard.local.topics import TopicError
    from shopguard.training.verdict_refit import judged_alerts

    try:
        verdicts, refused = read_verdicts(cfg)
        alerts = committed_values(cfg, cfg.topics.alerts, 120.0) if verdicts else []
    except TopicError as error:
        _progress(f"no analysts' verdicts used: {error}")
        return [], 0
    for refusal in refused:
        _progress(f"skipped on {cfg.topics.feedback!r}: {refusal}")
    judged, left_out = judged_alerts(verdicts, alerts)
    return judged, left_out


def cmd_feedback(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local.alert_feedback import submit_verdict

    verdict = submit_verdict(
        cfg,
        args.alert_id,
        args.verdict.replace("-", "_"),
        args.type,
        analyst=args.analyst,
        note=args.note,
        lookup_timeout_s=args.lookup_timeout,
    )
    kind = f"confirmed as {verdict.anomaly_type}" if verdict.anomaly_type else "a false positive"
    print(
        f"alert {verdict.alert_id} (user {verdict.user_id}) {kind} by {verdict.analyst}: "
        f"written to {cfg.topics.feedback!r}"
    )
    return 0


def cmd_rules(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local import rule_topic

    if args.action in ("put", "delete", "test") and not args.target:
        raise ShopguardError(f"shopguard rules {args.action} needs {'an ID' if args.action == 'delete' else 'a FILE'}")
    if args.action == "list":
        rules, refused = rule_topic.rules_in_force(cfg)
        for rule in sorted(rules.rules.values(), key=lambda r: r.id):
            print(rule_topic.describe_rule(rule))
        print(
            f"{len(rules)} rules in force on {cfg.topics.rules!r}"
            + (f"; {len(refused)} records refused" if refused else "")
        )
        for refusal in refused:
            print(f"  refused: {refusal}", file=sys.stderr)
        return 0
    if args.action == "put":
        for rule in rule_topic.put_rules(cfg, rule_topic.read_rule_file(args.target)):
            print(f"put {rule.id} v{rule.version} ({rule.kind}) on {cfg.topics.rules!r}")
        return 0
    if args.action == "delete":
        deletion = rule_topic.delete_rule(cfg, args.target)
        print(f"deleted {deletion.id} (v{deletion.version}) on {cfg.topics.rules!r}")
        return 0
    return _rules_test(cfg, args)


def _rules_test(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    from shopguard.local import rule_backtest, rule_topic
    from shopguard.udfs.detection_rules import RuleSet, parse_rule

    if not args.input:
        raise ShopguardError("shopguard rules test FILE needs --input EVENTS.jsonl (the events to replay)")
    if args.current:
        current = RuleSet.of(parse_rule(body) for body in rule_topic.read_rule_file(args.current))
    else:
        current, _ = rule_topic.rules_in_force(cfg)
    candidates = rule_topic.with_versions(rule_topic.read_rule_file(args.target), RuleSet())
    changed = rule_backtest.changed_rules(current, candidates)
    result = rule_backtest.backtest(cfg, Path(args.input), current, changed, Path(args.out), args.model)
    print("\n".join(result.lines()))
    print(f"alerts written to {args.out}/ALERTS.current.jsonl and ALERTS.changed.jsonl")
    return 0


def cmd_config(cfg: ShopguardConfig, args: argparse.Namespace) -> int:
    print(to_toml(cfg), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML configuration file (see shopguard.example.toml)")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set job.parallelism=2 (repeatable)",
    )
    parser = argparse.ArgumentParser(
        prog="shopguard",
        description="Real-time detection of abnormal e-commerce user behaviour on Kafka with PyFlink and ONNX.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, handler: Callable[[ShopguardConfig, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    def model_option(sub: argparse.ArgumentParser, when: str = "") -> None:
        sub.add_argument("--model", help=f"{when}model folder (default: the registry's current model)")

    def json_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print the figures as one JSON object")

    kafka = add("kafka", cmd_kafka, "start, stop or show the embedded single-node KRaft Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    cluster = add(
        "cluster",
        cmd_cluster,
        "start, stop or show a standalone Flink session cluster on loopback; "
        "submit the detection job to it, or cancel it",
    )
    cluster.add_argument("action", choices=["start", "stop", "status", "submit", "cancel"])
    add("topics", cmd_topics, "create the configured topics if they do not exist")
    add(
        "jars",
        cmd_jars,
        "resolve the broker and Flink connector jars from Maven Central, build the job's Java steps, into the cache",
    )
    add("run", cmd_run, "run the detection job on a local Flink mini-cluster (until Ctrl-C)")
    detect = add(
        "detect",
        cmd_detect,
        "replay a JSON-lines file of events through the detection job (bounded; exits when the input is consumed)",
    )
    detect.add_argument("--input", required=True, help="events, one canonical JSON object per line")
    detect.add_argument(
        "--output", required=True, help="alerts, one JSON object per line (dead letters and late events go beside it)"
    )
    detect.add_argument(
        "--scores-output", help="one row per scored event: event_id, user_id, event_ts, score, model_version"
    )
    model_option(detect)
    detect.add_argument("--rules", help="detection rules to apply (a rule file: JSON object, list or lines)")
    add("produce", cmd_produce, "stream the Taobao slice plus demo abnormal users into the events topic")
    alerts = add("alerts", cmd_alerts, "follow the alerts topic")
    alerts.add_argument("--from-start", action="store_true", help="start from the oldest alert")
    alerts.add_argument("--json", action="store_true", help="print each alert as JSON")
    add("demo", cmd_demo, "broker + topics + job + demo traffic, alerts on screen; Ctrl-C stops everything")
    add(
        "console",
        cmd_console,
        "the review console: open alerts live in a browser, verdicts to the feedback topic, the rules "
        "(on console.host:console.port, loopback by default)",
    )
    simulate = add("simulate", cmd_simulate, "simulate normal shoppers calibrated on the Taobao slice, with a report")
    simulate.add_argument("--users", type=int, default=20000, help="how many shoppers (default 20000)")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--out", help="write the simulated events here as JSON lines (labels beside it)")
    simulate.add_argument(
        "--abused-share",
        type=float,
        default=0.02,
        help="share of users with injected, labelled abuse in --out (default 0.02)",
    )
    simulate.add_argument("--report-dir", default="reports/simulator", help="where the calibration report goes")
    train = add(
        "train", cmd_train, "train the LSTM on simulated + injected traffic and export it to ONNX with its card"
    )
    train.add_argument("--out", help="where the model folder goes (default <cache_dir>/trained)")
    train.add_argument("--epochs", type=int, default=6)
    evaluate = add("evaluate", cmd_evaluate, "evaluate a model and the baselines on the time-split test set")
    model_option(evaluate)
    json_option(evaluate)
    evaluate.add_argument("--report-dir", help="where the report goes (default training.report_dir)")
    evaluate.add_argument(
        "--seeds",
        type=_seed_list,
        default=(),
        metavar="N,N,...",
        help="also check the ablation's targets on these other simulations of returning "
        "shoppers (training.seed values; each adds one simulation and ablation), and the rings section "
        "on these simulations of rings (with --rings-only: only that)",
    )
    evaluate.add_argument(
        "--dataset",
        choices=("fraud-data",),
        help="a known labelled dataset replayed through the job: fraud-data (data.fraud_data_csv; "
        "the later half by signup time is judged, the earlier half is what may be fitted on)",
    )
    evaluate.add_argument(
        "--half",
        choices=("later", "earlier"),
        default="later",
        help="with --dataset: the half by signup time to judge (default later); earlier refits what is fitted "
        "on Fraud_Data (new_account.json) on the later half, in a copy of the model folder",
    )
    evaluate.add_argument("--events", help="your own events (JSON lines) to replay through the job; needs --labels")
    evaluate.add_argument(
        "--labels", help='who in --events was normal or abused: {"users": {id: "normal" | type | {"type", "onset"}}}'
    )
    evaluate.add_argument(
        "--min-events",
        type=int,
        default=2,
        help="with --events: users with fewer events scored by the job are named, not judged (default 2)",
    )
    evaluate.add_argument(
        "--churn-only",
        action="store_true",
        help="only the churn section: the churn rule and a 14-day baseline on simulated drifting customers",
    )
    evaluate.add_argument(
        "--rings-only",
        action="store_true",
        help="only the rings section (ring families among simulated shoppers sharing networks): rings.md, rings.json",
    )
    evaluate.add_argument(
        "--skip-unseen",
        action="store_true",
        help="leave out the unseen-family evaluation (each abuse family left out of training in turn)",
    )
    evaluate.add_argument(
        "--unseen-full-size",
        action="store_true",
        help="train each left-out fold's LSTM at the shipped size (64 hidden units, 5 epochs, every user; slower)",
    )
    evaluate.add_argument(
        "--via-job",
        action="store_true",
        help="replay the test split through the real job "
        "(shopguard detect) and compare its figures with the offline ones",
    )
    mine = add(
        "mine-patterns",
        cmd_mine_patterns,
        "mine every user's normal-behaviour patterns from an export "
        "of the platform's event history into a model folder (patterns.sqlite)",
    )
    mine.add_argument("--events", required=True, help="history: canonical JSON events, one per line")
    mine.add_argument("--model", required=True, help="the model folder to write patterns.sqlite into")
    calibrate = add(
        "calibrate",
        cmd_calibrate,
        "fit a model folder's rarity.json and combiner.json to real shoppers (rarity hinge, threshold) without "
        "retraining",
    )
    calibrate.add_argument("--model", required=True, help="the model folder whose combiner.json is calibrated")
    calibrate.add_argument(
        "--decision",
        choices=("logistic", "fisher_real"),
        default="",
        help="default: the setting training.decision. fisher_real: replace the folder's combiner by the label-free "
        "decision without the LSTM, fitted on simulated returning shoppers and real Taobao shoppers "
        "(docs/detection.md, 'One decision'); logistic: the folder's logistic combiner with the rarity hinge and a "
        "threshold real shoppers respect",
    )
    publish = add("publish", cmd_publish, "register a model folder and make it current, unless it is worse")
    publish.add_argument("model_dir")
    publish.add_argument("--force", action="store_true", help="publish even if it scores worse than the current")
    retrain = add(
        "retrain",
        cmd_retrain,
        "train with the analysts' verdicts on topics.feedback as labels and publish (for a schedule: see "
        "deploy/retrain.cron)",
    )
    retrain.add_argument("--force", action="store_true")
    retrain.add_argument(
        "--from",
        dest="from_model",
        metavar="MODEL_DIR",
        help="refit only this model's per-type thresholds with the verdicts (no training; a new version)",
    )
    bench = add(
        "bench",
        cmd_bench,
        "measure the real job's throughput and latency against a plain consumer "
        "and onnxruntime alone (writes bench.md, bench.png, bench.json)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="the small version: fewer, cold runs, no floor or profile (docs/benchmarks.md)",
    )
    bench.add_argument(
        "--targets",
        action="store_true",
        help="the full plan without its user-scaling and session-cluster runs (the figures issue 24 sets targets on)",
    )
    json_option(bench)
    bench.add_argument("--out", default="reports/bench", help="where the report goes (default reports/bench)")
    model_option(bench)
    bench.add_argument(
        "--repeats", type=int, help="runs of each throughput figure, the median is reported (default 3, 1 with --quick)"
    )
    bench.add_argument(
        "--sweep",
        metavar="EPS,EPS,...",
        help="instead of the benchmark: latency at each of these "
        "offered loads (events/s), in turn, in one warm job (writes sweep.md, sweep.png, sweep.json)",
    )
    bench.add_argument(
        "--sweep-seconds", type=float, default=20.0, help="with --sweep: seconds each load is offered (default 20)"
    )
    bench.add_argument(
        "--warm-up-events",
        type=int,
        default=40_000,
        help="with --sweep: the backlog the job drains first, to warm up (default 40000)",
    )
    feedback = add(
        "feedback",
        cmd_feedback,
        "record an analyst's verdict on an alert in the feedback topic (refused for an unknown alert or type)",
    )
    feedback.add_argument("alert_id", metavar="ALERT_ID")
    feedback.add_argument("verdict", choices=["confirmed", "false-positive"])
    feedback.add_argument("--type", help="with confirmed: the abuse type the analyst saw (e.g. card_testing)")
    feedback.add_argument("--note", default="", help="the analyst's note")
    feedback.add_argument("--analyst", help="who decided (default: the operating-system user)")
    feedback.add_argument(
        "--lookup-timeout",
        type=float,
        default=30.0,
        help="seconds to search the alerts topic for ALERT_ID (default 30)",
    )
    rules = add(
        "rules",
        cmd_rules,
        "put, list or delete the detection rules the running job applies, or test a rule file on past events",
    )
    rules.add_argument("action", choices=["put", "list", "delete", "test"])
    rules.add_argument("target", nargs="?", metavar="FILE|ID", help="the rule file (put, test) or the rule id (delete)")
    rules.add_argument("--input", help="with test: the events to replay (JSON lines)")
    rules.add_argument("--out", default="reports/rules-test", help="with test: where both runs' alerts go")
    model_option(rules, when="with test: ")
    rules.add_argument("--current", help="with test: the rules in force from this file instead of the topic")
    add("config", cmd_config, "print the effective configuration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        return args.handler(cfg, args)
    except KeyboardInterrupt:
        return 130
    except ShopguardError as error:
        print(f"shopguard: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
