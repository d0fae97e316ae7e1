"""Turning a user's events into model inputs: the one encoder that both the job and training use.

Each event becomes a 4-byte *event code* relative to the user's previous events (what kind of event, how long
after the previous one, price and quantity buckets, whether the item or category changed, whether the device
or IP is one the user has not used among their last few, or the new one that opened this visit:
:data:`FRESH_IDENTITY`; and a review's rating, 1 to 5, in the flag byte's top bits: :data:`RATING_SHIFT`).
A user's recent behaviour is the concatenation of the last L codes: a few hundred bytes that live in Flink
keyed state and travel between operators as ``bytes``. Only the scoring step expands codes into the float
tensor ``[batch, L, len(FEATURE_NAMES)]`` that the model reads.

Training imports :func:`encode_user_events` and :func:`batch_features` from here and must never
re-implement them; :data:`FEATURE_SPEC_VERSION` goes into every model card so that the job refuses a
model trained on another encoding.

Example
-------
>>> from shopguard.udfs.events import Event
>>> events = [Event("e1", "u1", "page_view", 1_000), Event("e2", "u1", "payment_failed", 1_300, price=3.0)]
>>> windows = encode_user_events(events, history_length=4)
>>> [len(w) for w in windows]
[4, 8]
>>> x = batch_features(windows, history_length=4)
>>> x.shape
(2, 4, 24)
>>> float(x[1, -1, FEATURE_NAMES.index("type=payment_failed")]), float(x[1, -1, FEATURE_NAMES.index("fast_gap")])
(1.0, 1.0)
"""

from __future__ import annotations

import struct
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from shopguard.udfs.events import EVENT_TYPES, Event

FEATURE_SPEC_VERSION = "event-codes-v3"  # v3: the signup event type, and a review's rating in the code
CODE_BYTES = 4

GAP_EDGES_S: tuple[float, ...] = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 21600, 86400)
"""Upper edges of the time-gap buckets 1..15 (bucket 0: the user's first event)."""
FAST_GAP_S = 2.0
PRICE_EDGES: tuple[float, ...] = (5, 20, 50, 100, 300, 1000)
QUANTITY_EDGES: tuple[int, ...] = (1, 2, 5, 10, 50)

NEW_ITEM, NEW_CATEGORY, NEW_DEVICE, NEW_IP = 1, 2, 4, 8
FRESH_IDENTITY = 16
"""Flag of an event that stays, in the same visit, on the device and IP a new device or IP opened: a
stranger's whole visit, not only its first event, reads as on a new device. The models' features leave it
out (their input is unchanged); behaviour tokens fold it into their device bit."""
VISIT_GAP_S = 1800.0
"""A gap longer than this opens a new visit: the behaviour tokens' "after a break", the simulators' and
the reports' visits, and the default of ``job.session_gap_ms``. Fixed by the gap buckets (30 min is one of
their edges), so it is a constant and not a setting."""
VISIT_GAP_MS = int(VISIT_GAP_S * 1000)
RATING_SHIFT = 5
"""A review's rating (1-5; 0: none) is kept in the flag byte's top three bits: ``flags >> RATING_SHIFT``."""
_FLAG_NAMES = (("new_item", NEW_ITEM), ("new_category", NEW_CATEGORY), ("new_device", NEW_DEVICE), ("new_ip", NEW_IP))

FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"type={t}" for t in EVENT_TYPES)
    + ("gap_bucket", "first_event", "fast_gap", "price_bucket", "quantity_bucket", "rating")
    + tuple(name for name, _ in _FLAG_NAMES)
    + ("present",)
)
"""What each column of the model input means, in order."""

_TYPE_CODES = {name: i + 1 for i, name in enumerate(EVENT_TYPES)}  # 0 marks padding
KNOWN_IDENTITIES = 4  # devices and IPs remembered per user: a switch between known ones is not "new"
_CONTEXT = struct.Struct(f"<qII{KNOWN_IDENTITIES}I{KNOWN_IDENTITIES}I")
_FAST_GAP_BUCKET = GAP_EDGES_S.index(FAST_GAP_S) + 2  # gap buckets 1.._FAST_GAP_BUCKET-1 are under FAST_GAP_S
_LAST_VISIT_GAP_BUCKET = GAP_EDGES_S.index(VISIT_GAP_S) + 1  # gap buckets 1..this one stay in the visit
_NEW_IDENTITY = NEW_DEVICE | NEW_IP | FRESH_IDENTITY


def _fingerprint(value: str | None) -> int:
    """A 32-bit fingerprint of an id (0 = absent): enough to tell "same" from "changed" in 4 bytes."""
    return 0 if value is None else (zlib.crc32(value.encode("utf-8", "surrogatepass")) or 1)


def _bucket(value: float | None, edges: Sequence[float]) -> int:
    return 0 if value is None else bisect_right(edges, value) + 1


