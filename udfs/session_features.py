"""Running features of a user's current session and of the day around it, in 98 bytes of keyed state.

A session is the producer's ``session_id`` when it sends one; otherwise the job cuts sessions by
inactivity: an event more than ``job.session_gap_ms`` after the user's previous one starts a new
session, named ``<user_id>:<start ms>``. Per session the job keeps counts per funnel step, failures,
device and IP changes, and approximate distinct items and categories (a 64-bit linear-counting
sketch each: exact for a few items, within ~10% up to ~100). Alerts report them, so an analyst sees
"57 page views over 51 items in 40 s", and the velocity rules read them.

Beyond the session's counts, the behaviour profile the ``rarity`` detector reads
(:mod:`shopguard.udfs.rarity`): how long the session has lasted, the regularity of its gaps (count,
sum and sum of squares of ``log(1 + gap in seconds)``), and a *day* horizon that outlives sessions
(events, page views, carts and purchases, sessions, distinct items and categories since the first
event of the current 24 hours), so a crawler that pauses longer than a session gap is still seen.
The first 44 bytes are the original layout: state written before the profile existed still loads
(its profile starts empty).

Example
-------
>>> from shopguard.udfs.events import Event
>>> session = SessionFeatures()
>>> for i in range(3):
...     session.advance(Event(f"e{i}", "u1", "page_view", 1_000 * i, item_id=f"i{i}"), previous_ts_ms=1_000 * i - 1_000,
...                     changed_device=False, changed_ip=False, gap_ms=1_800_000)
>>> session.summary("u1")["events"], session.summary("u1")["distinct_items"], session.session_id("u1")
(3, 3, 'u1:0')
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

from shopguard.udfs.events import Event

_LAYOUT = struct.Struct("<qIHHHHHHHHQQ")  # start, session_id crc, 8 counters, 2 sketches
_PROFILE = struct.Struct("<IHddqHHHHQQ")  # duration s, gaps, sum/sumsq log gaps; day: start, 4 counters, 2 sketches
STATE_BYTES = _LAYOUT.size + _PROFILE.size
DAY_MS = 24 * 3_600_000
_FUNNEL_COMMITMENTS = ("add_to_cart", "checkout", "purchase")
_COUNTED = {
    "page_view": "page_views",
    "add_to_cart": "carts",
    "checkout": "checkouts",
    "purchase": "purchases",
    "payment_failed": "payment_failed",
    "login_failed": "login_failed",
}
_CAP = 0xFFFF


def _sketch_bit(value: str) -> int:
    return 1 << (zlib.crc32(value.encode("utf-8", "surrogatepass")) & 63)


def _distinct(sketch: int) -> int:
    """Linear counting over 64 bits: the estimated number of distinct values set in ``sketch``."""
    empty = 64 - bin(sketch).count("1")
    return 64 if empty == 0 else round(-64 * math.log(empty / 64))


@dataclass
class SessionFeatures:
    start_ts_ms: int = -1
    producer_session: int = 0  # crc32 of the producer's session_id (0: none)
    events: int = 0
    page_views: int = 0
    carts: int = 0
    checkouts: int = 0
    purchases: int = 0
    payment_failed: int = 0
    login_failed: int = 0
    identity_changes: int = 0  # device or IP changes within the session
    items: int = 0
    categories: int = 0
    duration_s: int = 0  # from the session's first event to its latest
    gaps: int = 0  # gaps between the session's events, and the sums of log(1 + seconds) and its square
    gap_log_sum: float = 0.0
    gap_log_squares: float = 0.0
    day_start_ts_ms: int = -1
    day_events: int = 0
    day_page_views: int = 0
    day_commitments: int = 0  # carts, checkouts and purchases
    day_sessions: int = 0
    day_items: int = 0
    day_categories: int = 0

    def advance(self, event: Event, previous_ts_ms: int, changed_device: bool, changed_ip: bool, gap_ms: int) -> None:
        """Count ``event`` into the session, starting a new one after a gap or a new producer session id."""
        producer_session = zlib.crc32(event.session_id.encode("utf-8", "surrogatepass")) if event.session_id else 0
        new_session = (
            self.start_ts_ms < 0
            or producer_session != self.producer_session
            or (not producer_session and event.ts_ms - previous_ts_ms > gap_ms)
        )
        item_bit = _sketch_bit(event.item_id) if event.item_id else 0
        category_bit = _sketch_bit(event.category_id) if event.category_id else 0
        self._advance_day(event, new_session, item_bit, category_bit)
        if new_session:
            day = {name: value for name, value in self.__dict__.items() if name.startswith("day_")}
            self.__dict__.update(SessionFeatures(start_ts_ms=event.ts_ms, producer_session=producer_session).__dict__)
            self.__dict__.update(day)
        elif self.gaps < _CAP:
            gap = math.log1p(max(event.ts_ms - previous_ts_ms, 0) / 1000)
            self.gaps += 1
            self.gap_log_sum += gap
            self.gap_log_squares += gap * gap
        elapsed_s = (event.ts_ms - self.start_ts_ms) // 1000
        if elapsed_s > self.duration_s:
            self.duration_s = min(elapsed_s, 0xFFFFFFFF)
        if self.events < _CAP:
            self.events += 1
        name = _COUNTED.get(event.event_type)
        if name is not None:
            setattr(self, name, min(getattr(self, name) + 1, _CAP))
        if changed_device or changed_ip:
            self.identity_changes = min(self.identity_changes + 1, _CAP)
        self.items |= item_bit
        self.categories |= category_bit

    def _advance_day(self, event: Event, new_session: bool, item_bit: int, category_bit: int) -> None:
        if self.day_start_ts_ms < 0 or event.ts_ms - self.day_start_ts_ms >= DAY_MS:
            self.day_start_ts_ms, self.day_events, self.day_page_views = event.ts_ms, 0, 0
            self.day_commitments, self.day_sessions, self.day_items, self.day_categories = 0, 0, 0, 0
            new_session = True
        if new_session and self.day_sessions < _CAP:
            self.day_sessions += 1
        if self.day_events < _CAP:
            self.day_events += 1
            if event.event_type == "page_view":
                self.day_page_views += 1
            elif event.event_type in _FUNNEL_COMMITMENTS:
                self.day_commitments += 1
        self.day_items |= item_bit
        self.day_categories |= category_bit

    def session_id(self, user_id: str) -> str:
        return f"{user_id}:{self.start_ts_ms}"

    def summary(self, user_id: str, now_ts_ms: int | None = None) -> dict:
        """The session as an alert shows it."""
        duration_s = max(((now_ts_ms if now_ts_ms is not None else self.start_ts_ms) - self.start_ts_ms) / 1000, 0.0)
        return {
            "events": self.events,
            "duration_s": round(duration_s, 1),
            "events_per_minute": round(self.events / max(duration_s / 60, 1 / 60), 1),
            "page_views": self.page_views,
            "carts": self.carts,
            "checkouts": self.checkouts,
            "purchases": self.purchases,
            "payment_failed": self.payment_failed,
            "login_failed": self.login_failed,
            "identity_changes": self.identity_changes,
            "distinct_items": _distinct(self.items),
            "distinct_categories": _distinct(self.categories),
        }

    def to_bytes(self) -> bytes:
        return _LAYOUT.pack(
            self.start_ts_ms,
            self.producer_session,
            self.events,
            self.page_views,
            self.carts,
            self.checkouts,
            self.purchases,
            self.payment_failed,
            self.login_failed,
            self.identity_changes,
            self.items,
            self.categories,
        ) + _PROFILE.pack(
            self.duration_s,
            self.gaps,
            self.gap_log_sum,
            self.gap_log_squares,
            self.day_start_ts_ms,
            self.day_events,
            self.day_page_views,
            self.day_commitments,
            self.day_sessions,
            self.day_items,
            self.day_categories,
        )

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "SessionFeatures":
        """Read :meth:`to_bytes`; the 44 bytes written before the profile existed load with an empty profile."""
        if not data:
            return cls()
        fields = _LAYOUT.unpack_from(data)
        if len(data) >= STATE_BYTES:
            fields += _PROFILE.unpack_from(data, _LAYOUT.size)
        return cls(*fields)
