"""Per-user keyed state: the compact history every score is computed from.

For each event of a user, :class:`TrackUserHistory` advances that user's :class:`UserHistory`
(previous-event context + the last L event codes, 24 + 4·L bytes), remembers the ids of the most
recent events (to name them in an alert), and emits one row to be scored. State expires after
``job.state_ttl_s`` without events from the user, so idle users cost nothing.
"""

from __future__ import annotations

from pyflink.common import Row, Time
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from shopguard.config import JobSettings
from shopguard.udfs.encoding import UserHistory
from shopguard.udfs.events import Event

RECENT_IDS_SEPARATOR = "\x1f"

SCORING_ROW = Types.ROW_NAMED(
    ["user_id", "session_id", "event_id", "event_type", "event_ts", "codes", "recent_event_ids"],
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(),
     Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.STRING()],
)
"""One row per event, after its user's history advanced: what the scoring step reads."""


def _ttl(seconds: int) -> StateTtlConfig:
    return (StateTtlConfig.new_builder(Time.seconds(seconds))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .build())


class TrackUserHistory(KeyedProcessFunction):
    """Keyed by ``user_id``: event rows in, :data:`SCORING_ROW` rows out."""

    def __init__(self, settings: JobSettings):
        self.history_length = settings.history_length
        self.recent_ids = settings.recent_event_ids
        self.state_ttl_s = settings.state_ttl_s

    def open(self, runtime_context: RuntimeContext) -> None:
        # Bytes kept as a latin-1 string: one char per byte (the JVM stores it compactly), and PyFlink's
        # thread mode cannot read an empty byte-array state (its converter iterates over None).
        history = ValueStateDescriptor("history", Types.STRING())
        recent = ValueStateDescriptor("recent_event_ids", Types.STRING())
        for descriptor in (history, recent):
            descriptor.enable_time_to_live(_ttl(self.state_ttl_s))
        self.history = runtime_context.get_state(history)
        self.recent = runtime_context.get_state(recent)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        event = Event(*row)
        stored = self.history.value()
        history = UserHistory.from_bytes(stored.encode("latin-1") if stored else None)
        history.advance(event, self.history_length)
        self.history.update(history.to_bytes().decode("latin-1"))
        recent = self._remember(self.recent.value(), event.event_id)
        self.recent.update(recent)
        yield Row(event.user_id, event.session_id, event.event_id, event.event_type, event.ts_ms,
                  history.codes, recent)

    def _remember(self, recent: str | None, event_id: str) -> str:
        ids = recent.split(RECENT_IDS_SEPARATOR) if recent else []
        ids.append(event_id)
        return RECENT_IDS_SEPARATOR.join(ids[-self.recent_ids:])
