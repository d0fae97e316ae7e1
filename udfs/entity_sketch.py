"""What the job keeps per device or IP: a fixed-size sketch of the accounts behind it, and its figures.

Many accounts on one device or one network is what rings and click farms look like; many accounts on
a carrier NAT or an office IP is what honest crowds look like. Per entity (a device or IP pseudonym)
:class:`EntitySketch` keeps, in one byte string of bounded size whatever the traffic:

* the :data:`RECENT_ACCOUNTS` most recently seen accounts (id, first and last time here, whether they
  signed up here, their failures, 16-bit hashes of the last two distinct items they bought, carted or favorited),
  least recently seen evicted first, and the newest time an evicted account was seen;
* for each window of :data:`WINDOWS` (1 h, 24 h, 30 days), three HyperLogLog sketches of
  :data:`REGISTERS` registers over consecutive half-windows, so their union covers between one and
  one and a half windows back;
* failed payments and failed logins, counted in the same half-day buckets as the 24 h sketches.

A figure is exact while the recent-accounts list holds every account of its window (no account seen
within the window was evicted): small rings are counted exactly. Past that, the count of distinct
accounts is the larger of the list's and the sketch's (standard error about a quarter), which tells a
busy IP from a quiet one, all the figures need there. The state never grows with the traffic:
:data:`MAX_STATE_BYTES` bounds it (with account ids of up to :data:`MAX_ID_BYTES` bytes). Its bytes start with
the layout tag :data:`LAYOUT` (:mod:`~shopguard.udfs.state_layout`).

Every figure counts the event's own account. The same code computes the figures in the job
(:mod:`shopguard.udfs.entity_streams`) and offline (the evaluation replays events through it in
event-time order across users), so the two cannot drift apart.

Example
-------
>>> sketch = EntitySketch()
>>> for n, user in enumerate(["u1", "u2", "u3"]):
...     figures = sketch.observe(user, "signup", 1_600_000_000_000 + 60_000 * n, "", signed_up=True)
>>> figures.accounts_1h, figures.accounts_24h, figures.new_accounts_24h
(3.0, 3.0, 3.0)
>>> figures = sketch.observe("u1", "purchase", 1_600_000_300_000, "i9")
>>> figures.accounts_1h, figures.same_item_accounts_24h
(3.0, 1.0)
>>> restored = EntitySketch.from_bytes(sketch.to_bytes())
>>> restored.observe("u2", "purchase", 1_600_000_400_000, "i9").same_item_accounts_24h
2.0
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from shopguard.udfs.state_layout import StateLayout

HOUR_S, DAY_S = 3600, 86400
WINDOWS: tuple[int, ...] = (HOUR_S, DAY_S, 30 * DAY_S)
"""The windows, in seconds, over which distinct accounts are counted."""
RECENT_ACCOUNTS = 16
"""Accounts remembered by id per entity: rings up to this size are counted and named exactly."""
REGISTERS = 16
"""HyperLogLog registers per half-window sketch."""
BUCKETS = 3
"""Half-window sketches per window (the current one and the two before it)."""
MAX_ID_BYTES = 64
"""Account ids are stored up to this many UTF-8 bytes; a longer one as its first bytes, ``~`` and a hash."""
TYPICAL_ID_BYTES = 36
"""A UUID's length: with ids up to this long, an entity's state stays within 1 KB (:data:`MAX_STATE_BYTES` is the
bound for the longest ids)."""

FAILED_PAYMENT, FAILED_LOGIN, SIGNUP = "payment_failed", "login_failed", "signup"
ITEM_EVENTS = frozenset({"purchase", "add_to_cart", "checkout", "favorite"})
"""Events whose item counts as pushed together (``same_item_accounts_24h``): bought, carted or favorited, what
fake orders and click farms do to an item; a view is not counted (everyone views popular items)."""

LAYOUT = StateLayout("entity_sketch", 1)
"""The tag :meth:`EntitySketch.to_bytes` starts with; raise its version whenever the bytes' layout changes."""
_HEADER = struct.Struct("<IIB")  # newest event time (s), newest evicted account's time, count
_WINDOW = struct.Struct(f"<f{BUCKETS * REGISTERS}s")  # the estimate, the sketches (the half-window follows from now_s)
_FAILS = struct.Struct(f"<{2 * BUCKETS}H")  # failed payments, failed logins per 12 h bucket (newest first)
_NEW, _CARTED, _LINKED = 1, 2, 4
_ALPHA = 0.673  # HyperLogLog's bias correction for 16 registers
_DAY_WINDOW = 1
_STALE = -1.0  # an estimate to compute again (its sketches changed)
_ENTRY_BYTES = 4 + 4 + 1 + 1 + 2 + 2 + 1  # first and last seen, flags, failures, two item hashes, the id's separator
MAX_STATE_BYTES = (
    len(LAYOUT.tag)
    + _HEADER.size
    + len(WINDOWS) * _WINDOW.size
    + _FAILS.size
    + RECENT_ACCOUNTS * (_ENTRY_BYTES + MAX_ID_BYTES)
)
"""The most an entity's state can take, in bytes."""


