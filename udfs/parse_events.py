"""The Flink function at the job's door: raw Kafka records in, valid events out, dead letters aside.

Every record leaves this function exactly once: as an event row (with its user id in front, ready
to be keyed: :func:`shopguard.jobs.user_keying.key_by_user`) on the main output, or as a dead
letter (reason, detail, the record itself with its IPs and device ids hashed) on the :data:`DEAD_LETTERS`
side output, counted in the ``shopguard.dead_letters`` metric and in one counter per reason. The job
never fails on input.
"""

from __future__ import annotations

import time

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import OutputTag, ProcessFunction, RuntimeContext

from shopguard.config import ValidationSettings
from shopguard.udfs.events import DEAD_LETTER_REASONS, Event, InvalidEvent, dead_letter_for, parse_event
from shopguard.udfs.identifier_hashing import IdentifierHashing

EVENT_ROW = Types.ROW_NAMED(
    list(Event._fields),
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), Types.STRING(), Types.STRING(),
     Types.STRING(), Types.DOUBLE(), Types.INT(), Types.STRING(), Types.STRING(), Types.STRING(),
     Types.STRING()],
)
"""Row type of a valid event between operators; field order is :class:`Event`'s."""

KEYED_EVENT_ROW = Types.ROW([Types.STRING(), EVENT_ROW])
"""What the parse step emits for a valid event: ``Row(user_id, event row)``, the shape a keyed step takes."""

KEYED_JSON_ROW = Types.ROW_NAMED(["user_id", "payload"], [Types.STRING(), Types.STRING()])
"""A JSON message and the user it belongs to (the Kafka key); used for dead letters and alerts."""

DEAD_LETTERS = OutputTag("dead-letters", KEYED_JSON_ROW)


class ParseEvents(ProcessFunction):
    """Parse and validate raw records (``bytes``) into :data:`KEYED_EVENT_ROW` rows; route the rest to dead letters."""

    def __init__(self, limits: ValidationSettings, hashing: IdentifierHashing):
        self.limits = limits
        self.hashing = hashing

    def open(self, runtime_context: RuntimeContext) -> None:
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.events_in = metrics.counter("events_in")
        self.events_valid = metrics.counter("events_valid")
        self.dead_letters = metrics.counter("dead_letters")
        self.dead_letters_by_reason = {reason: metrics.counter(f"dead_letters_{reason}")
                                       for reason in DEAD_LETTER_REASONS}

    def process_element(self, raw, ctx: ProcessFunction.Context):
        self.events_in.inc()
        now_ms = int(time.time() * 1000)
        try:
            event = parse_event(raw, self.limits, now_ms)
        except InvalidEvent as error:
            self.dead_letters.inc()
            self.dead_letters_by_reason[error.reason].inc()
            letter = dead_letter_for(raw, error, self.hashing)
            yield DEAD_LETTERS, Row(letter.user_id, letter.to_json(now_ms))
            return
        self.events_valid.inc()
        yield Row(event.user_id, Row(*event))
