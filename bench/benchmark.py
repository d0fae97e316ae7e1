"""``shopguard bench``: how fast the real pipeline is on this machine, and against what.

One run measures, on the same synthetic traffic (:mod:`shopguard.bench.workload`) and model:
the full job's sustained throughput at parallelism 1 and 2 (:mod:`shopguard.bench.job`) and the
throughput of the same shape of PyFlink job with the detection taken out (the floor, see
:mod:`shopguard.bench.pipeline_floor`), its
end-to-end latency at a fixed offered load, the per-stage costs and a profile of the per-event path,
onnxruntime alone and a plain single-process consumer (:mod:`shopguard.bench.baselines`), state bytes
per active user, and throughput and memory against the number of users. It writes ``bench.md``,
``bench.png`` and ``bench.json``; the JSON carries ratios so that two commits can be compared on a
shared, noisy machine. ``--quick`` is the small version CI runs as a smoke test.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shopguard.bench.baselines import (
    onnx_only_eps,
    plain_consumer_eps,
    replay_states,
    stage_costs,
    state_bytes_per_user,
)
from shopguard.bench.job import (
    DETECTION_JOB,
    PIPELINE_FLOORS,
    cluster_throughput,
    job_latency,
    job_throughput,
    private_topics,
    repeated_throughput,
)
from shopguard.bench.profile import task_thread_seconds
from shopguard.bench.workload import as_records, bench_events
from shopguard.config import ShopguardConfig
from shopguard.local.kafka_broker import LocalKafkaBroker
from shopguard.local.producer import send_records
from shopguard.training.plots import can_plot, saved_plot
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.served_patterns import ServedPatterns


@dataclass(frozen=True)
class BenchPlan:
    """How big each measurement is."""

    throughput_events: int
    throughput_users: int
    scaling_users: tuple[int, ...]
    latency_offered_eps: float
    latency_seconds: float
    baseline_events: int
    profile_seconds: float = 0.0  # py-spy on the p=1 drain (0: no job profile)
    lighter_loads_eps: tuple[float, ...] = ()  # latency also at these offered loads, below the job's capacity
    cluster_layouts: tuple[tuple[int, int], ...] = ()  # (TaskManagers, slots each) of session clusters run at p=2
    repeats: int = 1  # runs of each throughput figure (jobs, clusters, plain consumer); the report quotes the median
    floor_events: int = 0  # backlog of the pipeline-floor runs (they drain faster than the job); 0: the job's
    # The runs that explain the job's figures rather than make them: the pipeline floors, p=1 without the
    # pattern detector, p=1 without the entity steps, and the profiled run (each a job start of its own).
    diagnostics: bool = True
    # True: the p=1 figure is the latency job's warm-up drain (at-least-once sinks, per-event scores
    # written too) instead of drains of its own with exactly-once sinks; one job start less.
    p1_from_latency_job: bool = False
    caveat: str = ""  # what the report must say about this plan's figures

    @property
    def floor_backlog(self) -> int:
        """Events the pipeline-floor runs drain: ``floor_events``, or the job's backlog when that is 0."""
        return self.floor_events or self.throughput_events

    @classmethod
    def quick(cls) -> "BenchPlan":
        """Under two minutes: two job starts (p=2 drain; p=1 drain then latency, in one job), no diagnostics.

        Its jobs are cold: 6k-event backlogs drain while the JIT compiler and the Python workers warm up,
        at a quarter to a half of the full plan's rates. Compare a quick run with quick runs only.
        """
        return cls(
            6_000,
            2_000,
            (),
            500,
            6,
            5_000,
            diagnostics=False,
            p1_from_latency_job=True,
            caveat="Quick plan: cold jobs on 6k-event backlogs (JIT and Python workers warming up) drain at "
            "a quarter to a half of the full plan's rates; compare it with other quick runs only.",
        )

    @classmethod
    def smoke(cls) -> "BenchPlan":
        """What CI runs to keep the benchmark working (figures meaningless at this size).

        The backlogs still take a few of the bench's counter readings to drain: a rate needs two. The floor
        has no cold Python to warm up and drains fastest, so its backlog is the largest: a small one can
        drain before the counter is read twice on a fast machine.
        """
        return cls(
            6_000,
            300,
            (),
            300,
            5,
            3_000,
            profile_seconds=1,
            repeats=2,
            floor_events=200_000,
            p1_from_latency_job=True,
            caveat="Smoke plan: figures meaningless at this size.",
        )

    @classmethod
    def full(cls) -> "BenchPlan":
        return cls(
            200_000,
            10_000,
            (10_000, 100_000, 1_000_000),
            5_000,
            30,
            100_000,
            profile_seconds=20,
            lighter_loads_eps=(1_000, 2_500),
            cluster_layouts=((2, 1), (1, 2)),
            repeats=3,
            floor_events=400_000,
        )

    @classmethod
    def targets(cls) -> "BenchPlan":
        """The full plan's runs behind issue 24's targets only: drains (with the runs without the pattern detector
        and without the entity steps, whose added costs have targets too), floors, profile, latency; no user
        scaling (10k to 1M users) and no session clusters, which take about half of the full plan's time."""
        return dataclasses.replace(
            cls.full(),
            scaling_users=(),
            cluster_layouts=(),
            caveat="Targets plan: the full plan without its user-scaling and session-cluster runs.",
        )


