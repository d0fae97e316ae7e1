"""The real job under load: sustained throughput from a pre-loaded topic, and end-to-end latency.

Throughput: the events topic is filled first, then the job starts on it; the rate is the slope of the
job's ``events_to_score`` counter between 10% and 90% of the backlog (start-up and the tail do not
count). Latency: one job drains a backlog first, to warm up (Python workers, JIT compiler); then a
producer offers each fixed rate of events in turn, stamped with their send time, and a consumer of the
scores topic takes receive time minus that stamp, per event, until every offered event is scored (at
most :data:`LATENCY_TAIL_S` after the offer). Sinks run at-least-once for the latency run, so the
figure is the job's own; with exactly-once, consumers also wait for the next checkpoint
(``job.checkpoint_interval_ms``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from shopguard.bench.profile import JobProfiler, broker_pids, descendants
from shopguard.bench.workload import as_records, bench_events
from shopguard.config import ShopguardConfig
from shopguard.local.alert_feed import open_consumer
from shopguard.local.job_process import DETECT_JOB_MODULE, RunningJob, isolated_job_config
from shopguard.local.producer import open_producer, send_records
from shopguard.local.topics import TopicError, configured_topics, delete_topics, ensure_topics
from shopguard.udfs.events import Event

LATENCY_TAIL_S = 120  # after the offer, how long the latency run waits for the last scores
WARM_UP_SEED, OFFER_SEED = 5, 11  # event ids of the latency job's backlog and of its offers (n-th offer: 11 + n)
SHOPPER_EVENT_GAP_S = 20.0
"""How often one shopper of a live offer acts: brisk for a human shopper (the Taobao slice's users are far
slower), yet a human pace, so that an offer of N events/s spreads over 20 N shoppers; a few thousand
shoppers at hundreds of events/s would each act every few seconds, a pace the detectors rightly call a bot."""
DETECTION_JOB = (DETECT_JOB_MODULE,)
PIPELINE_FLOORS = {
    "with_pandas_step": ("shopguard.bench.pipeline_floor_job",),
    "keyed_step_only": ("shopguard.bench.pipeline_floor_job", "--without-pandas-step"),
}
"""The detection job's shape with the detection taken out (:mod:`shopguard.bench.pipeline_floor`): what
PyFlink alone allows on this machine, with and without the pandas step."""


def _job_name(job: tuple[str, ...]) -> str:
    """A job tuple (module, arguments...) in a progress line.

    >>> _job_name(PIPELINE_FLOORS["keyed_step_only"])
    'pipeline_floor_job --without-pandas-step'
    """
    module, *arguments = job
    return " ".join((module.rsplit(".", 1)[-1], *arguments))


def bench_config(
    cfg: ShopguardConfig, parallelism: int, workdir: Path, with_scores: bool = False, **job_changes
) -> tuple[ShopguardConfig, tuple[int, int]]:
    """A private job (topics, group, empty registry, ports) at ``parallelism``, checkpointing as ``cfg`` says."""
    return isolated_job_config(
        cfg,
        "bench",
        workdir / "empty-registry",
        with_scores=with_scores,
        parallelism=parallelism,
        checkpoint_interval_ms=cfg.job.checkpoint_interval_ms,
        **job_changes,
    )


@contextlib.contextmanager
def private_topics(run_cfg: ShopguardConfig, progress=print, names: list[str] | None = None) -> Iterator[None]:
    """A run's own topics, created on entry and deleted on exit: ``names``, or all of ``run_cfg``'s.

    ``run_cfg`` names only private topics when it comes from :func:`bench_config`; otherwise give
    ``names``. Left behind, every run's topics stay on the broker's disk and in what it loads at
    start-up. A deletion that fails is reported, not raised: it must not hide the run's own error.
    """
    names = names or configured_topics(run_cfg)
    ensure_topics(run_cfg, names)
    try:
        yield
    finally:
        try:
            delete_topics(run_cfg, names)
        except TopicError as error:
            progress(f"  warning: the run's topics stay on the broker: {error}")


def _job_memory_mb(job: RunningJob) -> float:
    """Resident memory of the job's whole process tree (client, JVM, Python workers), in MB."""
    total_kb = 0
    for pid in descendants(job.process.pid):
        try:
            total_kb += int(
                next(
                    line.split()[1]
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmRSS:")
                )
            )
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return total_kb / 1024