class EntityFigures(NamedTuple):
    """What one event's device or IP looks like across accounts, as of that event (its account included)."""

    accounts_1h: float
    accounts_24h: float
    accounts_30d: float
    new_accounts_24h: float
    failed_payments_24h: float
    failed_logins_24h: float
    same_item_accounts_24h: float


FIGURE_NAMES: tuple[str, ...] = EntityFigures._fields
NO_FIGURES = EntityFigures(*([math.nan] * len(FIGURE_NAMES)))
"""The figures of an event without that entity (no device id, or no IP)."""


class RecentAccount(NamedTuple):
    """One account the entity saw recently, as :meth:`EntitySketch.accounts_in` reports it."""

    account: str
    first_s: int
    last_s: int
    signed_up: bool
    failed_payments: int
    failed_logins: int
    item: int  # 16-bit hash of the item it last bought, carted or favorited here, 0 if none
    linked: bool = False  # its device was a ring at one of its events here (the IP step learns it from the row)
    earlier_item: int = 0  # the item it pushed here before ``item`` (another one), 0 if none

    def pushed(self) -> tuple[int, ...]:
        """The items it pushed here that the sketch remembers (the last two distinct ones)."""
        return tuple(i for i in (self.item, self.earlier_item) if i)


@dataclass
class EntitySketch:
    """One entity's bounded state (see the module docstring); :meth:`observe` advances it by one event.

    The recent accounts are kept as parallel columns (``accounts``, ``first``, ``last``, ``flags``,
    ``fails``, ``items``, ``earlier_items``) so that lookups and counts run over plain lists.
    """

    now_s: int = 0
    evicted_s: int = 0
    window_index: list[int] = field(default_factory=lambda: [0] * len(WINDOWS))
    estimates: list[float] = field(default_factory=lambda: [0.0] * len(WINDOWS))
    registers: list[bytearray] = field(default_factory=lambda: [bytearray(BUCKETS * REGISTERS) for _ in WINDOWS])
    failures: list[int] = field(default_factory=lambda: [0] * (2 * BUCKETS))
    accounts: list[str] = field(default_factory=list)
    first: list[int] = field(default_factory=list)
    last: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    fails: list[int] = field(default_factory=list)  # failed payments in the low 4 bits, logins in the high 4
    items: list[int] = field(default_factory=list)
    earlier_items: list[int] = field(default_factory=list)  # the distinct item pushed before the last one

    def observe(
        self, account: str, event_type: str, ts_ms: int, item_id: str, signed_up: bool = False, linked: bool = False
    ) -> EntityFigures:
        """Count one event of ``account`` (``signed_up``: it is, or follows, its signup; ``linked``: its device is a
        ring at this event) and return the figures."""
        ts_s = ts_ms // 1000
        if ts_s > self.now_s:
            self.now_s = ts_s
            self._rotate()
        account = _stored_id(account)
        self._count_distinct(account)
        item = _item_hash(item_id) if item_id and event_type in ITEM_EVENTS else 0
        self._remember(account, ts_s, event_type, item, signed_up or event_type == SIGNUP, linked)
        if event_type == FAILED_PAYMENT:
            self.failures[0] = min(self.failures[0] + 1, 0xFFFF)
        elif event_type == FAILED_LOGIN:
            self.failures[BUCKETS] = min(self.failures[BUCKETS] + 1, 0xFFFF)
        return self.figures(item)

    def figures(self, item: int = 0) -> EntityFigures:
        """The figures as of the newest event (``item``: the hash of the item the event bought, 0 if none)."""
        day_ago = self.now_s - DAY_S
        last, first, flags = self.last, self.first, self.flags
        new = same_item = 0
        if any(flags):
            new = sum(1 for i, t in enumerate(last) if t > day_ago and flags[i] & _NEW and first[i] > day_ago)
        if item:
            same_item = sum(1 for i, t in enumerate(last) if t > day_ago and self.items[i] == item)
        failures = self.failures
        return EntityFigures(
            self.distinct_accounts(0),
            self.distinct_accounts(1),
            self.distinct_accounts(2),
            float(new),
            float(failures[0] + failures[1] + failures[2]),
            float(failures[3] + failures[4] + failures[5]),
            float(same_item),
        )

    def distinct_accounts(self, window: int) -> float:
        """Distinct accounts seen within ``WINDOWS[window]`` seconds of the newest event."""
        since = self.now_s - WINDOWS[window]
        listed = sum(map(since.__lt__, self.last))
        if self.evicted_s <= since:  # no account of the window was evicted: the list is exact
            return float(listed)
        if self.estimates[window] == _STALE:
            self.estimates[window] = _estimate(self.registers[window])
        return float(max(listed, round(self.estimates[window])))

    def acting_accounts(self, seconds: int) -> int:
        """Remembered accounts seen within ``seconds`` that signed up, bought or carted, or failed something here."""
        since = self.now_s - seconds
        return sum(1 for t, f, x in zip(self.last, self.flags, self.fails) if t > since and (f or x))

    def linked_accounts(self, seconds: int) -> int:
        """Remembered accounts seen within ``seconds`` whose device was a ring at one of their events here."""
        since = self.now_s - seconds
        return sum(1 for t, f in zip(self.last, self.flags) if t > since and f & _LINKED)

    def accounts_in(self, seconds: int) -> list[RecentAccount]:
        """The remembered accounts seen within ``seconds`` of the newest event, the earliest first."""
        since = self.now_s - seconds
        found = [
            RecentAccount(
                a,
                self.first[i],
                self.last[i],
                bool(self.flags[i] & _NEW),
                self.fails[i] & 15,
                self.fails[i] >> 4,
                self.items[i],
                bool(self.flags[i] & _LINKED),
                self.earlier_items[i],
            )
            for i, a in enumerate(self.accounts)
            if self.last[i] > since
        ]
        return sorted(found, key=lambda a: a.first_s)

    def _rotate(self) -> None:
        for w, seconds in enumerate(WINDOWS):
            index = self.now_s // (seconds // 2)
            shift = min(index - self.window_index[w], BUCKETS)
            if shift > 0:
                self.window_index[w] = index
                kept = bytes(self.registers[w][: (BUCKETS - shift) * REGISTERS])
                self.registers[w] = bytearray(shift * REGISTERS) + kept
                self.estimates[w] = _STALE
                if w == _DAY_WINDOW:
                    payments, logins = self.failures[:BUCKETS], self.failures[BUCKETS:]
                    self.failures = ([0] * shift + payments)[:BUCKETS] + ([0] * shift + logins)[:BUCKETS]

    def _count_distinct(self, account: str) -> None:
        mixed = (zlib.crc32(account.encode("utf-8", "surrogatepass")) * 0x9E3779B1) & 0xFFFFFFFF
        register, rank = mixed >> 28, 29 - (mixed & 0x0FFFFFFF).bit_length()
        for w, registers in enumerate(self.registers):  # the current half-window of every window
            if registers[register] < rank:
                registers[register] = rank
                self.estimates[w] = _STALE  # computed when a figure needs it: never while the list is exact

    def _remember(self, account: str, ts_s: int, event_type: str, item: int, signed_up: bool, linked: bool) -> None:
        try:
            i = self.accounts.index(account)
        except ValueError:
            if len(self.accounts) >= RECENT_ACCOUNTS:
                oldest = self.last.index(min(self.last))
                self.evicted_s = max(self.evicted_s, self.last[oldest])
                for column in self._columns():
                    del column[oldest]
            for column, value in zip(self._columns(), (account, ts_s, ts_s, 0, 0, 0, 0)):
                column.append(value)
            i = len(self.accounts) - 1
        if ts_s < self.first[i]:
            self.first[i] = ts_s
        if ts_s > self.last[i]:
            self.last[i] = ts_s
        if signed_up:
            self.flags[i] |= _NEW
        if linked:
            self.flags[i] |= _LINKED
        if item:
            self.flags[i] |= _CARTED
            if item != self.items[i]:
                self.earlier_items[i] = self.items[i]
                self.items[i] = item
        if event_type == FAILED_PAYMENT:
            fails = self.fails[i]
            self.fails[i] = (fails & 0xF0) | min((fails & 0x0F) + 1, 15)
        elif event_type == FAILED_LOGIN:
            fails = self.fails[i]
            self.fails[i] = (fails & 0x0F) | (min((fails >> 4) + 1, 15) << 4)

    def _columns(self) -> tuple[list, ...]:
        return (self.accounts, self.first, self.last, self.flags, self.fails, self.items, self.earlier_items)

    def to_bytes(self) -> bytes:
        n = len(self.accounts)
        parts = [LAYOUT.tag, _HEADER.pack(self.now_s, self.evicted_s, n)]
        for estimate, registers in zip(self.estimates, self.registers):
            parts.append(_WINDOW.pack(estimate, bytes(registers)))
        parts.append(_FAILS.pack(*self.failures))
        columns = (*self.first, *self.last, *self.flags, *self.fails, *self.items, *self.earlier_items)
        parts.append(_columns(n).pack(*columns))
        parts.append("\x00".join(self.accounts).encode("utf-8", "surrogatepass"))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "EntitySketch":
        """Read :meth:`to_bytes`; :class:`~shopguard.udfs.state_layout.UnreadableState` for bytes of another layout."""
        return LAYOUT.decode(data, cls._decode) if data else cls()

    @classmethod
    def _decode(cls, data: bytes) -> "EntitySketch":
        now_s, evicted_s, n = _HEADER.unpack_from(data)
        indexes = [now_s // (seconds // 2) for seconds in WINDOWS]  # every observe rotates the windows to now_s
        position, estimates, registers = _HEADER.size, [], []
        for _ in WINDOWS:
            estimate, raw = _WINDOW.unpack_from(data, position)
            estimates.append(estimate)
            registers.append(bytearray(raw))
            position += _WINDOW.size
        failures = list(_FAILS.unpack_from(data, position))
        position += _FAILS.size
        columns = _columns(n)  # IndexError past RECENT_ACCOUNTS
        values = columns.unpack_from(data, position)
        position += columns.size
        accounts = bytes(data[position:]).decode("utf-8", "surrogatepass").split("\x00") if n else []
        if len(accounts) != n or (not n and position != len(data)):
            raise ValueError(f"{n} accounts announced, {len(accounts)} stored")
        return cls(
            now_s,
            evicted_s,
            indexes,
            estimates,
            registers,
            failures,
            accounts,
            list(values[:n]),
            list(values[n : 2 * n]),
            list(values[2 * n : 3 * n]),
            list(values[3 * n : 4 * n]),
            list(values[4 * n : 5 * n]),
            list(values[5 * n :]),
        )


_COLUMNS = [struct.Struct(f"<{n}I{n}I{n}B{n}B{n}H{n}H") for n in range(RECENT_ACCOUNTS + 1)]


def _columns(n: int) -> struct.Struct:
    return _COLUMNS[n]


def _stored_id(account: str) -> str:
    """The account id as the sketch keeps it: at most :data:`MAX_ID_BYTES` UTF-8 bytes, no NUL (the separator).

    >>> len(_stored_id("x" * 100)), _stored_id("x" * 100)[-17:-16]
    (64, '~')
    """
    raw = account.replace("\x00", "?").encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_ID_BYTES:
        return raw.decode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(raw, digest_size=8).hexdigest()
    return raw[: MAX_ID_BYTES - 17].decode("utf-8", "ignore") + "~" + digest


def _item_hash(item_id: str) -> int:
    """16 bits standing for an item (never 0, which means no item)."""
    return (zlib.crc32(item_id.encode("utf-8", "surrogatepass")) & 0xFFFF) or 1


_INVERSE_POWERS = [2.0**-rank for rank in range(64)]


def _estimate(registers: bytearray) -> float:
    """HyperLogLog's estimate of the distinct accounts in the union of a window's half-window sketches.

    >>> round(_estimate(bytearray(BUCKETS * REGISTERS)))
    0
    """
    union = list(map(max, *(registers[b * REGISTERS : (b + 1) * REGISTERS] for b in range(BUCKETS))))
    raw = _ALPHA * REGISTERS * REGISTERS / sum(_INVERSE_POWERS[rank] for rank in union)
    empty = union.count(0)
    if raw <= 2.5 * REGISTERS and empty:
        return REGISTERS * math.log(REGISTERS / empty)  # linear counting for small sets
    return raw
