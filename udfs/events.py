"""The canonical user event, and turning raw Kafka records into events or dead letters.

Every record on ``user-events`` is one JSON object (see ``../shared/design.md``). :func:`parse_event`
either returns an :class:`Event` or raises :class:`InvalidEvent` with a stable reason code, so that
the job can route the record to the dead-letter topic with that reason and count it per reason.
The parser never raises anything else on any input: ``tests/unit/test_events.py`` fuzzes it.

Example
-------
>>> from shopguard.config import ValidationSettings
>>> event = parse_event(b'{"event_id": "e1", "user_id": "u1", "event_type": "page_view",'
...                     b' "ts": "2017-11-26T01:00:00Z"}', ValidationSettings(), now_ms=1511658000000)
>>> event.user_id, event.ts_ms
('u1', 1511658000000)
>>> try:
...     parse_event(b'{"event_id": "e1"', ValidationSettings(), now_ms=1511658000000)
... except InvalidEvent as bad:
...     bad.reason
'malformed_json'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from shopguard.config import ValidationSettings
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.record_json import read_record_json

EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "favorite",
    "checkout",
    "purchase",
    "payment_failed",
    "login",
    "login_failed",
    "review",
    "refund_request",
    "signup",
)
"""Every event type the platform emits; the order is part of the feature spec (see ``encoding``).

