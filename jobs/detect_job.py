"""The detection job: Kafka ``user-events`` in, explained alerts, dead letters and late events out.

Graph (every operator has a stable ``uid`` so that state survives upgrades from a savepoint)::

    user-events (watermarks from Kafka record timestamps, in the source: no Python step)
                          ▼ key_by(user_id), the id read in Java by Flink SQL's JSON_VALUE (no Python step)
                   parse, validate, track user history (keyed state: dedup ring + last L event codes
                          │     + patterns; a task of its own, so that it runs beside the scoring worker)
                          │ ◄──(detection-rules, broadcast state: lists, counting rules, per-type thresholds)
                          │ ──(not a valid event: dead letters)──────────────► user-events-dlq
                          │ ──(later than the allowed lateness)──────────────► user-events-late
                          │ ──(churn facts: visit starts, orders)──► watch churn (keyed by user: event-time
                          │        timers on silence, refund climbs; watermark from the facts) ──► user-risk-signals
                          ▼ key_by(device pseudonym; ~user without one)          (entities.enabled)
                   track devices (keyed sketch: accounts across users; figures into the row)
                          │ ──(ring alert: accounts acting together on the device)──► behavior-alerts
                          ▼ key_by(IP pseudonym; ~user without one)
                   track IPs (the same; a task of its own, beside the scoring worker)
                          │ ──(ring alert: accounts acting together on the IP)──────► behavior-alerts
                          ▼ Table API
                   score histories (pandas UDF: detectors + combiner per Arrow batch; hot-swapped model)
                          │ ──(every score, when topics.scores is set)──────► scores topic
                          ▼ score >= the threshold of the model that scored it, or a rule says so; key_by(user_id), Java
                   decide alert (cool-down, occlusion explanation, velocity rules)
                          ▼
                   behavior-alerts

:func:`build_detection_graph` wires the part shared by the live job and the replay
(``shopguard detect``, :mod:`shopguard.jobs.replay_job`); each attaches its own source and sinks.
Run the live job with ``shopguard run`` (local mini-cluster) or ``python -m shopguard.jobs.detect_job``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Sequence

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.data_stream import KeyedStream
from pyflink.table import StatementSet, StreamTableEnvironment, Table
from pyflink.table.expressions import col
from pyflink.table.udf import udf

from shopguard.config import ShopguardConfig, load_config
from shopguard.errors import ShopguardError
from shopguard.jobs.entity_keying import packs_rows, track_entities
from shopguard.jobs.flink_environment import create_environments
from shopguard.jobs.kafka_io import events_source, keyed_json_sink, rule_watermarks, rules_source, scores_sink
from shopguard.jobs.user_keying import key_records_by_user, key_table_by_user
from shopguard.udfs.alert_decision import DecideAlert
from shopguard.udfs.churn_step import watch_churn
from shopguard.udfs.default_model import fallback_model_dir
from shopguard.udfs.detection_rules import RuleSet
from shopguard.udfs.event_intake import DEAD_LETTERS, KEYED_JSON_ROW
from shopguard.udfs.event_time import event_time_watermarks
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.item_step import item_alerts_on
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.rows import (
    CROSSING_ROW,
    PACKED_SCORING_ROW,
    SCORE_RESULT,
    SCORES_COLUMNS,
    SCORING_INPUT_FIELDS,
    SCORING_ROW,
)
from shopguard.udfs.rule_branches import DecideBranchAlert, RuleBranches
from shopguard.udfs.rule_broadcast import RULES_STATE, RuledUserHistory
from shopguard.udfs.scoring import ScoreHistories
from shopguard.udfs.user_history import CHURN_FACTS, LATE_EVENTS


@dataclass(frozen=True)
class DetectionOutputs:
    """What the graph produces; the live job sends it to Kafka, the replay to files."""

    alerts: DataStream  # (user_id, alert JSON)
    dead_letters: DataStream  # (user_id, dead-letter JSON)
    late_events: DataStream  # (user_id, late-event JSON)
    scores: Table  # SCORES_COLUMNS, one row per scored event
    risk_signals: DataStream | None = None  # (user_id, churn-risk signal JSON); None when churn.enabled is off
    branch_alerts: dict[str, DataStream] | None = None  # rule set name -> its alerts, when the rules are RuleBranches


def model_source(cfg: ShopguardConfig) -> ModelSource:
    """The models this job may serve; before anything is published, the shipped default model (the placeholder
    if that cannot be served: :func:`~shopguard.udfs.default_model.fallback_model_dir`)."""
    return ModelSource.from_config(cfg, fallback_dir=fallback_model_dir(cfg.cache_dir))


def identifier_hashing(cfg: ShopguardConfig) -> IdentifierHashing:
    """How this job hashes IPs and device ids, with the salt from this process's environment (read once, here).

    Prints a warning when ``privacy.salt_env``'s variable is unset and the public default salt is used.
    """
    hashing = IdentifierHashing.from_settings(cfg.privacy, os.environ)
    if hashing.warning:
        print(f"shopguard: warning: {hashing.warning}", file=sys.stderr, flush=True)
    return hashing


def build_detection_graph(
    raw: DataStream,
    t_env: StreamTableEnvironment,
    cfg: ShopguardConfig,
    source: ModelSource,
    hashing: IdentifierHashing,
    rule_records: DataStream | None = None,
    initial_rules: RuleSet | RuleBranches | None = None,
    with_scores: bool = True,
    event_time: bool = False,
) -> DetectionOutputs:
    """Wire user keying → parse and user history → scoring → decision onto ``raw`` records (bytes or str).

    ``hashing`` (from :func:`identifier_hashing`) pseudonymises IPs and device ids in dead letters and
    late events, the two outputs that carry input records. ``rule_records`` (rule JSON, bytes or str) reach
    the user step as broadcast state (:mod:`shopguard.udfs.rule_broadcast`), which starts from
    ``initial_rules``; without them the job runs with no rules. With
    :class:`~shopguard.udfs.rule_branches.RuleBranches` (a backtest) each rule set gets a decision step of its own
    over the same scores (``branch_alerts``). ``with_scores=False`` says that nothing will
    read ``scores`` (no scores topic), so the scored rows skip the conversion that lets two sinks share them.
    ``event_time``: ``raw`` carries Kafka timestamps and the stream watermark reaches the user step (churn timers).
    """
    job = cfg.job
    histories = (
        key_records_by_user(raw, t_env, event_time)
        .connect(_rules_or_none(raw, rule_records).broadcast(RULES_STATE))
        .process(
            RuledUserHistory(
                job,
                cfg.validation,
                hashing,
                cfg.patterns,
                source,
                cfg.churn,
                rules=initial_rules,
                item_facts=item_alerts_on(cfg.entities),
                packed_rows=packs_rows(cfg),  # packed through the Python entity steps (udfs/rows.pack_scoring)
            ),
            output_type=PACKED_SCORING_ROW if packs_rows(cfg) else SCORING_ROW,
        )
        .uid("track-user-history")
        .name("track user history")
    )
    if not cfg.entities.enabled:  # the scoring step's process-mode worker then scores one bundle while this step
        histories = histories.disable_chaining()  # reads the next (with entity steps, the IP step is the one before)
    dead_letters = histories.get_side_output(DEAD_LETTERS)
    late_events = histories.get_side_output(LATE_EVENTS)
    rows, ring_alerts = track_entities(histories, cfg)

    score = udf(
        ScoreHistories(source, job.history_length, job.onnx_threads, job.model_poll_interval_s),
        result_type=SCORE_RESULT,
        func_type="pandas",
    )
    scored = (
        t_env.from_data_stream(rows)
        .add_columns(score(*[col(name) for name in SCORING_INPUT_FIELDS]).alias("result"))
        .select(
            *[col(name) for name in SCORING_ROW.get_field_names()],
            *[col("result").get(name).alias(name) for name in SCORE_RESULT.field_names()],
        )
    )
    if with_scores:  # materialise them once: a Table used by two sinks would be planned twice (the model run twice)
        scored = t_env.from_data_stream(t_env.to_data_stream(scored))
    crossings = key_table_by_user(  # one conversion, keyed in Java; every rule set's decision step reads it
        scored.where(  # the model's threshold, or what the rules say (NaN: no rule; never true)
            (col("score") >= col("threshold")) | (col("rules_score") >= 0.0) | (col("score") >= col("rules_floor"))
        ),
        t_env,
        CROSSING_ROW,
    )
    if isinstance(initial_rules, RuleBranches):
        branch_alerts = {
            name: _decide(crossings, DecideBranchAlert(job, source, i), f"-{name}", ring_alerts)
            for i, name in enumerate(initial_rules.names)
        }
        alerts = next(iter(branch_alerts.values()))
    else:
        branch_alerts, alerts = None, _decide(crossings, DecideAlert(job, source), "", ring_alerts)
    return DetectionOutputs(
        alerts=alerts,
        dead_letters=dead_letters,
        late_events=late_events,
        scores=scored.select(*[col(name) for name in SCORES_COLUMNS]),
        risk_signals=watch_churn(histories.get_side_output(CHURN_FACTS), job, cfg.churn) if cfg.churn.enabled else None,
        branch_alerts=branch_alerts,
    )


def _decide(crossings: KeyedStream, step: DecideAlert, suffix: str, ring_alerts) -> DataStream:
    """The decision step over the crossings (keyed by user), with the ring alerts beside its alerts."""
    alerts = (
        crossings.process(step, output_type=KEYED_JSON_ROW)
        .uid(f"decide-alert{suffix}")
        .name(f"decide alert{suffix} (cool-down, explanation)")
    )
    return alerts.union(*ring_alerts) if ring_alerts else alerts


def _rules_or_none(raw: DataStream, rule_records: DataStream | None) -> DataStream:
    """``rule_records``, or a stream of one empty record (skipped by the user step) when there are none."""
    if rule_records is not None:
        return rule_records
    return raw.get_execution_environment().from_collection([""], type_info=Types.STRING())


def attach_kafka_sinks(t_env: StreamTableEnvironment, cfg: ShopguardConfig, outputs: DetectionOutputs) -> StatementSet:
    """Alerts, dead letters, late events (and scores, if configured) to their Kafka topics."""
    statements = t_env.create_statement_set()
    for topic, stream in (
        (cfg.topics.alerts, outputs.alerts),
        (cfg.topics.dead_letters, outputs.dead_letters),
        (cfg.topics.late, outputs.late_events),
    ):
        statements.add_insert(keyed_json_sink(cfg, topic), t_env.from_data_stream(stream))
    if outputs.risk_signals is not None:
        statements.add_insert(
            keyed_json_sink(cfg, cfg.topics.risk_signals), t_env.from_data_stream(outputs.risk_signals)
        )
    if cfg.topics.scores:
        statements.add_insert(scores_sink(cfg, cfg.topics.scores), outputs.scores)
    return statements


def build_detect_job(
    env: StreamExecutionEnvironment,
    t_env: StreamTableEnvironment,
    cfg: ShopguardConfig,
    source: ModelSource,
    hashing: IdentifierHashing,
) -> StatementSet:
    """The live job: Kafka in, Kafka out. The caller attaches the statements and executes."""
    raw = (
        env.from_source(events_source(cfg), event_time_watermarks(cfg.job), "user-events")
        .uid("source-user-events")
        .name("user-events (Kafka)")
    )
    rules = (
        env.from_source(rules_source(cfg), rule_watermarks(), "detection-rules")
        .uid("source-detection-rules")
        .name("detection-rules (Kafka)")
        .set_parallelism(1)
    )
    outputs = build_detection_graph(
        raw,
        t_env,
        cfg,
        source,
        hashing,
        rules,
        with_scores=bool(cfg.topics.scores),
        event_time=cfg.job.event_time_timers,
    )
    return attach_kafka_sinks(t_env, cfg, outputs)


def run_detect_job(cfg: ShopguardConfig) -> None:
    """Build the job on this configuration and run it until it is cancelled (blocks)."""
    source = model_source(cfg)
    ensemble = source.load_current(cfg.job.onnx_threads)
    card = ensemble.card
    hashing = identifier_hashing(cfg)
    env, t_env = create_environments(cfg)
    build_detect_job(env, t_env, cfg, source, hashing).attach_as_datastream()
    print(
        f"shopguard: job {cfg.job.job_name!r} reading {cfg.topics.events!r} on {cfg.kafka.bootstrap_servers}, "
        f"model {card.model_version} (detectors {', '.join(ensemble.detectors)}, threshold {ensemble.threshold:.4g}), "
        f"alerts to {cfg.topics.alerts!r}",
        flush=True,
    )
    env.execute(cfg.job.job_name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        run_detect_job(load_config(args.config, args.overrides))
    except ShopguardError as error:  # a refusal is one line naming what to fix, not a traceback
        print(f"shopguard: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
