"""Per-user keyed state: dedup, lateness and the compact history every score is computed from.

For each event of a user, :class:`TrackUserHistory`

1. routes the event to the late side output when it is older than the user's watermark allows
   (see :mod:`shopguard.udfs.event_time`),
2. drops it (and counts it) when its ``event_id`` is among the user's recent ones,
3. otherwise advances the user's :class:`~shopguard.udfs.user_state.UserState` (one keyed value,
   read and written once) and emits one row to be scored.

State expires after ``job.state_ttl_s`` without events from the user, so idle users cost nothing.
"""

from __future__ import annotations

import json

from pyflink.common import Row, Time
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from shopguard.config import JobSettings
from shopguard.udfs.admission import admit_event
from shopguard.udfs.events import Event
from shopguard.udfs.parse_events import KEYED_JSON_ROW
from shopguard.udfs.user_state import UserState

SCORING_ROW = Types.ROW_NAMED(
    ["user_id", "session_id", "event_id", "event_type", "event_ts", "codes", "recent_event_ids", "session"],
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(),
     Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.STRING(), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)
"""One row per accepted event, after its user's history advanced: what the scoring step reads."""

LATE_EVENTS = OutputTag("late-events", KEYED_JSON_ROW)


def state_ttl(seconds: int) -> StateTtlConfig:
    """Expire a user's state ``seconds`` after its last write.

    Expired entries are cleaned incrementally on state access. PyFlink's default background cleanup
    builds a RocksDB compaction filter whose default period calls the Python gateway, which exists on
    the local mini-cluster but not on a TaskManager: there, opening the operator fails.
    """
    return (StateTtlConfig.new_builder(Time.seconds(seconds))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .disable_cleanup_in_background()
            .cleanup_incrementally(10, False)
            .build())


def late_event_message(event: Event, watermark_ms: int) -> str:
    """What the late topic carries: the event, the user's watermark it missed and by how much."""
    return json.dumps({"reason": "late", "watermark": watermark_ms, "late_by_ms": watermark_ms - event.ts_ms,
                       "event": json.loads(event.to_json())}, separators=(",", ":"), ensure_ascii=False)


class TrackUserHistory(KeyedProcessFunction):
    """Keyed by ``user_id``: event rows in, :data:`SCORING_ROW` rows out, late events aside."""

    def __init__(self, settings: JobSettings):
        self.settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        # Bytes kept as a latin-1 string: one char per byte, and PyFlink's thread mode cannot read an
        # empty byte-array state (its converter iterates over None).
        descriptor = ValueStateDescriptor("user_state", Types.STRING())
        descriptor.enable_time_to_live(state_ttl(self.settings.state_ttl_s))
        self.state = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.duplicates = metrics.counter("duplicates")
        self.late_events = metrics.counter("late_events")
        self.scored_events = metrics.counter("events_to_score")

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        event = Event(*row)
        stored = self.state.value()
        state = UserState.from_bytes(stored.encode("latin-1") if stored else None)
        verdict, watermark = admit_event(state, event, self.settings)
        if verdict == "late":
            self.late_events.inc()
            yield LATE_EVENTS, Row(event.user_id, late_event_message(event, watermark))
            return
        if verdict == "duplicate":
            self.duplicates.inc()
            return
        self.state.update(state.to_bytes().decode("latin-1"))
        self.scored_events.inc()
        yield Row(event.user_id, event.session_id or state.session.session_id(event.user_id), event.event_id,
                  event.event_type, event.ts_ms, state.history.codes,
                  json.dumps(state.recent_event_ids, ensure_ascii=False), state.session.to_bytes())