def run_benchmark(
    cfg: ShopguardConfig, model_dir: Path, plan: BenchPlan, out_dir: Path, progress: Callable[[str], None] = print
) -> dict:
    """Every measurement of ``plan``; returns the figures (also written to ``out_dir``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, model_path=str(model_dir)))  # jobs serve it too
    ensemble = DetectorEnsemble.load(model_dir, threads=cfg.job.onnx_threads)
    model = ensemble.model
    matcher = ServedPatterns.load(ModelSource(fixed_dir=str(model_dir)), None, cfg.patterns).matcher
    events = bench_events(plan.baseline_events, plan.throughput_users)
    windows = replay_states(cfg, events)[0]
    progress(f"1/6 stage costs and profile on {len(events):,} events")
    stages = stage_costs(cfg, events, ensemble, matcher)
    progress("2/6 onnxruntime alone and state size")
    onnx_eps = onnx_only_eps(model, windows, cfg.job.history_length)
    state = state_bytes_per_user(cfg, bench_events(300 * 200, 200, seed=3))  # 300 events each: full windows
    with LocalKafkaBroker(cfg).running():
        progress("3/6 plain single-process consumer (kafka-python + the same parser, state and model)")
        plain_runs = repeated_throughput(
            lambda: {"eps": _plain_consumer(cfg, events, ensemble, matcher)}, plan.repeats, progress
        )
        progress(
            "4/6 full job throughput (pre-loaded topic, drained)"
            + (
                ", at p=1 without the pattern detector and without the entity steps, and the pipeline floor"
                if plan.diagnostics
                else ""
            )
        )

        def drained(
            run_cfg: ShopguardConfig,
            parallelism: int,
            events: int = plan.throughput_events,
            job: tuple[str, ...] = DETECTION_JOB,
        ) -> dict:
            return repeated_throughput(
                lambda: job_throughput(
                    run_cfg, events, plan.throughput_users, parallelism, out_dir, progress=progress, job=job
                ),
                plan.repeats,
                progress,
            )

        # The p=1 drains take turns, one run of each per round, so that the ratios between them (the cost of the
        # pattern detector, of the entity steps) compare runs of the same minutes on a shared machine.
        p1_drains = {} if plan.p1_from_latency_job else {1: ("p=1", cfg)}
        if plan.diagnostics:
            p1_drains["p1_without_patterns"] = (
                "p=1, pattern detector off",
                dataclasses.replace(cfg, patterns=dataclasses.replace(cfg.patterns, enabled=False)),
            )
            p1_drains["p1_without_entities"] = (
                "p=1, entity steps off",
                dataclasses.replace(cfg, entities=dataclasses.replace(cfg.entities, enabled=False)),
            )
        runs = interleaved_throughput(
            {
                key: (
                    label,
                    functools.partial(
                        job_throughput,
                        run_cfg,
                        plan.throughput_events,
                        plan.throughput_users,
                        1,
                        out_dir,
                        progress=progress,
                    ),
                )
                for key, (label, run_cfg) in p1_drains.items()
            },
            plan.repeats,
            progress,
        )
        runs[2] = drained(cfg, 2)
        floors = {}
        if plan.diagnostics:
            progress("  the pipeline floor: the job's shape in PyFlink with the detection taken out, p=1")
            floors = {
                name: drained(cfg, 1, job=floor_job, events=plan.floor_backlog)
                for name, floor_job in PIPELINE_FLOORS.items()
            }
            if plan.profile_seconds:  # a run of its own: sampling slows the job it watches
                progress("  once more at p=1, profiled")
                runs["p1_profiled"] = job_throughput(
                    cfg,
                    plan.throughput_events,
                    plan.throughput_users,
                    1,
                    out_dir,
                    progress=progress,
                    profile_seconds=plan.profile_seconds,
                )
        progress(
            "5/6 end-to-end latency at fixed offered loads, in one job warmed up by a drain"
            + (" (the p=1 figure)" if plan.p1_from_latency_job else "")
        )
        latency_job = job_latency(
            cfg,
            [*plan.lighter_loads_eps, plan.latency_offered_eps],
            plan.latency_seconds,
            plan.throughput_users,
            out_dir,
            warm_up_events=plan.throughput_events,
            progress=progress,
        )
        if plan.p1_from_latency_job:
            runs[1] = {**latency_job["warm_up"], "runs_eps": [latency_job["warm_up"]["eps"]]}
        progress("6/6 scaling with the number of users, and on session clusters")
        scaling = [
            job_throughput(cfg, max(users, plan.throughput_events), users, 2, out_dir, progress=progress)
            for users in plan.scaling_users
        ]
        clusters = [
            repeated_throughput(
                functools.partial(
                    cluster_throughput,
                    cfg,
                    plan.throughput_events,
                    plan.throughput_users,
                    taskmanagers,
                    slots,
                    2,
                    out_dir,
                    progress=progress,
                ),
                plan.repeats,
                progress,
            )
            for taskmanagers, slots in plan.cluster_layouts
        ]
        cluster_floor = None
        if plan.cluster_layouts:  # the floor on the layout that gives each thread-mode operator its own interpreter
            progress("  the pipeline floor on a session cluster of 2 TaskManagers x 1 slot, p=2")
            cluster_floor = repeated_throughput(
                lambda: cluster_throughput(
                    cfg,
                    plan.floor_backlog,
                    plan.throughput_users,
                    2,
                    1,
                    2,
                    out_dir,
                    progress=progress,
                    job=PIPELINE_FLOORS["with_pandas_step"],
                ),
                plan.repeats,
                progress,
            )
    measured = BenchMeasurements(
        runs=runs,
        floors=floors,
        latency_job=latency_job,
        onnx_eps=onnx_eps,
        plain_runs=plain_runs,
        state=state,
        stages=stages,
        scaling=scaling,
        clusters=clusters,
        cluster_floor=cluster_floor,
    )
    figures = _figures(plan, cfg, ensemble, matcher, measured)
    _write_report(figures, stages["profile"], out_dir)
    return figures


def interleaved_throughput(measures: dict, times: int, progress: Callable[[str], None] = print) -> dict:
    """``times`` rounds of the throughput runs in ``measures`` (key: (label, measure)), one run of each per round:
    each key's :func:`~shopguard.bench.job.repeated_throughput` figures, from runs spread over the same minutes.

    >>> rates = iter([1000.0, 1200.0, 900.0, 1100.0, 1300.0, 950.0])
    >>> def measure():
    ...     return {"eps": next(rates), "peak_memory_mb": 1.0}
    >>> runs = interleaved_throughput({1: ("with", measure), "off": ("without", measure)}, 3, progress=print)
    round 1 of 3: with
    round 1 of 3: without
    round 2 of 3: with
    round 2 of 3: without
    round 3 of 3: with
    round 3 of 3: without
    >>> runs[1]["eps"], runs[1]["runs_eps"], runs["off"]["eps"], runs["off"]["runs_eps"]
    (1000.0, [1000.0, 900.0, 1300.0], 1100.0, [1200.0, 1100.0, 950.0])
    """
    rounds = max(times, 1)
    each = {key: [] for key in measures}
    for attempt in range(rounds):
        for key, (label, measure) in measures.items():
            progress(f"  round {attempt + 1} of {rounds}: {label}")
            each[key].append(measure())
    return {
        key: repeated_throughput(iter(done).__next__, rounds, progress=lambda line: None) for key, done in each.items()
    }


@dataclass(frozen=True)
class BenchMeasurements:
    """What one run measured, before it becomes figures (:func:`_figures`)."""

    # job drains: 1 and 2 (parallelism), "p1_without_patterns", "p1_without_entities", "p1_profiled" when the plan
    # ran them
    runs: dict
    floors: dict  # pipeline-floor drains by PIPELINE_FLOORS name (empty without diagnostics)
    latency_job: dict  # job_latency(): "warm_up" drain and one entry per offered load, the main load last
    onnx_eps: float
    plain_runs: dict  # repeated_throughput() of the plain consumer
    state: dict  # state_bytes_per_user()
    stages: dict  # stage_costs()
    scaling: list  # one p=2 drain per plan.scaling_users
    clusters: list  # one repeated_throughput() per plan.cluster_layouts
    cluster_floor: dict | None  # the floor on a 2 x 1 session cluster, when the plan has cluster layouts


def _figures(
    plan: BenchPlan, cfg: ShopguardConfig, ensemble: DetectorEnsemble, matcher, measured: BenchMeasurements
) -> dict:
    """Every figure of a run, as ``bench.json`` has them; a diagnostic the plan skipped is ``None``."""
    runs, floors, onnx_eps, plain_runs = measured.runs, measured.floors, measured.onnx_eps, measured.plain_runs
    state, stages, scaling, clusters = measured.state, measured.stages, measured.scaling, measured.clusters
    *lighter, latency = measured.latency_job["loads"]
    plain = plain_runs["eps"]
    model = ensemble.model
    without = runs.get("p1_without_patterns")
    without_entities = runs.get("p1_without_entities")
    floor, keyed_floor = floors.get("with_pandas_step"), floors.get("keyed_step_only")
    ratios = {
        "job_p1_vs_onnx_only": runs[1]["eps"] / onnx_eps,
        "job_p2_vs_onnx_only": runs[2]["eps"] / onnx_eps,
        "job_p2_vs_plain_consumer": runs[2]["eps"] / plain,
        "job_p2_vs_p1": runs[2]["eps"] / runs[1]["eps"],
        # the floor's share of the job's per-event time, what PyFlink costs whatever shopguard does; None when
        # the plan skipped the floor (--quick), so that every plan's JSON has the key
        "job_p1_vs_floor_p1": runs[1]["eps"] / floor["eps"] if floor else None,
    }
    if without:  # per-event cost added by online pattern matching: (1/eps_with - 1/eps_without) / (1/eps_without)
        ratios["pattern_matching_added_cost_p1"] = without["eps"] / runs[1]["eps"] - 1
    if without_entities:  # the same for the entity steps (device, IP, rings, items)
        ratios["entity_steps_added_cost_p1"] = without_entities["eps"] / runs[1]["eps"] - 1
    if clusters:
        ratios["best_session_cluster_p2_vs_plain_consumer"] = max(r["eps"] for r in clusters) / plain
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "plan_caveat": plan.caveat,
        "model_version": model.card.model_version,
        "history_length": cfg.job.history_length,
        "detectors": list(ensemble.detectors),
        "pattern_store": matcher is not None,
        "job_eps_p1": runs[1]["eps"],
        "job_eps_p2": runs[2]["eps"],
        "job_eps_p1_measured_by": (
            "the latency job's warm-up drain (at-least-once sinks, per-event scores written)"
            if plan.p1_from_latency_job
            else "drains of its own (exactly-once sinks)"
        ),
        "job_eps_p1_without_patterns": without["eps"] if without else None,
        "job_eps_p1_without_entities": without_entities["eps"] if without_entities else None,
        # the decision load: decided rows (crossings of a threshold or a rule's) per event, in the median drain
        "crossing_share_p1": runs[1].get("crossing_share"),
        "crossing_share_p2": runs[2].get("crossing_share"),
        # CPU µs per event of the user step's own function (Python and its calls into Java), in the median drain
        "user_step_cpu_us_p1": runs[1].get("user_step_cpu_us"),
        "user_step_cpu_us_p2": runs[2].get("user_step_cpu_us"),
        "job_peak_memory_mb_p1": runs[1]["peak_memory_mb"],
        "job_peak_memory_mb_p2": runs[2]["peak_memory_mb"],
        "offered_eps": latency["offered_eps"],
        "latency_p50_ms": latency["latency_p50_ms"],
        "latency_p95_ms": latency["latency_p95_ms"],
        "latency_p99_ms": latency["latency_p99_ms"],
        "onnx_only_eps": onnx_eps,
        "plain_consumer_eps": plain,
        "latency_job_warm_up_eps_p1": measured.latency_job["warm_up"]["eps"],
        "floor_eps_p1": floor["eps"] if floor else None,
        "floor_keyed_only_eps_p1": keyed_floor["eps"] if keyed_floor else None,
        "throughput_runs": {
            key: run["runs_eps"]
            for key, run in (
                ("job_eps_p1", runs[1]),
                ("job_eps_p2", runs[2]),
                ("job_eps_p1_without_patterns", without),
                ("job_eps_p1_without_entities", without_entities),
                ("floor_eps_p1", floor),
                ("floor_keyed_only_eps_p1", keyed_floor),
                ("plain_consumer_eps", plain_runs),
            )
            if run
        },
        "state_bytes_per_user": state["mean"],
        "state_bytes_per_user_max": state["max"],
        "latency_scored_events": latency["scored"],
        "latency_shoppers": latency["shoppers"],
        "latency_at_lighter_loads": [
            {k: run[k] for k in ("offered_eps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")}
            for run in lighter
        ],
        "latency_over_time": [
            {"offered_eps": run["offered_eps"], "points": run["over_time"]} for run in [latency, *lighter]
        ],
        "stage_us_per_event": stages["us_per_event"],
        "job_profile_p1": runs["p1_profiled"]["profile"] if "p1_profiled" in runs else None,
        "job_eps_p1_while_profiled": runs["p1_profiled"]["eps"] if "p1_profiled" in runs else None,
        "ratios": ratios,
        "scaling": scaling,
        "session_cluster_p2": clusters,
        "floor_session_cluster_p2": measured.cluster_floor,
    }


def _plain_consumer(cfg: ShopguardConfig, events, ensemble: DetectorEnsemble, matcher) -> float:
    topic_cfg = dataclasses.replace(
        cfg, topics=dataclasses.replace(cfg.topics, events=f"bench-plain-{uuid.uuid4().hex[:8]}")
    )
    with private_topics(topic_cfg, names=[topic_cfg.topics.events]):
        send_records(topic_cfg, topic_cfg.topics.events, as_records(events))
        return plain_consumer_eps(topic_cfg, topic_cfg.topics.events, len(events), ensemble, matcher)


def crossing_lines(figures: dict) -> list[str]:
    """The decision load of the drains, in words (absent when no drain measured it).

    >>> crossing_lines({"crossing_share_p1": 0.0083, "crossing_share_p2": None})
    ['Events that crossed a threshold and reached the decision step: 0.83% at p=1.', '']
    """
    shares = [f"{figures[f'crossing_share_p{p}']:.2%} at p={p}" for p in (1, 2) if figures.get(f"crossing_share_p{p}")]
    return (
        [f"Events that crossed a threshold and reached the decision step: {', '.join(shares)}.", ""] if shares else []
    )


def user_step_lines(figures: dict) -> list[str]:
    """What the user step's own function costs per event in the drains, in words (absent when not measured).

    >>> line, _ = user_step_lines({"user_step_cpu_us_p1": 97.04, "user_step_cpu_us_p2": None, "job_eps_p1": 4000.0})
    >>> "97 µs of CPU per event at p=1, of the 250 µs each of its user steps has per event there" in line
    True
    >>> line, _ = user_step_lines({"user_step_cpu_us_p2": 140.4, "job_eps_p2": 1600.0})
    >>> "140 µs of CPU per event at p=2, of the 1,250 µs each of its user steps has per event there" in line
    True
    >>> user_step_lines({"user_step_cpu_us_p1": None, "job_eps_p1": 4000.0})
    []
    """
    parts = [  # each of p user steps has p / eps seconds per event of its own at a drain rate of eps
        f"{figures[f'user_step_cpu_us_p{p}']:.0f} µs of CPU per event at p={p}, of the "
        f"{p * 1e6 / figures[f'job_eps_p{p}']:,.0f} µs each of its user steps has per event there"
        for p in (1, 2)
        if figures.get(f"user_step_cpu_us_p{p}") and figures.get(f"job_eps_p{p}")
    ]
    if not parts:
        return []
    return [
        "The user step's own function (its Python and its calls into Java) used "
        + "; ".join(parts)
        + "; the rest of its thread's time is PyFlink's and Flink's work, and waits (for the interpreter lock, or a"
        " core).",
        "",
    ]


def _write_report(figures: dict, profile: str, out_dir: Path) -> None:
    (out_dir / "bench.json").write_text(json.dumps(figures, indent=1) + "\n")
    _plot(figures, out_dir / "bench.png")
    plot_latency_over_time(figures["latency_over_time"], out_dir / "latency.png")
    lines = [
        f"# shopguard benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {figures['machine']['cpus']} CPUs, {figures['machine']['platform']}; model "
        f"{figures['model_version']}, L={figures['history_length']}, detectors {', '.join(figures['detectors'])}"
        f" (pattern store: {'yes' if figures['pattern_store'] else 'no, the pattern detector was idle'}).",
        "",
        *([f"**{figures['plan_caveat']}**", ""] if figures.get("plan_caveat") else []),
        *throughput_table(figures),
        *floor_paragraph(figures),
        *latency_lines(figures),
        *crossing_lines(figures),
        *user_step_lines(figures),
        *added_cost_table(figures),
        f"State per active user: {figures['state_bytes_per_user']:.0f} bytes on average "
        f"(max {figures['state_bytes_per_user_max']}).",
        "",
        "| ratio | value |",
        "|---|---|",
        *[f"| {k} | {'not measured' if v is None else f'{v:.3f}'} |" for k, v in figures["ratios"].items()],
        "",
        "| stage (one Python process) | µs per event |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in figures["stage_us_per_event"].items()],
        "",
    ]
    if figures["session_cluster_p2"]:
        lines += [
            "Session cluster (`shopguard cluster`), parallelism 2:",
            "",
            "| TaskManagers x slots | events/s (median) | every run |",
            "|---|---|---|",
            *[
                f"| {r['taskmanagers']} x {r['slots_per_taskmanager']} | {r['eps']:,.0f} "
                f"| {_runs_text(r['runs_eps'])} |"
                for r in figures["session_cluster_p2"]
            ],
        ]
        floor = figures.get("floor_session_cluster_p2")
        if floor:
            lines.append(
                f"| pipeline floor, {floor['taskmanagers']} x {floor['slots_per_taskmanager']} | "
                f"{floor['eps']:,.0f} | {_runs_text(floor['runs_eps'])} |"
            )
        lines.append("")
    if figures["scaling"]:
        lines += [
            "| users | events | events/s (p=2) | peak memory MB |",
            "|---|---|---|---|",
            *[
                f"| {r['users']:,} | {r['events']:,} | {r['eps']:,.0f} | {r['peak_memory_mb']:.0f} |"
                for r in figures["scaling"]
            ],
            "",
        ]
    lines += [
        "![throughput](bench.png)",
        "",
        "![latency over time](latency.png)",
        "",
        *job_profile_markdown(figures["job_profile_p1"]),
        "Profile of parse + state update in one process (cProfile, cumulative):",
        "",
        "```",
        profile.strip(),
        "```",
        "",
    ]
    (out_dir / "bench.md").write_text("\n".join(lines))


THROUGHPUT_ROWS = (
    ("full job, parallelism 1", "job_eps_p1"),
    ("full job, parallelism 2", "job_eps_p2"),
    ("full job, parallelism 1, pattern detector off", "job_eps_p1_without_patterns"),
    ("full job, parallelism 1, entity steps off", "job_eps_p1_without_entities"),
    ("pipeline floor, parallelism 1: the job's shape, no detection", "floor_eps_p1"),
    ("pipeline floor without the pandas step, parallelism 1", "floor_keyed_only_eps_p1"),
    ("plain kafka-python consumer", "plain_consumer_eps"),
    ("onnxruntime alone (pre-encoded, best of 3)", "onnx_only_eps"),
)


def throughput_table(figures: dict) -> list[str]:
    """The throughput table: every figure the plan measured, and a line on the diagnostics it skipped.

    >>> figures = {"job_eps_p1": 1500.0, "job_eps_p2": 1800.0, "job_eps_p1_without_patterns": None,
    ...            "floor_eps_p1": None, "floor_keyed_only_eps_p1": None, "plain_consumer_eps": 3000.0,
    ...            "onnx_only_eps": 20000.0, "throughput_runs": {"job_eps_p2": [1700.0, 1800.0, 1900.0]},
    ...            "job_eps_p1_measured_by": "the latency job's warm-up drain"}
    >>> for line in throughput_table(figures):
    ...     print(line)
    | pipeline | events/s (median) | every run |
    |---|---|---|
    | full job, parallelism 1 | 1,500 | — |
    | full job, parallelism 2 | 1,800 | 1,700 / 1,800 / 1,900 |
    | plain kafka-python consumer | 3,000 | — |
    | onnxruntime alone (pre-encoded, best of 3) | 20,000 | — |
    <BLANKLINE>
    The p=1 figure is the latency job's warm-up drain. Not measured in this plan (`--quick`): full job,
    parallelism 1, pattern detector off; full job, parallelism 1, entity steps off; pipeline floor,
    parallelism 1: the job's shape, no detection; pipeline floor without the pandas step, parallelism 1.
    <BLANKLINE>
    """
    runs = figures["throughput_runs"]
    measured = [(name, key) for name, key in THROUGHPUT_ROWS if figures.get(key) is not None]
    skipped = [name for name, key in THROUGHPUT_ROWS if figures.get(key) is None]
    lines = [
        "| pipeline | events/s (median) | every run |",
        "|---|---|---|",
        *[f"| {name} | {figures[key]:,.0f} | {_runs_text(runs.get(key, []))} |" for name, key in measured],
        "",
    ]
    notes = (
        [f"The p=1 figure is {figures['job_eps_p1_measured_by']}."]
        if "latency" in figures.get("job_eps_p1_measured_by", "")
        else []
    )
    if skipped:
        notes.append(f"Not measured in this plan (`--quick`): {'; '.join(skipped)}.")
    return lines + ([" ".join(notes), ""] if notes else [])


# What a step the job can run without adds to its time per event at p=1, against its target: (step, ratio key,
# the figure of the drains without it, the most it may add).
ADDED_COST_TARGETS = (
    ("pattern detector", "pattern_matching_added_cost_p1", "job_eps_p1_without_patterns", 0.20),
    ("entity steps (device, IP, item)", "entity_steps_added_cost_p1", "job_eps_p1_without_entities", 0.25),
)


def added_cost_table(figures: dict) -> list[str]:
    """The cost of each step the plan switched off (its p=1 drains with and without it), against its target.

    >>> figures = {"job_eps_p1": 1000.0, "job_eps_p1_without_patterns": 1100.0, "job_eps_p1_without_entities": 1400.0,
    ...            "ratios": {"pattern_matching_added_cost_p1": 0.1, "entity_steps_added_cost_p1": 0.4},
    ...            "throughput_runs": {"job_eps_p1_without_entities": [1300.0, 1400.0, 1450.0]}}
    >>> for line in added_cost_table(figures):
    ...     print(line)
    | added per event at p=1 by | events/s without it (median) | every run | added cost | target | |
    |---|---|---|---|---|---|
    | pattern detector | 1,100 | — | 10.0% | ≤ 20% | met |
    | entity steps (device, IP, item) | 1,400 | 1,300 / 1,400 / 1,450 | 40.0% | ≤ 25% | **not met** |
    <BLANKLINE>
    >>> added_cost_table({"job_eps_p1": 1000.0, "ratios": {}, "throughput_runs": {}})
    []
    """
    rows = [
        (step, figures["ratios"][ratio], key, target)
        for step, ratio, key, target in ADDED_COST_TARGETS
        if figures["ratios"].get(ratio) is not None
    ]
    if not rows:
        return []
    return [
        "| added per event at p=1 by | events/s without it (median) | every run | added cost | target | |",
        "|---|---|---|---|---|---|",
        *[
            f"| {step} | {figures[key]:,.0f} | {_runs_text(figures['throughput_runs'].get(key, []))} | {cost:.1%} "
            f"| ≤ {target:.0%} | {'met' if cost <= target else '**not met**'} |"
            for step, cost, key, target in rows
        ],
        "",
    ]


def latency_lines(figures: dict) -> list[str]:
    """The latency paragraph: the main offered load, then the lighter ones."""
    lines = [
        f"Latency at {figures['offered_eps']:,.0f} events/s offered by {figures['latency_shoppers']:,} shoppers "
        f"(at-least-once sinks, a job warmed up by a drain of its own at "
        f"{figures['latency_job_warm_up_eps_p1']:,.0f} events/s): "
        f"p50 {figures['latency_p50_ms']:.0f} ms, p95 {figures['latency_p95_ms']:.0f} ms, "
        f"p99 {figures['latency_p99_ms']:.0f} ms.",
        "",
    ]
    if figures["latency_at_lighter_loads"]:
        lines += [
            "At lighter loads: "
            + "; ".join(
                f"{run['offered_eps']:,.0f} events/s: p50 {run['latency_p50_ms']:.0f} ms, "
                f"p99 {run['latency_p99_ms']:.0f} ms"
                for run in figures["latency_at_lighter_loads"]
            )
            + ".",
            "",
        ]
    return lines


def floor_paragraph(figures: dict) -> list[str]:
    """What the pipeline floor says about the job: per-event time that is PyFlink's, and shopguard's.

    >>> print(floor_paragraph({"job_eps_p1": 1000.0, "floor_eps_p1": 5000.0, "floor_keyed_only_eps_p1": 8000.0})[0])
    The pipeline floor (the job's graph in PyFlink, every step doing the least it can) drains 5,000
    events/s at p=1, 8,000 without the pandas step: no job of this shape goes faster on this machine.
    The job takes 1,000 µs per event at p=1: 200 µs are the floor's, 800 µs its own work (parsing,
    state, patterns, two LSTMs, decision) and the wider rows it moves.
    >>> floor_paragraph({"job_eps_p1": 1000.0, "floor_eps_p1": None, "floor_keyed_only_eps_p1": None})
    []
    """
    if not figures.get("floor_eps_p1"):
        return []
    job_us, floor_us = 1e6 / figures["job_eps_p1"], 1e6 / figures["floor_eps_p1"]
    return [
        f"The pipeline floor (the job's graph in PyFlink, every step doing the least it can) drains "
        f"{figures['floor_eps_p1']:,.0f} events/s at p=1, {figures['floor_keyed_only_eps_p1']:,.0f} without the "
        f"pandas step: no job of this shape goes faster on this machine. The job takes {job_us:,.0f} µs per "
        f"event at p=1: {floor_us:,.0f} µs are the floor's, {job_us - floor_us:,.0f} µs its own work (parsing, "
        "state, patterns, two LSTMs, decision) and the wider rows it moves.",
        "",
    ]


def _runs_text(runs: list[float]) -> str:
    """Every run's events/s, for the report: ``"1,523 / 1,615 / 1,559"``, or "—" for a single figure."""
    return " / ".join(f"{eps:,.0f}" for eps in runs) if len(runs) > 1 else "—"


