"""Everything the job keeps per user, in one compact byte string.

One keyed-state read and one write per event is what makes the job fast (see
``../shared/design.md``), so a user's whole state is a single value:

* the :class:`~shopguard.udfs.encoding.UserHistory` (previous-event context + the last L event codes),
* a ring of 8-byte fingerprints of the user's last N event ids, to drop duplicates,
* the ids of the user's most recent events, to name them in an alert,
* the running features of the user's current session (:class:`SessionFeatures`, 44 bytes),
* the pattern detector's moving sums and online-learned sequences (:class:`PatternState`, 28 bytes
  plus 20 per learned sequence, at most ``patterns.learned_capacity`` of them),
* when the user's ``signup`` event was seen, its time (``signup_ms``): 10 more bytes before the rest,
  marked by :data:`SIGNUP_MARK`, which a state without it never starts with (its first two bytes are
  the history's length, far below 65,535).

The bytes start with the layout tag :data:`LAYOUT` (:mod:`~shopguard.udfs.state_layout`), whose version covers
the parts' layouts too: raise it whenever any of them changes.

At the defaults (L=32, N=64, 8 recent ids of ~36 characters, 24 learned sequences) that is at most
about 1.3 KB per active user;
``shopguard bench`` measures it on real traffic.

Example
-------
>>> from shopguard.udfs.events import Event
>>> state = UserState()
>>> state.accept(Event("e1", "u1", "page_view", 1_000), history_length=4, dedup_window=8, recent_ids=2)
True
>>> state.accept(Event("e1", "u1", "page_view", 1_000), history_length=4, dedup_window=8, recent_ids=2)
False
>>> restored = UserState.from_bytes(state.to_bytes())
>>> restored.recent_event_ids, len(restored.history.codes)
(['e1'], 4)
>>> state.signup_ms = 2_000  # what a signup event at 2 s sets
>>> UserState.from_bytes(state.to_bytes()).seconds_since_signup(42_000)
40.0
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field

import orjson

from shopguard.udfs.encoding import NEW_DEVICE, NEW_IP, VISIT_GAP_MS, UserHistory
from shopguard.udfs.events import Event
from shopguard.udfs.pattern_matching import PatternState
from shopguard.udfs.session_features import SessionFeatures
from shopguard.udfs.state_layout import StateLayout

LAYOUT = StateLayout("user_state", 1, reads_untagged=True)  # the body is the layout before the tag
"""The tag :meth:`UserState.to_bytes` starts with; raise its version whenever its layout (or a part's) changes."""
ID_FINGERPRINT_BYTES = 8
_LENGTHS = struct.Struct("<HHHH")  # bytes of the history, the dedup ring, the session features, the patterns
_ID_LENGTH = struct.Struct("<H")  # before each recent event id (ids may hold any character)
SIGNUP = "signup"  # the event type that opens an account
SIGNUP_MARK = b"\xff\xff"  # a state that knows the user's signup time starts with this, then the time
_SIGNUP_TIME = struct.Struct("<q")  # epoch ms


def event_id_fingerprint(event_id: str) -> bytes:
    """8 bytes standing for an event id: a collision between two ids of one user is ~1 in 10^17."""
    return hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=ID_FINGERPRINT_BYTES).digest()