def until_drained(
    events: int,
    scored: Callable[[], float | None],
    timeout_s: float,
    interval_s: float,
    logs: Path,
    each: Callable[[float], None] = lambda done: None,
) -> list[tuple[float, float]]:
    """``(time, events scored)`` samples until ``events`` are scored; ``each`` sees every reading.

    A reading of ``None`` (no reporter had the counter: one that did not answer in time, or a task not
    running yet) is no sample, nor is one below the last (a cluster's total while one of its
    TaskManagers did not answer; the counter itself only grows). Read as 0, a missed scrape made the
    next reading look like the whole backlog drained in one interval, a rate many times the true one.

    >>> readings = iter([0.0, None, 40.0, 20.0, None, 100.0])
    >>> [done for _, done in until_drained(100, lambda: next(readings), 5.0, 0.0, Path("job.log"))]
    [0.0, 40.0, 100.0]
    """
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = scored()
        if done is not None and (not samples or done >= samples[-1][1]):
            samples.append((time.monotonic(), done))
            each(done)
            if done >= events:
                return samples
        time.sleep(interval_s)
    last = f"{samples[-1][1]:.0f}" if samples else "no readable count"
    raise RuntimeError(f"the job scored {last} of {events} events in {timeout_s} s (logs: {logs})")


def job_throughput(
    cfg: ShopguardConfig,
    events: int,
    users: int,
    parallelism: int,
    workdir: Path,
    timeout_s: float = 900,
    progress=print,
    profile_seconds: float = 0.0,
    job: tuple[str, ...] = DETECTION_JOB,
) -> dict:
    """Sustained events/s of the full job draining a backlog of ``events`` over ``users`` users.

    With ``profile_seconds``, the job is also profiled (:mod:`shopguard.bench.profile`) for that long
    from when a tenth of the backlog is scored; the summary is under ``profile``. ``job`` is the
    module to run and its arguments: the detection job, or one of the :data:`PIPELINE_FLOORS`.
    """
    module, *arguments = job
    run_cfg, ports = bench_config(cfg, parallelism, workdir)
    with private_topics(run_cfg, progress):
        send_records(run_cfg, run_cfg.topics.events, as_records(bench_events(events, users)))
        progress(
            f"  backlog of {events:,} events over {users:,} users loaded; starting {_job_name(job)} "
            f"at parallelism {parallelism}"
        )
        job = RunningJob(
            run_cfg, workdir / f"{run_cfg.job.job_name}.log", ports=ports, module=module, arguments=tuple(arguments)
        ).start()
        peak_memory, profiler, readings = 0.0, None, 0

        def watch(done: float) -> None:
            nonlocal peak_memory, profiler, readings
            readings += 1
            peak_memory = max(peak_memory, _job_memory_mb(job))
            if profiler is not None and readings % 4 == 0:
                profiler.observe_tasks(job.task_time_shares())
            if profile_seconds and profiler is None and done >= 0.1 * events:
                progress(f"  profiling the job for {profile_seconds:.0f} s (py-spy, CPU per process)")
                profiler = JobProfiler(
                    job.process.pid, profile_seconds, workdir / f"{run_cfg.job.job_name}.pyspy.txt", broker_pids()
                ).start()

        try:
            samples = until_drained(
                events, lambda: job.metrics().get("events_to_score"), timeout_s, 0.25, job.log_path, watch
            )
            profile = profiler.finish() if profiler else None
            settled = _settled_metrics(job) if module == DETECT_JOB_MODULE else None
        finally:
            job.stop()
        return {
            "eps": steady_rate(samples, events),
            "crossing_share": crossings_of(settled) / events if settled is not None else None,
            "user_step_cpu_us": user_step_cpu_us(settled) if settled is not None else None,
            "peak_memory_mb": round(peak_memory, 1),
            "events": events,
            "users": users,
            "parallelism": parallelism,
            "profile": profile,
        }