def job_profile_markdown(profile: dict | None) -> list[str]:
    """The section on where the running job's time went (p=1 drain), or why it is missing."""
    if not profile:
        return []
    window = profile["window_s"]
    lines = [
        f"## Inside the job (parallelism 1, {window:.0f} s of the drain of a separate, profiled run)",
        "",
        "| process | CPU cores busy |",
        "|---|---|",
        *[
            f"| {role} | {seconds / window:.2f} |"
            for role, seconds in sorted(profile["cpu_seconds_by_process"].items(), key=lambda kv: -kv[1])
        ],
        "",
        "| busiest threads | CPU cores busy |",
        "|---|---|",
        *[f"| {thread} | {seconds / window:.2f} |" for thread, seconds in profile["cpu_seconds_by_thread"].items()],
        "",
    ]
    if profile.get("flink_task_time"):
        lines += [
            "Flink's own view of each task's time (busy includes time blocked inside an operator):",
            "",
            "| task | busy | back-pressured | idle |",
            "|---|---|---|---|",
            *[
                f"| {task} | {t.get('busy', 0):.0%} | {t.get('backPressured', 0):.0%} | {t.get('idle', 0):.0%} |"
                for task, t in profile["flink_task_time"].items()
            ],
            "",
        ]
    threads = profile.get("task_threads") or {}
    if threads.get("share_by_task_state"):
        lines += [
            f"What the task threads were doing ({threads['dumps']} `jstack` dumps):",
            "",
            "| task: state | share of dumps |",
            "|---|---|",
            *[f"| {state} | {share:.0%} |" for state, share in threads["share_by_task_state"].items()],
            "",
        ]
    elif threads.get("problem"):
        lines += [f"No thread states: {threads['problem']}.", ""]
    lines += bottleneck_summary(profile)
    if profile["problem"]:
        return lines + [f"No Python profile: {profile['problem']}.", ""]
    lines += [
        f"Python samples (py-spy, {profile['samples']:,} samples of running Python threads), by stage; "
        "`runtime: …` is Python time outside shopguard's code (moving rows between the JVM and Python):",
        "",
        "| stage | share of Python samples |",
        "|---|---|",
        *[f"| {stage} | {share:.1%} |" for stage, share in profile["share_by_stage"].items()],
        "",
        "| process | share of Python samples |",
        "|---|---|",
        *[f"| {role} | {share:.1%} |" for role, share in profile["share_by_process"].items()],
        "",
        "Hottest shopguard frames (innermost shopguard line on the stack):",
        "",
        *[f"- {share:.1%} `{frame}`" for frame, share in profile["hottest_lines"]],
        "",
    ]
    return lines


