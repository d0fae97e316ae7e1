"""Event time: each event's own ``ts`` drives lateness and the alert cool-down.

The job scores events as they arrive (low latency). Lateness is judged against each user's own
watermark: the newest event time seen from that user minus ``job.max_out_of_orderness_ms``. An event
older than that watermark by more than ``job.allowed_lateness_ms`` is routed to the late topic instead
of rewriting the user's history long after the fact; events within the bound are scored as they come.

Why per user and not Flink's stream watermark: a user's events all arrive through one partition, in
order, so the user's clock is exact and deterministic (a replay judges exactly like the live job).
The stream watermark is the minimum over partitions, emitted periodically; PyFlink can only assign it
after parsing (per-partition watermarks need a Java timestamp extractor), so one reader interleaving
two partitions made a fast partition's events turn a slow partition's events late. The stream still
carries bounded out-of-orderness watermarks with idleness (:func:`event_time_watermarks`), so Flink's
``currentInputWatermark`` metrics show how far event time lags behind.
"""

from __future__ import annotations

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner

from shopguard.config import JobSettings

EVENT_TS_FIELD = 3  # position of ts_ms in an event row (see shopguard.udfs.events.Event)


class EventTimeAssigner(TimestampAssigner):
    """An event row's timestamp is its ``ts_ms``."""

    def extract_timestamp(self, value, record_timestamp: int) -> int:
        return value[EVENT_TS_FIELD]


def event_time_watermarks(settings: JobSettings) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks with idleness, from the job settings."""
    strategy = (WatermarkStrategy
                .for_bounded_out_of_orderness(Duration.of_millis(settings.max_out_of_orderness_ms))
                .with_timestamp_assigner(EventTimeAssigner()))
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