def cluster_throughput(
    cfg: ShopguardConfig,
    events: int,
    users: int,
    taskmanagers: int,
    slots: int,
    parallelism: int,
    workdir: Path,
    timeout_s: float = 900,
    progress=print,
    job: tuple[str, ...] = DETECTION_JOB,
) -> dict:
    """Events/s of the job on a private standalone session cluster draining a backlog, as :func:`job_throughput`.

    Against the mini-cluster this shows what the cluster layout does: every TaskManager has one embedded
    Python interpreter, so ``taskmanagers`` x 1 slot gives the thread-mode operators as many GILs.
    ``job`` is the module submitted and its arguments (the detection job, or a pipeline floor).
    """
    from shopguard.local.flink_cluster import FlinkSessionCluster, private_cluster  # needs the Flink home

    run_cfg, _ = bench_config(cfg, parallelism, workdir)
    run_cfg = dataclasses.replace(
        run_cfg,
        cluster=private_cluster(
            run_cfg.cluster,
            workdir / f"{run_cfg.job.job_name}-cluster",
            taskmanagers=taskmanagers,
            taskmanager_slots=slots,
        ),
    )
    with private_topics(run_cfg, progress):
        send_records(run_cfg, run_cfg.topics.events, as_records(bench_events(events, users)))
        progress(
            f"  backlog of {events:,} events loaded; starting a session cluster of {taskmanagers} TaskManager(s) "
            f"x {slots} slot(s) and submitting {_job_name(job)} at parallelism {parallelism}"
        )
        cluster = FlinkSessionCluster(run_cfg)
        low, high = (int(port) for port in run_cfg.cluster.prometheus_ports.split("-"))
        reporters = RunningJob(run_cfg, workdir / f"{run_cfg.job.job_name}.log", ports=(low, high))
        try:
            cluster.start()
            cluster.submit(job[0], job[1:])
            samples = until_drained(
                events, lambda: reporters.metrics().get("events_to_score"), timeout_s, 0.5, cluster.log_dir
            )
        finally:
            cluster.stop()
        return {
            "eps": steady_rate(samples, events),
            "events": events,
            "users": users,
            "parallelism": parallelism,
            "taskmanagers": taskmanagers,
            "slots_per_taskmanager": slots,
        }


CROSSING_COUNTERS = ("alerts_opened", "alerts_updated", "alerts_suppressed", "alerts_ruled_out")
"""The decision step's counters: every row that crossed a threshold (or a rule's) ends in exactly one."""


def crossings_of(metrics: dict[str, float]) -> float:
    """Rows the decision step has decided, from the job's counters.

    >>> crossings_of({"alerts_opened": 3.0, "alerts_suppressed": 10.0, "events_to_score": 900.0})
    13.0
    """
    return sum(metrics.get(name, 0.0) for name in CROSSING_COUNTERS)


def user_step_cpu_us(metrics: dict[str, float]) -> float | None:
    """CPU microseconds per event of the user step's own function (its Python and its calls into Java), from the
    job's counters ``user_step_cpu_ns`` and ``events_in``; None when the job has neither (another job, no event).

    >>> user_step_cpu_us({"user_step_cpu_ns": 9_700_000.0, "events_in": 100.0})
    97.0
    >>> user_step_cpu_us({"events_in": 100.0}) is None
    True
    """
    spent, events = metrics.get("user_step_cpu_ns"), metrics.get("events_in")
    return spent / events / 1000 if spent is not None and events else None


def _settled_metrics(job: RunningJob, interval_s: float = 3.0, tries: int = 5) -> dict[str, float]:
    """The job's newest metrics once its decided rows stop growing (the last crossings are decided after the drain:
    scoring bundles, and at parallelism above 1 ``job.alert_hold_ms``, shorter than ``interval_s`` by default)."""
    last = job.metrics()
    for _ in range(tries):
        time.sleep(interval_s)
        now = job.metrics()
        settled = crossings_of(now) == crossings_of(last)
        last = now
        if settled:
            break
    return last


