"""The job's door: each raw record judged once, a valid event or a counted dead letter.

:class:`EventIntake` runs inside the keyed step (:class:`~shopguard.udfs.user_history.TrackUserHistory`),
which gets each record unparsed, keyed by the user id Flink read from it in Java
(:func:`shopguard.jobs.user_keying.key_records_by_user`). Every record leaves exactly once: as an
:class:`~shopguard.udfs.events.Event`, or as a dead letter (reason, detail, the record itself with its
IPs and device ids hashed) for the :data:`DEAD_LETTERS` side output, counted in the
``shopguard.dead_letters`` metric and in one counter per reason. The job never fails on input.

Example
-------
>>> from shopguard.config import PrivacySettings, ValidationSettings
>>> from shopguard.udfs.identifier_hashing import IdentifierHashing
>>> intake = EventIntake(ValidationSettings(), IdentifierHashing.from_settings(PrivacySettings(), {}))
>>> record = b'{"event_id": "e1", "user_id": "u1", "event_type": "page_view", "ts": 1511658000000}'
>>> intake.read(record, now_ms=1_511_658_000_000).user_id
'u1'
>>> letter = intake.read(b'{not json', now_ms=0)
>>> letter[0], '"reason":"malformed_json"' in letter[1]
(None, True)
"""

from __future__ import annotations

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import OutputTag

from shopguard.config import ValidationSettings
from shopguard.udfs.events import DEAD_LETTER_REASONS, Event, InvalidEvent, dead_letter_for, parse_event
from shopguard.udfs.identifier_hashing import IdentifierHashing

KEYED_JSON_ROW = Types.ROW_NAMED(["user_id", "payload"], [Types.STRING(), Types.STRING()])
"""A JSON message and the user it belongs to (the Kafka key); used for dead letters and alerts."""

DEAD_LETTERS = OutputTag("dead-letters", KEYED_JSON_ROW)


class _NoMetrics:
    """Counters that count nothing, for an intake used outside Flink (``open`` not called)."""

    def inc(self, n: int = 1) -> None:
        pass


class EventIntake:
    """Parse and validate raw records (``bytes`` or text) into events; turn the rest into dead-letter rows.

    ``open(metrics_group)`` registers its counters under the Flink function's metric group
    (``events_in``, ``events_valid``, ``dead_letters``, ``dead_letters_<reason>``); the keyed step passes its
    :class:`~shopguard.udfs.local_counter.LocalCounters`, so that they count in Python and flush together.
    """

    def __init__(self, limits: ValidationSettings, hashing: IdentifierHashing):
        self.limits = limits
        self.hashing = hashing
        self.events_in = self.events_valid = self.dead_letters = _NoMetrics()
        self.dead_letters_by_reason = {reason: _NoMetrics() for reason in DEAD_LETTER_REASONS}

    def __eq__(self, other: object) -> bool:  # the same settings; counters are the running job's, not settings
        return isinstance(other, EventIntake) and (self.limits, self.hashing) == (other.limits, other.hashing)

    __hash__ = None

    def open(self, metrics_group) -> None:
        self.events_in = metrics_group.counter("events_in")
        self.events_valid = metrics_group.counter("events_valid")
        self.dead_letters = metrics_group.counter("dead_letters")
        self.dead_letters_by_reason = {
            reason: metrics_group.counter(f"dead_letters_{reason}") for reason in DEAD_LETTER_REASONS
        }

    def read(self, raw: bytes | str, now_ms: int) -> Event | Row:
        """The record's :class:`Event`, or the :data:`KEYED_JSON_ROW` dead letter it becomes (counted).

        ``now_ms`` (wall-clock time) bounds how far in the future an event time may be, and dates the letter.
        """
        self.events_in.inc()
        try:
            event = parse_event(raw, self.limits, now_ms)
        except InvalidEvent as error:
            self.dead_letters.inc()
            self.dead_letters_by_reason[error.reason].inc()
            letter = dead_letter_for(raw, error, self.hashing)
            return Row(letter.user_id, letter.to_json(now_ms))
        self.events_valid.inc()
        return event
