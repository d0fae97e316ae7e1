"""Fault: backpressure. A producer offers events faster than the job can take them, on the real broker and mini-cluster.

The job is made slow on purpose: ``job.debug_throttle_us`` puts a fixed sleep before each record its keyed
step reads, so however fast the machine, the job cannot read more than :data:`JOB_CEILING_EPS` events/s,
while the producer offers :data:`OFFERED_EPS` (paced). Once a warm-up has started every worker, the lag
(events acknowledged by the broker minus events the job has read) grows while the producer runs, the job's
resident memory (its whole process group: client, JVM, Python workers) stays bounded because Kafka, not the
job, holds the backlog, and once the producer stops the job works the backlog off: every event is read and
scored exactly once, and nothing restarts.
"""

from __future__ import annotations

import threading
import time

import pytest

from shopguard.bench.job import _job_memory_mb
from shopguard.bench.workload import as_records, bench_events
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import open_producer
from shopguard.local.topics import ensure_topics

pytestmark = pytest.mark.integration

PARALLELISM = 2
THROTTLE_US = 5000  # per record and subtask: the job reads at most PARALLELISM * 1e6 / THROTTLE_US events/s
JOB_CEILING_EPS = PARALLELISM * 1_000_000 / THROTTLE_US
OFFERED_EPS = 4000  # ten times the ceiling: a producer slowed to a fifth by a busy machine still offers twice it
PRODUCE_S = 5
CHUNK = 250  # events per paced send (20 sends a second)
WARM_UP_EVENTS = 1000  # scored before the memory baseline: the scoring worker and the model load at the first rows
USERS = 2_000
CATCH_UP_TIMEOUT_S = 150  # the backlog (under OFFERED_EPS * PRODUCE_S events) drains at under JOB_CEILING_EPS
# Over the job's RSS after the warm-up. The JVMs still commit heap in steps for a while; a job that buffered
# its backlog instead of leaving it in Kafka would grow with the lag instead.
MEMORY_GROWTH_LIMIT_MB = 800


class PacedProducer(threading.Thread):
    """Send ``records`` at ``eps`` events/s (as near as the producer gets) for ``seconds``; count the acked."""

    def __init__(self, cfg, records, eps: float, seconds: float):
        super().__init__(daemon=True, name="paced-producer")
        self.cfg, self.records, self.eps, self.seconds = cfg, records, eps, seconds
        self.acked = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = open_producer(self.cfg)
            started = time.monotonic()
            try:
                for start in range(0, len(self.records), CHUNK):
                    due = started + start / self.eps
                    if due > started + self.seconds:
                        break
                    time.sleep(max(0.0, due - time.monotonic()))
                    chunk = self.records[start : start + CHUNK]
                    for key, value in chunk:
                        producer.send(self.cfg.topics.events, key=key.encode(), value=value)
                    producer.flush()
                    self.acked += len(chunk)
            finally:
                producer.close()
        except BaseException as error:  # reported by the test
            self.error = error


def _scored_everything(metrics: dict[str, float], events: int) -> bool:
    return all(
        metrics.get(name, 0.0) >= events for name in ("events_in", "events_to_score", "model_version_scored_events")
    )


