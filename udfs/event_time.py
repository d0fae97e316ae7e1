"""Event time: each event's own ``ts`` drives lateness and the alert cool-down.

The job scores events as they arrive (low latency). Lateness is judged against each user's own
watermark: the newest event time seen from that user minus ``job.max_out_of_orderness_ms``. An event
older than that watermark by more than ``job.allowed_lateness_ms`` is routed to the late topic instead
of rewriting the user's history long after the fact; events within the bound are scored as they come.

Why per user and not Flink's stream watermark: a user's events all arrive through one partition, in order, so
the user's clock is exact and deterministic (a replay judges exactly like the live job). The stream watermark
is the minimum over partitions, emitted periodically; PyFlink can only assign it after parsing (per-partition
watermarks need a Java timestamp extractor), so one reader interleaving two partitions made a fast partition's
events turn a slow partition's events late. Nothing in the job decides on the stream watermark, so it is
generated in the Kafka source from the records' Kafka timestamps (:func:`event_time_watermarks`: bounded
out-of-orderness with idleness, no timestamp assigner) rather than by a Python step after parsing: one Python
operator fewer per event. Flink's ``currentInputWatermark`` metrics then show
how far the job lags behind the producers' clocks. Producers that set each record's timestamp to the event's ``ts``
make it event time proper (``shopguard produce`` keeps the send time: Taobao's 2017 timestamps would
fall outside the topic's retention at once).
"""

from __future__ import annotations

from pyflink.common import Duration, WatermarkStrategy

from shopguard.config import JobSettings


def event_time_watermarks(settings: JobSettings) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks with idleness over the source's record timestamps."""
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(settings.max_out_of_orderness_ms))
    if settings.idle_source_timeout_ms > 0:
        strategy = strategy.with_idleness(Duration.of_millis(settings.idle_source_timeout_ms))
    return strategy


def user_watermark(newest_event_ts_ms: int, max_out_of_orderness_ms: int) -> int:
    """The user's watermark: no event older than this is expected from them any more (-1: no event yet)."""
    return newest_event_ts_ms - max_out_of_orderness_ms if newest_event_ts_ms >= 0 else -1


def is_late(event_ts_ms: int, watermark_ms: int, allowed_lateness_ms: int) -> bool:
    """Whether an event arrives after the job stopped waiting for its time.

    >>> is_late(1_000, watermark_ms=70_000, allowed_lateness_ms=60_000)
    True
    >>> is_late(10_001, watermark_ms=70_000, allowed_lateness_ms=60_000)
    False
    >>> is_late(0, watermark_ms=-1, allowed_lateness_ms=0)  # a user's first event is never late
    False
    """
    return watermark_ms >= 0 and event_ts_ms < watermark_ms - allowed_lateness_ms
