"""Fault: backpressure. The producer runs far faster than the job, on the real broker and mini-cluster.

While the producer pushes events as fast as kafka-python can, the lag (events acknowledged by the
broker minus events the job has read) grows, the job's resident memory (its whole process group:
client, JVM, Python workers) stays bounded because Kafka, not the job, holds the backlog, and once
the producer stops the job works the backlog off: every event is read and scored.
"""

from __future__ import annotations

import threading
import time

import pytest

from shopguard.bench_job import _job_memory_mb
from shopguard.bench_workload import as_records, bench_events
from shopguard.job_process import RunningJob, isolated_job_config
from shopguard.producer import open_producer
from shopguard.topics import ensure_topics

pytestmark = pytest.mark.integration

PRODUCE_S = 20
MAX_EVENTS = 250_000
USERS = 2_000
CATCH_UP_TIMEOUT_S = 120
# Over the job's RSS before the flood. The JVMs commit heap in steps as they warm up (~350-500 MB seen here,
# flat afterwards); a job that buffered its backlog (~150k events of ~300 bytes as Python objects) would
# blow well past this ceiling and keep growing with the lag.
MEMORY_GROWTH_LIMIT_MB = 800


class Flood(threading.Thread):
    """Send ``records`` as fast as the broker takes them, for ``seconds`` (or until all are sent)."""

    def __init__(self, cfg, records, seconds: float):
        super().__init__(daemon=True, name="flood")
        self.cfg, self.records, self.seconds = cfg, records, seconds
        self.acked = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = open_producer(self.cfg)
            deadline = time.monotonic() + self.seconds
            try:
                for start in range(0, len(self.records), 2000):
                    if time.monotonic() > deadline:
                        break
                    chunk = self.records[start : start + 2000]
                    for key, value in chunk:
                        producer.send(self.cfg.topics.events, key=key.encode(), value=value)
                    producer.flush()
                    self.acked += len(chunk)
            finally:
                producer.close()
        except BaseException as error:  # reported by the test
            self.error = error


@pytest.fixture(scope="module")
def flooded(kafka_config, tmp_path_factory):
    cfg, ports = isolated_job_config(
        kafka_config, "backpressure", tmp_path_factory.mktemp("bp-registry"), with_scores=False
    )
    ensure_topics(cfg)
    records = as_records(bench_events(MAX_EVENTS, USERS))
    job = RunningJob(cfg, tmp_path_factory.mktemp("bp-job") / "job.log", ports=ports).start()
    try:
        time.sleep(3)
        baseline_mb = _job_memory_mb(job)
        flood = Flood(cfg, records, PRODUCE_S)
        samples = []  # (seconds since the flood started, acked, events read by the job, RSS MB)
        started = time.monotonic()
        flood.start()
        while flood.is_alive():
            samples.append(
                (time.monotonic() - started, flood.acked, job.metrics().get("events_in", 0.0), _job_memory_mb(job))
            )
            time.sleep(1.0)
        assert flood.error is None, f"the producer failed: {flood.error!r}"
        produced, produce_s = flood.acked, time.monotonic() - started
        lag_at_stop = produced - job.metrics().get("events_in", 0.0)
        while True:
            read = job.metrics().get("events_in", 0.0)
            samples.append((time.monotonic() - started, produced, read, _job_memory_mb(job)))
            if read >= produced and job.metrics().get("events_to_score", 0.0) >= produced:
                break
            if time.monotonic() - started - produce_s > CATCH_UP_TIMEOUT_S:
                raise AssertionError(
                    f"the job read {read:.0f} of {produced} events within {CATCH_UP_TIMEOUT_S} s "
                    f"of the producer stopping; metrics {job.metrics()}\n{job.log_tail()}"
                )
            if not job.is_running():
                raise AssertionError(f"the job exited ({job.process.returncode})\n{job.log_tail()}")
            time.sleep(1.0)
        catch_up_s = time.monotonic() - started - produce_s
        peak_mb = max(s[3] for s in samples)
        print(
            f"\nBackpressure: {produced:,} events in {produce_s:.1f} s ({produced / produce_s:,.0f}/s offered), "
            f"lag at producer stop {lag_at_stop:,.0f}, caught up {catch_up_s:.1f} s later "
            f"({produced / (produce_s + catch_up_s):,.0f}/s overall); RSS {baseline_mb:.0f} MB before, "
            f"peak {peak_mb:.0f} MB",
            flush=True,
        )
        yield {
            "produced": produced,
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
    lags = [acked - read for _, acked, read, _ in flooded["samples"] if acked < flooded["produced"]]
    assert flooded["lag_at_stop"] > 0.25 * flooded["produced"], (
        f"the job kept up ({flooded['lag_at_stop']:.0f} of {flooded['produced']} behind): no backpressure"
    )
    assert lags and max(lags) > lags[0], "the lag did not grow while the producer ran"


def test_memory_stays_bounded_while_the_backlog_grows(flooded):
    growth = flooded["peak_mb"] - flooded["baseline_mb"]
    assert growth < MEMORY_GROWTH_LIMIT_MB, (
        f"the job's RSS grew by {growth:.0f} MB (from {flooded['baseline_mb']:.0f} MB) with the backlog; "
        f"samples (s, acked, read, MB): {[(round(t), a, int(r), round(m)) for t, a, r, m in flooded['samples']]}"
    )


def test_the_job_catches_up_without_restarting(flooded):
    metrics = flooded["metrics"]
    assert metrics["events_in"] == flooded["produced"] == metrics["events_to_score"]
    assert metrics["dead_letters"] == 0 and metrics["late_events"] == 0
    assert flooded["restarts"] == 0, flooded["log"]
