"""The benchmark's latency run waits for the offer's tail, not a fixed time; its drain rate survives lost scrapes."""

import time
from pathlib import Path

import pytest

from shopguard.bench.job import _wait_for_scores, steady_rate, until_drained


def test_the_tail_ends_as_soon_as_every_offered_event_is_scored():
    counts = iter([10, 40, 100, 100])
    started = time.monotonic()
    _wait_for_scores(lambda: next(counts), sent=100, timeout_s=30)
    assert time.monotonic() - started < 5


def test_the_tail_gives_up_after_its_timeout_when_scores_stop_coming():
    started = time.monotonic()
    _wait_for_scores(lambda: 3, sent=100, timeout_s=0.5)
    assert 0.5 <= time.monotonic() - started < 5


def _drain(readings: list, backlog: int, monkeypatch) -> float:
    """The rate the benchmark reports for these counter readings, taken one (fake) second apart."""
    clock = [0.0]
    values = iter(readings)

    def read():
        clock[0] += 1.0
        return next(values)

    monkeypatch.setattr("shopguard.bench.job.time.monotonic", lambda: clock[0])
    samples = until_drained(backlog, read, timeout_s=60, interval_s=0.0, logs=Path("job.log"))
    return steady_rate(samples, backlog)


def test_a_scrape_without_the_counter_does_not_read_as_nothing_scored(monkeypatch):
    steady = _drain([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], 1000, monkeypatch)
    missed = _drain([0, 100, 200, 300, 400, 500, 600, 700, None, 900, 1000], 1000, monkeypatch)
    assert steady == pytest.approx(100.0) and missed == pytest.approx(100.0)


def test_a_partial_total_below_the_last_reading_is_skipped(monkeypatch):
    # 50 events/s; at the third reading one TaskManager of a cluster did not answer: half the total
    readings = list(range(0, 1001, 50))
    assert _drain(readings, 1000, monkeypatch) == pytest.approx(50.0)
    readings[2] = 25
    assert _drain(readings, 1000, monkeypatch) == pytest.approx(50.0)


def test_a_job_whose_counter_never_appears_fails_with_its_logs():
    with pytest.raises(RuntimeError, match="no readable count.*job.log"):
        until_drained(10, lambda: None, timeout_s=0.2, interval_s=0.05, logs=Path("job.log"))


def test_a_backlog_drained_before_a_second_reading_is_an_error_not_a_rate_of_zero(monkeypatch):
    # the smoke bench's floor once drained its 3,000 events before the counter was first read
    with pytest.raises(RuntimeError, match="drained before the counter was read twice.*larger backlog"):
        _drain([None, None, 1000], 1000, monkeypatch)