def bottleneck_summary(profile: dict) -> list[str]:
    """One paragraph naming the busiest task and what its thread spent the time on.

    >>> print(bottleneck_summary({"flink_task_time": {"a": {"busy": 0.3}, "keyed": {"busy": 1.0}},
    ...                           "task_threads": {"share_by_task_state": {"keyed: in Python": 0.7,
    ...                                                                    "keyed: waiting": 0.3}}})[0])
    **Bottleneck:** keyed (busy 100% of the time by Flink's count); its thread: 70% in Python, 30% waiting.
    """
    tasks = profile.get("flink_task_time") or {}
    if not tasks:
        return []
    task, times = max(tasks.items(), key=lambda kv: kv[1].get("busy", 0.0))
    states = {
        key.split(": ", 1)[1]: share
        for key, share in ((profile.get("task_threads") or {}).get("share_by_task_state") or {}).items()
        if key.startswith(f"{task}: ")
    }
    doing = ", ".join(f"{share:.0%} {state}" for state, share in sorted(states.items(), key=lambda kv: -kv[1]))
    return [
        f"**Bottleneck:** {task} (busy {times.get('busy', 0.0):.0%} of the time by Flink's count)"
        + (f"; its thread: {doing}." if doing else ".")
        + _on_cpu_while_busy(task, times.get("busy", 0.0), profile, any("Python" in state for state in states)),
        "",
    ]