def _gap_bucket(gap_ms: int | None) -> int:
    if gap_ms is None:
        return 0
    return min(bisect_right(GAP_EDGES_S, max(gap_ms, 0) / 1000.0) + 1, 15)


@dataclass
class UserHistory:
    """A user's recent behaviour as kept in keyed state: the previous event's context plus the codes.

    The context is the previous event's time, item and category, and the user's last
    :data:`KNOWN_IDENTITIES` distinct devices and IPs (most recent first): a user who shops from a
    phone and a laptop is not on a "new device" each time they switch, a stranger's device is.
    ``to_bytes()`` is 48 bytes plus 4 per remembered event (176 bytes at L=32).
    """

    last_ts_ms: int = -1
    last_item: int = 0
    last_category: int = 0
    devices: tuple[int, ...] = ()
    ips: tuple[int, ...] = ()
    codes: bytes = b""

    def advance(self, event: Event, history_length: int) -> bytes:
        """Append ``event``'s code, forget codes beyond ``history_length`` and return the new code."""
        item, category = _fingerprint(event.item_id), _fingerprint(event.category_id)
        device, ip = _fingerprint(event.device_id), _fingerprint(event.ip)  # each id's fingerprint, once
        code = self._code_for(event, item, category, device, ip)
        self.codes = (self.codes + code)[-history_length * CODE_BYTES :]
        # An event out of order (within the watermark bound) must not move the clock back: the next
        # event's gap is measured from the newest time seen. On time-sorted input this is event.ts_ms.
        self.last_ts_ms = max(self.last_ts_ms, event.ts_ms)
        self.last_item = item or self.last_item
        self.last_category = category or self.last_category
        self.devices = _remember(self.devices, device)
        self.ips = _remember(self.ips, ip)
        return code

    def _code_for(self, event: Event, item: int, category: int, device: int, ip: int) -> bytes:
        """``event``'s code; ``item`` .. ``ip`` are the fingerprints of its ids."""
        gap = None if self.last_ts_ms < 0 else event.ts_ms - self.last_ts_ms
        flags = 0
        for current, known, flag in (
            (item, (self.last_item,), NEW_ITEM),
            (category, (self.last_category,), NEW_CATEGORY),
            (device, self.devices, NEW_DEVICE),
            (ip, self.ips, NEW_IP),
        ):
            if current and any(known) and current not in known:
                flags |= flag
        gap_bucket = _gap_bucket(gap)
        if not flags & (NEW_DEVICE | NEW_IP) and self._stays_on_fresh_identity(device, ip, gap_bucket):
            flags |= FRESH_IDENTITY
        amounts = (_bucket(event.price, PRICE_EDGES) << 4) | _bucket(event.quantity, QUANTITY_EDGES)
        flags |= (event.rating or 0) << RATING_SHIFT
        return bytes((_TYPE_CODES[event.event_type], gap_bucket, amounts, flags))

    def _stays_on_fresh_identity(self, device: int, ip: int, gap_bucket: int) -> bool:
        """Whether the event on ``device`` and ``ip`` (fingerprints) goes on, in the previous event's visit,
        on the device and IP that were new in it.

        Only the previous code is needed: it carries the flag on from the event that was new.
        """
        if not self.codes or not 0 < gap_bucket <= _LAST_VISIT_GAP_BUCKET or not self.codes[-1] & _NEW_IDENTITY:
            return False
        return device in (0, *self.devices[:1]) and ip in (0, *self.ips[:1])

    def to_bytes(self) -> bytes:
        return (
            _CONTEXT.pack(
                self.last_ts_ms, self.last_item, self.last_category, *_padded(self.devices), *_padded(self.ips)
            )
            + self.codes
        )

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "UserHistory":
        if not data:
            return cls()
        head = _CONTEXT.unpack_from(data)
        n = KNOWN_IDENTITIES
        devices, ips = head[3 : 3 + n], head[3 + n : 3 + 2 * n]
        return cls(
            *head[:3],
            devices=tuple(filter(None, devices)),
            ips=tuple(filter(None, ips)),
            codes=bytes(data[_CONTEXT.size :]),
        )


def _remember(known: tuple[int, ...], current: int) -> tuple[int, ...]:
    """``current`` first, then the others it displaces, at most :data:`KNOWN_IDENTITIES` (0 = absent: unchanged)."""
    if not current:
        return known
    return ((current,) + tuple(k for k in known if k != current))[:KNOWN_IDENTITIES]


def _padded(known: tuple[int, ...]) -> tuple[int, ...]:
    return known + (0,) * (KNOWN_IDENTITIES - len(known))


def encode_user_events(events: Iterable[Event], history_length: int) -> list[bytes]:
    """The window of codes after each of one user's events, in the order given (as the job sees them)."""
    history = UserHistory()
    windows = []
    for event in events:
        history.advance(event, history_length)
        windows.append(history.codes)
    return windows