``signup`` is an account being created (its channel and device, no item); a ``review`` may carry a
``rating`` (an integer from 1 to 5), no other event may."""

_EVENT_TYPE_SET = frozenset(EVENT_TYPES)
_REQUIRED_STRINGS = ("event_id", "user_id", "event_type")
_OPTIONAL_STRINGS = ("session_id", "item_id", "category_id", "ip", "device_id", "user_agent", "channel")

DEAD_LETTER_REASONS: tuple[str, ...] = (
    "oversized",
    "not_utf8",
    "malformed_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "field_too_long",
    "unknown_event_type",
    "bad_timestamp",
    "timestamp_too_old",
    "timestamp_in_future",
    "bad_price",
    "bad_quantity",
    "bad_rating",
)
"""Reason codes a dead letter can carry; each has a metric counter in the job."""


class InvalidEvent(ValueError):
    """A record that is not a valid canonical event.

    ``reason`` is one of :data:`DEAD_LETTER_REASONS` (stable, for metrics and consumers);
    ``detail`` says in words what was wrong, naming the field.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Event(NamedTuple):
    """One validated canonical event. ``ts_ms`` is event time in epoch milliseconds (UTC)."""

    event_id: str
    user_id: str
    event_type: str
    ts_ms: int
    session_id: str | None = None
    item_id: str | None = None
    category_id: str | None = None
    price: float | None = None
    quantity: int | None = None
    ip: str | None = None
    device_id: str | None = None
    user_agent: str | None = None
    channel: str | None = None
    rating: int | None = None

    def to_json(self) -> str:
        """The event as canonical JSON (``ts`` as epoch milliseconds), as producers send it."""
        body = {name: value for name, value in self._asdict().items() if value is not None and name != "ts_ms"}
        body["ts"] = self.ts_ms
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class DeadLetter:
    """What goes to the dead-letter topic: the reason, and as much of the record as is safe to keep."""

    reason: str
    detail: str
    record: str
    record_bytes: int
    user_id: str | None = None

    def to_json(self, rejected_at_ms: int) -> str:
        return json.dumps(
            {
                "reason": self.reason,
                "detail": self.detail,
                "user_id": self.user_id,
                "record": self.record,
                "record_bytes": self.record_bytes,
                "rejected_at": rejected_at_ms,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )


def parse_event(raw: bytes | str, limits: ValidationSettings, now_ms: int) -> Event:
    """Decode and validate one raw record; raise :class:`InvalidEvent` when it is not a valid event."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > limits.max_event_bytes:
        raise InvalidEvent(
            "oversized",
            f"record has {len(raw)} bytes, the limit is {limits.max_event_bytes} (validation.max_event_bytes)",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent("not_utf8", f"record is not UTF-8 at byte {exc.start}") from None
    try:
        body = read_record_json(raw, text)
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent("malformed_json", f"not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(body, dict):
        raise InvalidEvent("not_an_object", f"expected a JSON object, got {type(body).__name__}")
    return _validate(body, limits, now_ms)


def dead_letter_for(
    raw: bytes | str, error: InvalidEvent, hashing: IdentifierHashing, keep_bytes: int = 4096
) -> DeadLetter:
    """The dead letter for a rejected record, keeping at most ``keep_bytes`` of it (oversized records).

    ``hashing`` pseudonymises the record's ``ip`` and ``device_id``. A record that is a JSON document is
    parsed, scrubbed at every depth and written back as compact JSON (only when it held such a field;
    otherwise its text is kept as it came). Any other record (not JSON, not UTF-8, or oversized, which is
    never parsed) keeps its text, with the ``"ip": ...`` pairs still readable in it replaced.
    """
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    body = _json_if_readable(data) if error.reason != "oversized" else _UNREADABLE
    record = None
    if hashing.enabled and body is not _UNREADABLE:
        scrubbed = hashing.scrub(body)
        if scrubbed is not body:  # it held an identifier
            try:
                record = json.dumps(scrubbed, separators=(",", ":"), ensure_ascii=False)
                if not _utf8_encodable(record):  # an unpaired surrogate escape in it: keep it escaped
                    record = json.dumps(scrubbed, separators=(",", ":"))
                record = record.encode("utf-8")[:keep_bytes].decode("utf-8", "replace")
            except (ValueError, RecursionError):
                record = None
    if record is None:
        record = hashing.scrub_text(data[:keep_bytes].decode("utf-8", "replace"))
    return DeadLetter(
        reason=error.reason, detail=error.detail, record=record, record_bytes=len(data), user_id=_user_id_of(body)
    )


def _validate(body: dict[str, Any], limits: ValidationSettings, now_ms: int) -> Event:
    fields: dict[str, Any] = {}
    for name in _REQUIRED_STRINGS:
        value = body.get(name)
        if value is None or value == "":
            raise InvalidEvent("missing_field", f"{name!r} is required")
        fields[name] = _string(name, value, limits)
    for name in _OPTIONAL_STRINGS:
        value = body.get(name)
        fields[name] = None if value is None or value == "" else _string(name, value, limits)
    if fields["event_type"] not in _EVENT_TYPE_SET:
        raise InvalidEvent(
            "unknown_event_type", f"event_type {fields['event_type'][:40]!r} is not one of {', '.join(EVENT_TYPES)}"
        )
    if "ts" not in body or body["ts"] is None:
        raise InvalidEvent("missing_field", "'ts' is required")
    fields["ts_ms"] = _timestamp_ms(body["ts"], limits, now_ms)
    fields["price"] = _price(body.get("price"))
    fields["quantity"] = _quantity(body.get("quantity"))
    fields["rating"] = _rating(body.get("rating"), fields["event_type"])
    return Event(**fields)


def _string(name: str, value: Any, limits: ValidationSettings) -> str:
    if type(value) is str and value.isascii() and len(value) <= limits.max_field_chars:
        return value  # the usual field: every check below passes
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidEvent("wrong_type", f"{name!r} must be a string, got {type(value).__name__}")
    text = str(value)
    if len(text) > limits.max_field_chars:
        raise InvalidEvent(
            "field_too_long",
            f"{name!r} has {len(text)} characters, the limit is {limits.max_field_chars} (validation.max_field_chars)",
        )
    if not text.isascii() and not _utf8_encodable(text):
        # A JSON escape such as \ud800 without its pair: Flink cannot carry it (the job failed on one).
        raise InvalidEvent(
            "not_utf8", f"{name!r} holds an unpaired surrogate escape (\\ud800-\\udfff), which UTF-8 cannot carry"
        )
    return text


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timestamp_ms(value: Any, limits: ValidationSettings, now_ms: int) -> int:
    ts_ms = _timestamp_value_ms(value)
    if ts_ms < limits.min_event_time_ms:
        raise InvalidEvent(
            "timestamp_too_old",
            f"'ts' {value!r} is before validation.min_event_time_ms "
            f"({limits.min_event_time_ms}); is it in seconds, not milliseconds?",
        )
    if ts_ms > now_ms + limits.max_future_skew_ms:
        raise InvalidEvent(
            "timestamp_in_future", f"'ts' {value!r} is more than {limits.max_future_skew_ms} ms ahead of the clock"
        )
    return ts_ms


def _timestamp_value_ms(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidEvent("wrong_type", "'ts' must be an RFC 3339 string or epoch milliseconds, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEvent("bad_timestamp", f"'ts' {value!r} is not a finite number")
        return int(value)
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) <= 19:
            return int(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEvent(
                "bad_timestamp", f"'ts' {value[:40]!r} is not RFC 3339 (e.g. 2017-11-26T01:00:00Z)"
            ) from None
        if parsed.tzinfo is None:
            raise InvalidEvent("bad_timestamp", f"'ts' {value[:40]!r} has no UTC offset (append Z or +08:00)")
        return int(parsed.timestamp() * 1000)
    raise InvalidEvent(
        "wrong_type", f"'ts' must be an RFC 3339 string or epoch milliseconds, got {type(value).__name__}"
    )


def _price(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidEvent("wrong_type", f"'price' must be a number, got {type(value).__name__}")
    try:
        price = float(value)
    except OverflowError:  # an integer literal beyond the float range
        raise InvalidEvent(
            "bad_price", f"'price' has {len(str(abs(value)))} digits; it must be a finite number >= 0"
        ) from None
    if not math.isfinite(price) or price < 0:
        raise InvalidEvent("bad_price", f"'price' {value!r} must be a finite number >= 0")
    return price


def _whole_number(value: Any, name: str, expected: str) -> int:
    """``value`` as an integer: ``4.0`` reads as 4; a boolean, a string or a fraction is the wrong type.

    >>> _whole_number(4.0, "rating", "an integer from 1 to 5"), _whole_number(3, "quantity", "an integer")
    (4, 3)
    >>> _whole_number(True, "quantity", "an integer")
    Traceback (most recent call last):
    ...
    shopguard.udfs.events.InvalidEvent: wrong_type: 'quantity' must be an integer, got bool
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent("wrong_type", f"'{name}' must be {expected}, got {type(value).__name__}")
    return value


def _quantity(value: Any) -> int | None:
    if value is None:
        return None
    value = _whole_number(value, "quantity", "an integer")
    if value < 0 or value > 1_000_000:
        raise InvalidEvent("bad_quantity", f"'quantity' {value} must be between 0 and 1000000")
    return value


MIN_RATING, MAX_RATING = 1, 5


def _rating(value: Any, event_type: str) -> int | None:
    """A review's stars: an integer from 1 to 5 (``4.0`` reads as 4); absent or null on every other event."""
    if value is None:
        return None
    value = _whole_number(value, "rating", f"an integer from {MIN_RATING} to {MAX_RATING}")
    if event_type != "review":
        raise InvalidEvent("bad_rating", f"'rating' is only allowed on review events, this one is {event_type!r}")
    if not MIN_RATING <= value <= MAX_RATING:
        raise InvalidEvent("bad_rating", f"'rating' {str(value)[:24]} must be between {MIN_RATING} and {MAX_RATING}")
    return value


_UNREADABLE = object()


def _json_if_readable(data: bytes) -> Any:
    """The record as parsed JSON, or :data:`_UNREADABLE` when it is not UTF-8 JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return _UNREADABLE


def _user_id_of(body: Any) -> str | None:
    """The record's user_id when it can be read, so that the dead letter can be keyed by user."""
    user_id = body.get("user_id") if isinstance(body, dict) else None
    if not isinstance(user_id, (str, int)) or isinstance(user_id, bool):
        return None
    user_id = str(user_id)[:256]
    return user_id if _utf8_encodable(user_id) else None  # it becomes the Kafka key