def _on_cpu_while_busy(task: str, busy: float, profile: dict, runs_python: bool) -> str:
    """The sentence on how much of ``task``'s busy time its thread spent on a CPU ("" when it cannot be told);
    ``runs_python``: the thread was seen running thread-mode Python, whose steps share one interpreter lock.

    >>> profile = {"window_s": 40.0, "cpu_seconds_by_thread": {"JVM: keyed": 21.6}}
    >>> print(_on_cpu_while_busy("keyed", 0.9, profile, True)[:60])
     On a CPU for 60% of that busy time (CPU seconds of its thre
    >>> "interpreter lock" in _on_cpu_while_busy("keyed", 0.9, profile, False)
    False
    >>> _on_cpu_while_busy("keyed", 0.9, {"window_s": 40.0, "cpu_seconds_by_thread": {}}, True)
    ''
    """
    seconds = task_thread_seconds(task, profile.get("cpu_seconds_by_thread") or {})
    window = profile.get("window_s") or 0.0
    if seconds is None or busy <= 0 or window <= 0:
        return ""
    waits = (
        "for the interpreter lock the job's other thread-mode Python steps share, or for a core"
        if runs_python
        else "for a lock, for I/O or for a core"
    )
    return (
        f" On a CPU for {min(1.0, seconds / (busy * window)):.0%} of that busy time (CPU seconds of its thread):"
        f" the rest it waited inside the step, {waits}."
    )