def codes_array(windows: Sequence[bytes], history_length: int) -> np.ndarray:
    """Windows of codes as a ``uint8`` array ``[batch, L, 4]``, left-padded with zeros."""
    out = np.zeros((len(windows), history_length, CODE_BYTES), dtype=np.uint8)
    for row, window in enumerate(windows):
        codes = np.frombuffer(window, dtype=np.uint8)[-history_length * CODE_BYTES :].reshape(-1, CODE_BYTES)
        if len(codes):
            out[row, history_length - len(codes) :] = codes
    return out


_TYPE_ONE_HOT = np.vstack([np.zeros(len(EVENT_TYPES)), np.eye(len(EVENT_TYPES))]).astype(np.float32)


def batch_features(windows: Sequence[bytes], history_length: int) -> np.ndarray:
    """Model input ``float32 [batch, L, len(FEATURE_NAMES)]`` for a batch of windows of codes."""
    codes = codes_array(windows, history_length)
    kind, gap, amounts, flags = (codes[..., i] for i in range(CODE_BYTES))
    present = (kind > 0).astype(np.float32)
    columns = [
        _TYPE_ONE_HOT[np.minimum(kind, len(EVENT_TYPES))],
        (gap / 15.0)[..., None],
        ((gap == 0) * present)[..., None],
        ((gap > 0) & (gap < _FAST_GAP_BUCKET))[..., None],
        ((amounts >> 4) / 7.0)[..., None],
        ((amounts & 0x0F) / 6.0)[..., None],
        ((flags >> RATING_SHIFT) / 5.0)[..., None],
        *[((flags & bit) > 0)[..., None] for _, bit in _FLAG_NAMES],
        present[..., None],
    ]
    return np.concatenate([c.astype(np.float32) for c in columns], axis=-1)


def describe_codes(window: bytes) -> dict[str, int]:
    """Counts an analyst can read: events per type, fast gaps and changes in the window."""
    codes = np.frombuffer(window, dtype=np.uint8).reshape(-1, CODE_BYTES)
    counts: dict[str, int] = {"events": len(codes)}
    for kind in codes[:, 0]:
        if kind:
            name = EVENT_TYPES[min(int(kind), len(EVENT_TYPES)) - 1]
            counts[name] = counts.get(name, 0) + 1
    counts["fast_gaps"] = int(((codes[:, 1] > 0) & (codes[:, 1] < _FAST_GAP_BUCKET)).sum())
    for name, bit in _FLAG_NAMES:
        counts[name] = int(((codes[:, 3] & bit) > 0).sum())
    return counts


def describe_event_code(code: bytes) -> str:
    """One event code in words, for an alert's reasons.

    >>> describe_event_code(bytes((_TYPE_CODES["payment_failed"], 1, (1 << 4) | 1, NEW_DEVICE)))
    'payment_failed 0.5 s or less after the previous event, price under 5, quantity 1, new device'
    >>> describe_event_code(bytes((_TYPE_CODES["purchase"], 6, 7 << 4, FRESH_IDENTITY)))
    'purchase 30 s or less after the previous event, price 1000 or more, still on the new device or IP of this visit'
    >>> describe_event_code(bytes((_TYPE_CODES["review"], 15, 0, 1 << RATING_SHIFT)))
    'review more than 24 h after the previous event, rating 1 of 5'
    """
    kind, gap, amounts, flags = code[:CODE_BYTES]
    parts = [EVENT_TYPES[min(kind, len(EVENT_TYPES)) - 1] if kind else "padding"]
    if gap == 0:
        parts[0] += " (first event seen)"
    elif gap <= len(GAP_EDGES_S):
        parts[0] += f" {_seconds(GAP_EDGES_S[gap - 1])} or less after the previous event"
    else:
        parts[0] += f" more than {_seconds(GAP_EDGES_S[-1])} after the previous event"
    price, quantity = amounts >> 4, amounts & 0x0F
    if price:
        parts.append(
            f"price under {PRICE_EDGES[price - 1]:g}"
            if price <= len(PRICE_EDGES)
            else f"price {PRICE_EDGES[-1]:g} or more"
        )
    if quantity:
        parts.append(
            f"quantity {QUANTITY_EDGES[quantity - 1]}"
            if quantity == 1
            else f"quantity up to {QUANTITY_EDGES[quantity - 1]}"
            if quantity <= len(QUANTITY_EDGES)
            else f"quantity over {QUANTITY_EDGES[-1]}"
        )
    parts += [name.replace("_", " ") for name, bit in _FLAG_NAMES if flags & bit]
    if flags & FRESH_IDENTITY:
        parts.append("still on the new device or IP of this visit")
    if flags >> RATING_SHIFT:
        parts.append(f"rating {flags >> RATING_SHIFT} of 5")
    return ", ".join(parts)


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:g} h"
    if value >= 60:
        return f"{value / 60:g} min"
    return f"{value:g} s"