def repeated_throughput(measure: Callable[[], dict], times: int, progress=print) -> dict:
    """``times`` runs of ``measure`` (a throughput run): the median events/s, with every run's under ``runs_eps``.

    The other figures (memory, profile) are the median run's. On a shared machine one run can be far
    off the next (docs/benchmarks.md lists every run), so the report quotes medians and the spread.

    >>> rates = iter([900.0, 1200.0, 1000.0])
    >>> run = repeated_throughput(lambda: {"eps": next(rates), "peak_memory_mb": 1.0}, 3, progress=lambda line: None)
    >>> run["eps"], run["runs_eps"]
    (1000.0, [900.0, 1200.0, 1000.0])
    """
    runs = []
    for attempt in range(max(times, 1)):
        if times > 1:
            progress(f"  run {attempt + 1} of {times}")
        runs.append(measure())
    middle = sorted(runs, key=lambda run: run["eps"])[(len(runs) - 1) // 2]
    return {**middle, "eps": statistics.median(run["eps"] for run in runs), "runs_eps": [run["eps"] for run in runs]}


def steady_rate(samples: list[tuple[float, float]], total: int) -> float:
    """Events/s from the last sample under 10% of ``total`` to the first at or over 90% of it.

    A backlog that drained before a second reading of its counter has no rate: that is an error naming
    the fix, not a rate of 0.

    >>> steady_rate([(0.0, 0), (1.0, 50), (2.0, 500), (3.0, 950), (4.0, 1000)], 1000)
    450.0
    >>> steady_rate([(5.0, 1000)], 1000)
    Traceback (most recent call last):
    ...
    RuntimeError: the backlog of 1,000 events drained before the counter was read twice ...
    """
    start = [s for s in samples if s[1] < 0.1 * total][-1:] or samples[:1]
    end = next(s for s in samples if s[1] >= 0.9 * total)
    if end is start[0]:
        raise RuntimeError(
            f"the backlog of {total:,} events drained before the counter was read twice (readings: "
            f"{samples[:3]}); drain a larger backlog (BenchPlan throughput_events / floor_events)"
        )
    return (end[1] - start[0][1]) / max(end[0] - start[0][0], 1e-9)


def job_latency(
    cfg: ShopguardConfig,
    offered_loads: Sequence[float],
    seconds: float,
    users: int,
    workdir: Path,
    warm_up_events: int,
    parallelism: int = 1,
    progress=print,
) -> dict:
    """Produce-to-score latency percentiles at each of ``offered_loads`` for ``seconds``, all in one warm job.

    The job first drains a backlog of ``warm_up_events``, so that its Python workers have started and
    the JIT compiler has done most of its work before an event is timed (a cold job's first seconds
    read as seconds of latency). That drain's
    rate is returned under ``warm_up`` (at-least-once sinks, per-event scores written too). Then each
    load is offered in turn, the next only once every event of the last was scored (at most
    :data:`LATENCY_TAIL_S` after its offer), under ``loads``; each offer spreads over as many shoppers
    as its rate needs for a shopper's pace (:func:`shoppers_for`), ``users`` at least.
    """
    run_cfg, ports = bench_config(cfg, parallelism, workdir, with_scores=True, delivery_guarantee="at-least-once")
    with private_topics(run_cfg, progress):
        now_ms = int(time.time() * 1000)  # the backlog's event times end now: the offers' events come after them
        backlog = bench_events(warm_up_events, users, seed=WARM_UP_SEED, start_ms=now_ms - warm_up_events * 50)
        send_records(run_cfg, run_cfg.topics.events, as_records(backlog))
        progress(
            f"  backlog of {warm_up_events:,} events loaded to warm the job up; starting detect_job at parallelism "
            f"{parallelism}"
        )
        job = RunningJob(run_cfg, workdir / f"{run_cfg.job.job_name}.log", ports=ports).start()
        latencies: list[tuple[float, float]] = []  # (event time, latency ms), warm-up backlog included
        stop = threading.Event()

        def consume() -> None:
            consumer = open_consumer(run_cfg, run_cfg.topics.scores, from_start=True)
            try:
                while not stop.is_set():
                    for records in consumer.poll(timeout_ms=100).values():
                        now = time.time()
                        for record in records:
                            stamp = _event_ts(record.value)
                            latencies.append((stamp, now * 1000 - stamp))
            finally:
                consumer.close()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        try:
            samples = until_drained(
                warm_up_events, lambda: job.metrics().get("events_to_score"), LATENCY_TAIL_S * 5, 0.25, job.log_path
            )
            warm_up = {
                "eps": steady_rate(samples, warm_up_events),
                "events": warm_up_events,
                "users": users,
                "parallelism": parallelism,
                "peak_memory_mb": round(_job_memory_mb(job), 1),
            }
            loads = [
                _offer_and_time(run_cfg, rate, seconds, users, latencies, OFFER_SEED + n, job.log_path, progress)
                for n, rate in enumerate(offered_loads)
            ]
        finally:
            stop.set()
            reader.join(timeout=10)
            job.stop()
        return {"warm_up": warm_up, "loads": loads}


def _offer_and_time(
    cfg: ShopguardConfig,
    rate: float,
    seconds: float,
    users: int,
    latencies: list[tuple[float, float]],
    seed: int,
    log_path: Path,
    progress=print,
) -> dict:
    """Offer ``rate`` events/s for ``seconds``, wait for their scores; their latency percentiles.

    ``latencies`` is the list the scores consumer fills: this offer's events are those stamped from its start on.
    """
    progress(f"  offering {rate:,.0f} events/s for {seconds:.0f} s")
    started_ms = time.time() * 1000
    shoppers = shoppers_for(rate, users)
    sent, offered = _offer(cfg, rate, seconds, shoppers, seed=seed)
    _wait_for_scores(lambda: sum(1 for stamp, _ in list(latencies) if stamp >= started_ms), sent, LATENCY_TAIL_S)
    own = [(stamp, latency) for stamp, latency in list(latencies) if stamp >= started_ms]
    if not own:
        raise RuntimeError(
            f"no scores came back from the job within {LATENCY_TAIL_S} s of the end of the "
            f"{rate:,.0f} events/s offer (log: {log_path})"
        )
    values = np.array([latency for _, latency in own])
    return {
        "offered_eps": offered,
        "scored": len(own),
        "sent": sent,
        "shoppers": shoppers,
        "latency_p50_ms": float(np.percentile(values, 50)),
        "latency_p95_ms": float(np.percentile(values, 95)),
        "latency_p99_ms": float(np.percentile(values, 99)),
        "over_time": latency_over_time(own, started_ms),
    }


def shoppers_for(rate: float, users: int) -> int:
    """How many shoppers a live offer of ``rate`` events/s spreads over: at least ``users``, each acting
    about every :data:`SHOPPER_EVENT_GAP_S` seconds.

    >>> shoppers_for(800, 2_000), shoppers_for(50, 2_000)
    (16000, 2000)
    """
    return max(users, int(rate * SHOPPER_EVENT_GAP_S))


def _wait_for_scores(scored: Callable[[], int], sent: int, timeout_s: float) -> None:
    """Wait until ``sent`` scores came back (the tail of the offer), at most ``timeout_s``.

    A job still starting its Python workers, or behind the offered rate, returns its last scores well
    after the offer ends; a fixed tail would drop exactly the slowest events from the percentiles.
    """
    deadline = time.monotonic() + timeout_s
    while scored() < sent and time.monotonic() < deadline:
        time.sleep(0.2)


def latency_over_time(latencies: list[tuple[float, float]], started_ms: float, points: int = 1500) -> list[list[float]]:
    """At most ``points`` evenly spaced ``[seconds since the offer began, latency ms]``, for the plot.

    A tail that comes back at a fixed period points at checkpoints or bundles; one at the start, at
    warm-up; one that grows, at a queue.

    >>> latency_over_time([(1000.0 + i, 5.0) for i in range(10)], 1000.0, points=3)
    [[0.0, 5.0], [0.004, 5.0], [0.008, 5.0]]
    """
    ordered = sorted(latencies)
    step = max(1, -(-len(ordered) // points))
    return [[round((stamp - started_ms) / 1000, 3), round(latency, 1)] for stamp, latency in ordered[::step]]


def _event_ts(value: bytes) -> float:
    return float(json.loads(value)["event_ts"])


_TS_SLOT = 9_999_999_999_999  # 13 digits, as epoch milliseconds have until 2286: a send time fits its place


def send_time_slotted(events: list[Event]) -> list[tuple[str, bytes, tuple[bytes, bytes]]]:
    """Each event's id, Kafka key and JSON cut where its ``ts`` goes: ``head + send time + tail`` is the record.

    >>> [(event_id, key, (head, tail))] = send_time_slotted(bench_events(1, 1))
    >>> record = json.loads(head + b"1700000000123" + tail)
    >>> record["ts"], record["event_id"], event_id, key
    (1700000000123, 'b7-0', 'b7-0', b'bench-0')
    """
    slot = str(_TS_SLOT).encode()
    return [
        (e.event_id, e.user_id.encode(), tuple(e._replace(ts_ms=_TS_SLOT).to_json().encode().split(slot)))
        for e in events
    ]


def _offer(
    cfg: ShopguardConfig, rate: float, seconds: float, users: int, seed: int = 11, tick_s: float = 0.005
) -> tuple[int, float]:
    """Send events stamped with their send time at ``rate`` per second; return how many, and the rate achieved.

    The load generator shares the machine with the job, so it does as little as it can per event: the
    records are encoded before the clock starts, the send time is written into a fixed slot of each, and
    every ``tick_s`` the events then due leave together (one timer wake-up per tick, not per event).
    Event ids come from ``seed``: two offers to one job need two seeds, or the job drops the second's as duplicates.
    """
    records = send_time_slotted(bench_events(min(int(rate * seconds), 2_000_000), users, seed=seed))
    producer = open_producer(cfg)
    started = time.monotonic()
    count = 0
    try:
        while count < len(records) and time.monotonic() - started <= seconds:
            due = min(len(records), int((time.monotonic() - started) * rate) + 1)
            stamp = str(int(time.time() * 1000)).encode()
            for _, key, (head, tail) in records[count:due]:
                producer.send(cfg.topics.events, key=key, value=head + stamp + tail)
            count = due
            time.sleep(max(tick_s, started + count / rate - time.monotonic()))
        producer.flush()
    finally:
        producer.close()
    return count, count / (time.monotonic() - started)