def plot_latency_over_time(runs: list[dict], path: Path) -> None:
    """Latency of every scored event against time, one panel per offered load (log scale)."""
    if not can_plot():  # the job's install has no matplotlib: the table says it all
        return
    with saved_plot(path, (8, 2.4 * len(runs)), dpi=100, nrows=len(runs), sharex=True, squeeze=False) as (_, axes):
        for ax, run in zip(axes[:, 0], runs):
            points = run["points"]
            ax.scatter([p[0] for p in points], [max(p[1], 1.0) for p in points], s=3)
            ax.axhline(250, color="grey", linestyle="--", linewidth=1)
            ax.set_yscale("log")
            ax.set_ylabel("ms")
            ax.set_title(f"{run['offered_eps']:,.0f} events/s offered (dashed: the 250 ms target)", fontsize=9)
        axes[-1, 0].set_xlabel("seconds since the offer began")


def _plot(figures: dict, path: Path) -> None:
    if not can_plot():  # the job's install has no matplotlib: the table says it all
        return
    import matplotlib.ticker

    bars = (
        ("job p=1", "job_eps_p1", "#4c72b0"),
        ("job p=2", "job_eps_p2", "#4c72b0"),
        ("floor p=1 (no detection)", "floor_eps_p1", "#8172b3"),
        ("plain consumer", "plain_consumer_eps", "#dd8452"),
        ("onnx alone", "onnx_only_eps", "#55a868"),
    )
    bars = tuple(bar for bar in bars if figures.get(bar[1]) is not None)  # a diagnostic the plan skipped: no bar
    runs = figures["throughput_runs"]
    with saved_plot(path, figsize=(7, 3.8), dpi=110) as (_, ax):
        ax.barh([name for name, _, _ in bars], [figures[key] for _, key, _ in bars], color=[c for _, _, c in bars])
        for row, (_, key, _) in enumerate(bars):  # each run beside its median
            if key in runs:
                ax.plot(runs[key], [row] * len(runs[key]), "k.", markersize=5, label="one run" if row == 0 else None)
        ax.axvline(20_000, color="grey", linestyle="--", label="target 20k events/s")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # 2x10^3, 3x10^3... overlapped
        ax.set_xlabel("events per second (log scale)")
        ax.legend(loc="lower right")
