"""The benchmark's latency run waits for the tail of the offer, not for a fixed time."""

import time

from shopguard.bench_job import _wait_for_scores


def test_the_tail_ends_as_soon_as_every_offered_event_is_scored():
    counts = iter([10, 40, 100, 100])
    started = time.monotonic()
    _wait_for_scores(lambda: next(counts), sent=100, timeout_s=30)
    assert time.monotonic() - started < 5


def test_the_tail_gives_up_after_its_timeout_when_scores_stop_coming():
    started = time.monotonic()
    _wait_for_scores(lambda: 3, sent=100, timeout_s=0.5)
    assert 0.5 <= time.monotonic() - started < 5