def _warm_up(cfg, job: RunningJob, records) -> None:
    producer = open_producer(cfg)
    try:
        for key, value in records:
            producer.send(cfg.topics.events, key=key.encode(), value=value)
        producer.flush()
    finally:
        producer.close()
    deadline = time.monotonic() + 120
    while not _scored_everything(metrics := job.metrics(), len(records)):
        if time.monotonic() > deadline or not job.is_running():
            raise AssertionError(f"the warm-up was not scored: metrics {metrics}\n{job.log_tail()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def flooded(kafka_config, tmp_path_factory):
    cfg, ports = isolated_job_config(
        kafka_config,
        "backpressure",
        tmp_path_factory.mktemp("bp-registry"),
        with_scores=False,
        parallelism=PARALLELISM,
        debug_throttle_us=THROTTLE_US,
    )
    ensure_topics(cfg)
    records = as_records(bench_events(WARM_UP_EVENTS + OFFERED_EPS * PRODUCE_S, USERS))
    job = RunningJob(cfg, tmp_path_factory.mktemp("bp-job") / "job.log", ports=ports).start()
    try:
        _warm_up(cfg, job, records[:WARM_UP_EVENTS])
        baseline_mb = _job_memory_mb(job)
        producer = PacedProducer(cfg, records[WARM_UP_EVENTS:], OFFERED_EPS, PRODUCE_S)
        samples = []  # (seconds since the producer started, acked, read by the job since, RSS MB)

        def sample(acked: int, metrics: dict[str, float]) -> None:
            read = metrics.get("events_in", 0.0) - WARM_UP_EVENTS
            samples.append((time.monotonic() - started, acked, read, _job_memory_mb(job)))

        started = time.monotonic()
        producer.start()
        while producer.is_alive():
            sample(producer.acked, job.metrics())
            time.sleep(0.5)
        assert producer.error is None, f"the producer failed: {producer.error!r}"
        produced, produce_s = producer.acked, time.monotonic() - started
        lag_at_stop = produced - (job.metrics().get("events_in", 0.0) - WARM_UP_EVENTS)
        while not _scored_everything(metrics := job.metrics(), WARM_UP_EVENTS + produced):
            sample(produced, metrics)
            if time.monotonic() - started - produce_s > CATCH_UP_TIMEOUT_S:
                raise AssertionError(
                    f"the job did not read and score all {produced} events within {CATCH_UP_TIMEOUT_S} s "
                    f"of the producer stopping; metrics {metrics}\n{job.log_tail()}"
                )
            if not job.is_running():
                raise AssertionError(f"the job exited ({job.process.returncode})\n{job.log_tail()}")
            time.sleep(1.0)
        catch_up_s = time.monotonic() - started - produce_s
        peak_mb = max(s[3] for s in samples)
        print(
            f"\nBackpressure: {produced:,} events in {produce_s:.1f} s ({produced / produce_s:,.0f}/s offered, "
            f"job throttled to at most {JOB_CEILING_EPS:,.0f}/s), lag at producer stop {lag_at_stop:,.0f}, "
            f"caught up {catch_up_s:.1f} s later ({produced / (produce_s + catch_up_s):,.0f}/s overall); "
            f"RSS {baseline_mb:.0f} MB after the warm-up, peak {peak_mb:.0f} MB",
            flush=True,
        )
        yield {
            "produced": produced,
            "produce_s": produce_s,
            "lag_at_stop": lag_at_stop,
            "samples": samples,
            "baseline_mb": baseline_mb,
            "peak_mb": peak_mb,
            "metrics": job.metrics(),
            "restarts": job.job_restarts(),
            "log": job.log_tail(),
        }
    finally:
        job.stop()


def test_the_producer_outruns_the_job_and_the_lag_grows(flooded):
    offered_eps = flooded["produced"] / flooded["produce_s"]
    assert offered_eps > 2 * JOB_CEILING_EPS, (
        f"the producer offered only {offered_eps:,.0f} events/s, not twice the throttled job's {JOB_CEILING_EPS:,.0f}"
    )
    producing = [(t, acked, read) for t, acked, read, _ in flooded["samples"] if acked < flooded["produced"]]
    assert all(read <= JOB_CEILING_EPS * (t + 1.0) for t, _, read in producing), (
        f"the job read faster than job.debug_throttle_us allows: (s, acked, read) {producing}"
    )
    assert flooded["lag_at_stop"] > 0.25 * flooded["produced"], (
        f"the job kept up ({flooded['lag_at_stop']:.0f} of {flooded['produced']} behind): no backpressure"
    )
    lags = [acked - read for _, acked, read in producing]
    assert len(lags) >= 2 and lags[-1] > lags[0], f"the lag did not grow while the producer ran: {lags}"


def test_memory_stays_bounded_while_the_backlog_grows(flooded):
    growth = flooded["peak_mb"] - flooded["baseline_mb"]
    assert growth < MEMORY_GROWTH_LIMIT_MB, (
        f"the job's RSS grew by {growth:.0f} MB (from {flooded['baseline_mb']:.0f} MB) with the backlog; "
        f"samples (s, acked, read, MB): {[(round(t), a, int(r), round(m)) for t, a, r, m in flooded['samples']]}"
    )


def test_every_event_is_scored_once_and_nothing_restarts(flooded):
    metrics, events = flooded["metrics"], WARM_UP_EVENTS + flooded["produced"]
    assert metrics["events_in"] == metrics["events_to_score"] == metrics["model_version_scored_events"] == events
    assert metrics["dead_letters"] == metrics["late_events"] == metrics.get("duplicates", 0.0) == 0
    assert flooded["restarts"] == 0, flooded["log"]
