"""What the churn watch keeps per user: a fixed 66-byte record (a layout tag, then 63 bytes), in the churn step
(:mod:`shopguard.udfs.churn_step`).

It is that step's keyed value (``churn_watch``) with its own time to live (``churn.state_ttl_s``),
because a churn deadline falls weeks after the user's last event, long after the user step's state
(``job.state_ttl_s``) may have expired. It is read and written only when an event starts a visit or
is a purchase or a refund request, and when a churn timer fires.

Example
-------
>>> state = ChurnState(visit_start_ms=5, visits=3, mean_gap_s=86400.0)
>>> restored = ChurnState.from_bytes(state.to_bytes())
>>> restored.visits, restored.mean_gap_s, len(state.to_bytes())
(3, 86400.0, 66)
>>> ChurnState.from_bytes(None).visits
0

A record written before the tag (the same 63 bytes) reads as it is; one of another layout version is refused,
and the churn step then starts the user afresh and counts it (:class:`~shopguard.udfs.state_layout.StateReader`):

>>> ChurnState.from_bytes(state.to_bytes()[3:]).visits
3
>>> ChurnState.from_bytes(b"sg\\x02" + state.to_bytes()[3:])
Traceback (most recent call last):
...
shopguard.udfs.state_layout.UnreadableState: churn_state not of layout 1, starts b'sg\\x02'
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields

from shopguard.udfs.state_layout import StateLayout

LAYOUT = StateLayout("churn_state", 1, reads_untagged=True)  # the body is the layout before the tag
"""The tag :meth:`ChurnState.to_bytes` starts with; raise its version whenever the record's layout changes."""
_LAYOUT = struct.Struct("<qqqqHffHIIHBBBHHH")


@dataclass
class ChurnState:
    """One user's visit cadence, refund history, pending churn deadline and open signal."""

    visit_start_ms: int = -1  # the start of the user's latest visit: the last activity a silence counts from
    first_visit_ms: int = -1
    timer_ms: int = 0  # the event-time timer registered for this user (0: none)
    open_since_ms: int = 0  # the event time the open signal was raised (0: no open signal)
    visits: int = 0
    mean_gap_s: float = 0.0  # mean time between two visit starts
    longest_gap_s: float = 0.0
    revision: int = 0  # updates of the open signal
    purchases: int = 0  # every purchase seen
    refunds: int = 0  # every refund request seen
    recent_orders: int = 0  # bits of the latest purchases and refund requests, newest lowest: 1 refund, 0 purchase
    recent_length: int = 0  # how many of those bits are set
    open_kinds: int = 0  # what the open signal is about: SILENCE | REFUNDS
    silence_level: int = 0  # how many multiples of the user's silence threshold the open signal has reported
    gap_1_h: int = 0  # the latest gaps between visit starts, in hours (newest first; 0: none yet)
    gap_2_h: int = 0
    gap_3_h: int = 0

    @property
    def recent_gaps_h(self) -> tuple[int, int, int]:
        return self.gap_1_h, self.gap_2_h, self.gap_3_h

    def push_gap(self, gap_ms: int) -> None:
        hours = min(max(int(round(gap_ms / 3_600_000)), 1), 0xFFFF)
        self.gap_1_h, self.gap_2_h, self.gap_3_h = hours, self.gap_1_h, self.gap_2_h

    def to_bytes(self) -> bytes:
        return LAYOUT.tag + _LAYOUT.pack(*[getattr(self, name) for name in _FIELD_NAMES])  # astuple deep-copies: slow

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "ChurnState":
        """Read :meth:`to_bytes`; :class:`~shopguard.udfs.state_layout.UnreadableState` for bytes of another layout."""
        if not data:
            return cls()
        data = LAYOUT.body(data)
        if len(data) != _LAYOUT.size:
            raise LAYOUT.unreadable(ValueError(f"{len(data)} bytes, not {_LAYOUT.size}"))
        return cls(*_LAYOUT.unpack(data))


_FIELD_NAMES = tuple(f.name for f in fields(ChurnState))
SILENCE = 1
REFUNDS = 2
THINNING = 4
RECENT_GAPS = 3
RECENT_ORDERS_CAPACITY = 16