@dataclass
class UserState:
    """A user's keyed state: history, dedup ring and recent event ids (see the module docstring)."""

    history: UserHistory = field(default_factory=UserHistory)
    seen_ids: bytes = b""
    recent_event_ids: list[str] = field(default_factory=list)
    session: SessionFeatures = field(default_factory=SessionFeatures)
    patterns: PatternState = field(default_factory=PatternState)
    signup_ms: int | None = None  # when the user's account was opened (their earliest signup event), if seen

    def seconds_since_signup(self, ts_ms: int) -> float:
        """Seconds from the user's signup to ``ts_ms``; NaN when no signup was seen or ``ts_ms`` is before it."""
        if self.signup_ms is None or ts_ms < self.signup_ms:
            return math.nan
        return (ts_ms - self.signup_ms) / 1000.0

    def is_duplicate(self, event_id: str) -> bool:
        """Whether ``event_id`` is among the user's last remembered event ids."""
        return _ring_contains(self.seen_ids, event_id_fingerprint(event_id))

    def accept(
        self, event: Event, history_length: int, dedup_window: int, recent_ids: int, session_gap_ms: int = VISIT_GAP_MS
    ) -> bool:
        """Advance the state with ``event``; False (and no change) when it is a duplicate."""
        fingerprint = event_id_fingerprint(event.event_id)
        if _ring_contains(self.seen_ids, fingerprint):
            return False
        previous_ts = self.history.last_ts_ms
        code = self.history.advance(event, history_length)
        self.session.advance(event, previous_ts, bool(code[3] & NEW_DEVICE), bool(code[3] & NEW_IP), session_gap_ms)
        self.seen_ids = (self.seen_ids + fingerprint)[-dedup_window * ID_FINGERPRINT_BYTES :]
        self.recent_event_ids = (self.recent_event_ids + [event.event_id])[-recent_ids:]
        if event.event_type == SIGNUP and (self.signup_ms is None or event.ts_ms < self.signup_ms):
            self.signup_ms = event.ts_ms
        return True

    def to_bytes(self) -> bytes:
        history, session, patterns = self.history.to_bytes(), self.session.to_bytes(), self.patterns.to_bytes()
        pack = _ID_LENGTH.pack
        recent = b"".join(
            [pack(len(raw)) + raw for raw in [i.encode("utf-8", "surrogatepass") for i in self.recent_event_ids]]
        )
        body = (
            _LENGTHS.pack(len(history), len(self.seen_ids), len(session), len(patterns))
            + history
            + self.seen_ids
            + session
            + patterns
            + recent
        )
        if self.signup_ms is None:
            return LAYOUT.tag + body
        return LAYOUT.tag + SIGNUP_MARK + _SIGNUP_TIME.pack(self.signup_ms) + body

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "UserState":
        """Read :meth:`to_bytes`; :class:`~shopguard.udfs.state_layout.UnreadableState` for bytes of another layout."""
        return LAYOUT.decode(data, cls._decode) if data else cls()

    @classmethod
    def _decode(cls, data: bytes) -> "UserState":
        data = bytes(data)
        start, signup_ms = 0, None
        if data[:2] == SIGNUP_MARK:
            start = len(SIGNUP_MARK) + _SIGNUP_TIME.size
            (signup_ms,) = _SIGNUP_TIME.unpack_from(data, len(SIGNUP_MARK))
        history, ring, session, patterns = _LENGTHS.unpack_from(data, start)
        ring_at = start + _LENGTHS.size + history
        session_at = ring_at + ring
        patterns_at = session_at + session
        ids_at = patterns_at + patterns
        if ids_at > len(data) or ring % ID_FINGERPRINT_BYTES:
            raise ValueError(f"parts of {ids_at - start} bytes in {len(data) - start}")
        return cls(
            UserHistory.from_bytes(data[start + _LENGTHS.size : ring_at]),
            data[ring_at:session_at],
            _read_ids(data, ids_at),
            SessionFeatures.from_bytes(data[session_at:patterns_at]),
            PatternState.from_bytes(data[patterns_at:ids_at]),
            signup_ms,
        )


def session_part(data: bytes) -> bytes:
    """The session features' bytes inside a state's :meth:`UserState.to_bytes`, without packing them again.

    >>> state = UserState(signup_ms=0)
    >>> state.accept(Event("e1", "u1", "page_view", 1_000), history_length=4, dedup_window=8, recent_ids=2)
    True
    >>> session_part(state.to_bytes()) == state.session.to_bytes()
    True
    """
    start = len(LAYOUT.tag)
    if data[start : start + len(SIGNUP_MARK)] == SIGNUP_MARK:
        start += len(SIGNUP_MARK) + _SIGNUP_TIME.size
    history, ring, session, _ = _LENGTHS.unpack_from(data, start)
    start += _LENGTHS.size + history + ring
    return data[start : start + session]


def recent_ids_json(event_ids: list[str]) -> str:
    """The ids as a JSON list, as the scoring row carries them (``json`` for an id orjson refuses).

    >>> recent_ids_json(["e1", "é2"])
    '["e1","é2"]'
    """
    try:
        return orjson.dumps(event_ids).decode("utf-8")
    except orjson.JSONEncodeError:  # an id with a lone surrogate, from state written before ids were checked
        return json.dumps(event_ids, ensure_ascii=False)


def _ring_contains(ring: bytes, fingerprint: bytes) -> bool:
    """Whether ``fingerprint`` fills one of the ring's 8-byte slots; the same bytes across two slots do not count.

    ``bytes.find`` in C, then a check that the match starts a slot (searching on when it does not).

    >>> _ring_contains(b"abcdefgh" + b"ijklmnop", b"ijklmnop"), _ring_contains(b"abcdefgh" + b"ijklmnop", b"efghijkl")
    (True, False)
    """
    if len(fingerprint) != ID_FINGERPRINT_BYTES:
        return False
    at = ring.find(fingerprint)
    while at != -1:
        if at % ID_FINGERPRINT_BYTES == 0:
            return True
        at = ring.find(fingerprint, at + 1)
    return False


def _read_ids(data: bytes, position: int = 0) -> list[str]:
    """The length-prefixed event ids from ``position`` to the end of ``data``."""
    ids, end, unpack, size = [], len(data), _ID_LENGTH.unpack_from, _ID_LENGTH.size
    while position < end:
        (length,) = unpack(data, position)
        position += size
        ids.append(data[position : position + length].decode("utf-8", "surrogatepass"))
        position += length
    if position != end:
        raise ValueError(f"an event id runs {position - end} bytes past the end")
    return ids
