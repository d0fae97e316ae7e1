"""Rating manipulation across accounts: a group of accounts giving one item the same extreme rating.

The job keys an item's review and purchase events by the item (:mod:`shopguard.udfs.item_step`) and keeps,
per item, :class:`ItemSketch`, one byte string of bounded size whatever the item's traffic:

* the :data:`RECENT_REVIEWERS` most recent reviewers (id, time, stars, whether the job saw them buy the
  item before their review), least recent evicted first, and the newest time an evicted one reviewed;
* the reviews of the last three days per star, per star those of accounts that never bought the item, and the
  purchases, in three buckets of a day and a half (so the window covers three to four and a half days back: a
  group that spreads its ratings over days is still one group);
* the item's own past, the reviews that left that window, per star, decayed with :data:`PAST_TAU_S` (a month);
* the recent buyers: a Bloom filter per half-month (two halves, 512 bits each): an account the filter holds
  bought the item in the last two to four weeks. A hot item saturates it, so its reviewers all look like
  buyers; that only ever takes away evidence.

:func:`rating_evidence` reads it after a review: for each extreme (5 stars to push an item, 1 to sink a rival's),
how many accounts gave it within the window and how many of them never bought the item, against what this
item's past (blended with the population's figures, which weigh as one day of past) makes expected.
:class:`ItemRule` calls the item manipulated when at least ``min_accounts`` accounts gave it the same extreme
rating and that count is both improbable (a Poisson tail below ``max_tail_probability``) and at least
``burst_ratio`` times what was expected, and the group makes :data:`GROUP_MIN_SHARE` of the window's rated reviews.
A popular item's ordinary stream (mostly 5 stars, then 4, a bump at 1) is mixed and is what its own past expects, so
it raises nothing; the same test runs on the accounts that never bought the item alone (the blunt form: their burst
stands out even on a busy item whose reviewers bought it), and on all who gave the rating (the subtle form, a ring
that buys before it rates). An item that the job watched for less than a day (every item when the job starts) and
that sold at least as often as the group counts accounts is also asked that the group be improbable among its
window's reviews as the population rates (:data:`YOUNG_ITEM_MAX_TAIL`), so a popular item's first busy hour is no
burst. A hot item's buyers fill its filter, so there only the second test can speak, and a group is lost in a stream
it does not dominate.

:class:`ItemWatch` raises a ring-style alert (``alert_kind`` ``"ring"``, ``entity_type`` ``"item"``,
``anomaly_type`` ``"review_abuse"``) through the same cool-down as the device and IP rings, naming the group's
accounts, with reasons in words ("12 accounts gave this item 5 stars within 3 h; 9 of them never bought it").

Example
-------
>>> sketch = ItemSketch()
>>> _ = sketch.observe("buyer", "purchase", 1_600_000_000_000, 0)
>>> for n, user in enumerate(["buyer", "u1", "u2", "u3", "u4", "u5"]):
...     _ = sketch.observe(user, "review", 1_600_000_060_000 + 60_000 * n, 1)
>>> group = rating_evidence(sketch)[0]
>>> group.stars, group.accounts_given, group.never_bought
(1, 6, 5)
>>> ItemRule(5, 1e-6, 10.0).holds(group, sketch)
True
>>> ItemSketch.from_bytes(sketch.to_bytes()) == sketch
True
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from shopguard.udfs.alerts import rfc3339_ms
from shopguard.udfs.cool_down import decide
from shopguard.udfs.entity_rings import RingOutcome, RingRecord, named_accounts, ring_alert_id
from shopguard.udfs.entity_sketch import DAY_S, HOUR_S, _stored_id
from shopguard.udfs.state_layout import StateLayout

REVIEW, PURCHASE = "review", "purchase"
ITEM_FACT_TYPES = frozenset({REVIEW, PURCHASE})
"""The events an item's step sees: its reviews, and its purchases (to tell buyers from accounts that never bought)."""
EXTREMES = (5, 1)
"""The ratings a manipulation gives: 5 stars to push an item, 1 to sink a rival's."""
RECENT_REVIEWERS = 16
"""Reviewers remembered by id per item: a group up to this size is counted and named exactly."""
WINDOW_S = 3 * DAY_S
"""How far back a group's ratings are counted (whole half-window buckets: three to four and a half days)."""
BUCKETS = 3
_HALF_S = WINDOW_S // 2
PAST_TAU_S = 30 * DAY_S
"""Time constant of the item's decayed past (the reviews that left the window)."""
BUYERS_HALF_S = 15 * DAY_S
_BUYER_BITS, _BUYER_HASHES = 512, 3
YOUNG_ITEM_S = DAY_S
YOUNG_ITEM_MAX_TAIL = 1e-3
"""An item whose past in the job covers less than :data:`YOUNG_ITEM_S` (every item when the job starts) and that sold
at least as many times in the window as the group counts accounts (a popular item: its buyers outnumber its
reviewers) has no past to expect from: a group there must also be improbable among the window's rated reviews as
the population rates (a binomial tail below this), or a popular item's first busy hour would look like a burst."""
GROUP_MIN_SHARE = 0.9
"""A group must make at least this share of its window's rated reviews (of those by accounts that never bought the
item, for that group): a popular item's ordinary stream is mixed (about 60% 5 stars), a manipulation is not."""
POPULATION_STAR_SHARES = (0.07, 0.04, 0.08, 0.21, 0.60)
"""1..5 stars: the J shape of shop reviews. An assumption (the simulator's): no data we hold has real ratings."""
POPULATION_REVIEWS_PER_DAY = 1.0
"""The reviews a day an item is assumed to get before its own past says otherwise (weighs as one day of past)."""
POPULATION_NEVER_BOUGHT_SHARE = 0.2
"""The share of an item's honest reviews assumed to come from accounts the job never saw buy it."""
_PRIOR_S = DAY_S

LAYOUT = StateLayout("item_sketch", 1, reads_untagged=True)  # the body is the layout before the tag
"""The tag :meth:`ItemSketch.to_bytes` starts with; raise its version whenever the bytes' layout changes."""
_HEADER = struct.Struct("<IIIIIB")  # newest review time, first seen, window index, buyers index, evicted time, n
_PAST = struct.Struct("<10f")  # decayed past reviews per star, then those of accounts that never bought
_SLOTS = 11  # per bucket: rated reviews per star, the same by accounts that never bought it, purchases
_RECENT = struct.Struct(f"<{BUCKETS * _SLOTS}H")  # the buckets, newest first
_BUYERS = struct.Struct(f"<{2 * _BUYER_BITS // 8}s")
_ENTRY_BYTES = 4 + 1 + 1 + 1  # time, stars, bought, the id's separator
MAX_STATE_BYTES = (  # the bytes start with the layout tag (udfs/state_layout.py)
    len(LAYOUT.tag) + _HEADER.size + _PAST.size + _RECENT.size + _BUYERS.size + RECENT_REVIEWERS * (_ENTRY_BYTES + 64)
)
"""The most an item's state can take, in bytes (account ids of up to 64 bytes)."""


@dataclass
class ItemSketch:
    """One item's bounded state (see the module docstring); :meth:`observe` advances it by one review or purchase."""

    now_s: int = 0
    first_seen_s: int = 0
    window_index: int = 0
    buyers_index: int = 0
    evicted_s: int = 0
    past: list[float] = field(default_factory=lambda: [0.0] * 10)
    recent: list[int] = field(default_factory=lambda: [0] * (BUCKETS * _SLOTS))
    buyers: bytearray = field(default_factory=lambda: bytearray(2 * _BUYER_BITS // 8))
    accounts: list[str] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    stars: list[int] = field(default_factory=list)
    bought: list[int] = field(default_factory=list)

    def observe(self, account: str, event_type: str, ts_ms: int, rating: int) -> bool:
        """Count one event of the item; True when it is a rated review (the only event that can make a group)."""
        ts_s = ts_ms // 1000
        if not self.first_seen_s:
            self.first_seen_s = ts_s
            self.window_index, self.buyers_index = ts_s // _HALF_S, ts_s // BUYERS_HALF_S
        if ts_s > self.now_s:
            self.now_s = ts_s
            self._rotate()
        account = _stored_id(account)
        if event_type == PURCHASE:
            self._add_buyer(account)
            self.recent[10] = min(self.recent[10] + 1, 0xFFFF)
            return False
        if event_type != REVIEW or not 1 <= rating <= 5:
            return False
        bought = self.has_bought(account)
        self.recent[rating - 1] = min(self.recent[rating - 1] + 1, 0xFFFF)
        if not bought:
            self.recent[4 + rating] = min(self.recent[4 + rating] + 1, 0xFFFF)
        self._remember(account, ts_s, rating, bought)
        return True

    def has_bought(self, account: str) -> bool:
        """Whether the buyers' filter holds ``account`` (it bought the item within the last two to four weeks)."""
        half = _BUYER_BITS // 8
        for h in (self.buyers[:half], self.buyers[half:]):
            if all(h[bit >> 3] & (1 << (bit & 7)) for bit in _buyer_bits(account)):
                return True
        return False

    def window_start_s(self) -> int:
        """The oldest time the window's buckets cover."""
        return (self.window_index - BUCKETS + 1) * _HALF_S

    def given(self, stars: int, never_bought: bool = False) -> int:
        """Accounts that gave ``stars`` within the window (of them, those that never bought it): exact while
        no reviewer of the window was evicted, else the larger of the remembered count and the reviews counted."""
        listed = len(self.group(stars, never_bought))
        if self.evicted_s < self.window_start_s():
            return listed
        offset = 4 + stars if never_bought else stars - 1
        return max(listed, sum(self.recent[b * _SLOTS + offset] for b in range(BUCKETS)))

    def group(self, stars: int, never_bought: bool = False) -> list[int]:
        """Positions of the remembered reviewers who gave ``stars`` within the window (that never bought it)."""
        since = self.window_start_s()
        return [
            i
            for i, (t, s, b) in enumerate(zip(self.times, self.stars, self.bought))
            if t >= since and s == stars and not (never_bought and b)
        ]

    def rated_in_window(self, never_bought: bool = False) -> int:
        """Rated reviews counted within the window, any stars (by accounts that never bought the item)."""
        offset = 5 if never_bought else 0
        return sum(self.recent[b * _SLOTS + offset + s] for b in range(BUCKETS) for s in range(5))

    def purchases_in_window(self) -> int:
        """Purchases of the item counted within the window."""
        return sum(self.recent[b * _SLOTS + 10] for b in range(BUCKETS))

    def expected(self, stars: int, never_bought: bool = False) -> float:
        """Reviews of ``stars`` (by accounts that never bought it) the window would hold were it like the item's past,
        blended with the population's figures, which weigh as one day of past; over the part of the window since the
        item appeared (at least an hour)."""
        exposure = PAST_TAU_S * (1.0 - math.exp(-self.watched_s() / PAST_TAU_S))
        prior = POPULATION_REVIEWS_PER_DAY * POPULATION_STAR_SHARES[stars - 1] * _PRIOR_S / DAY_S
        if never_bought:
            prior *= POPULATION_NEVER_BOUGHT_SHARE
        past = self.past[4 + stars if never_bought else stars - 1]
        rate = (past + prior) / (exposure + _PRIOR_S)
        observed = self.now_s - max(self.window_start_s(), self.first_seen_s)  # a new item: only since it appeared
        return rate * max(HOUR_S, observed)

    def watched_s(self) -> int:
        """How long the job watched the item before its window: the past its expectations come from."""
        return max(0, self.window_start_s() - self.first_seen_s)

    def _rotate(self) -> None:
        index = self.now_s // _HALF_S
        shift = index - self.window_index
        if shift > 0:
            leaving = self.recent[max(0, BUCKETS - shift) * _SLOTS :]
            decay = math.exp(-shift * _HALF_S / PAST_TAU_S)
            self.past = [p * decay + sum(leaving[k::_SLOTS]) for k, p in enumerate(self.past)]
            kept = self.recent[: max(0, BUCKETS - shift) * _SLOTS]
            self.recent = [0] * (min(shift, BUCKETS) * _SLOTS) + kept
            self.window_index = index
        buyers_index = self.now_s // BUYERS_HALF_S
        shift = buyers_index - self.buyers_index
        if shift > 0:
            half = _BUYER_BITS // 8
            self.buyers = bytearray(half) + (self.buyers[:half] if shift == 1 else bytearray(half))
            self.buyers_index = buyers_index

    def _add_buyer(self, account: str) -> None:
        for bit in _buyer_bits(account):
            self.buyers[bit >> 3] |= 1 << (bit & 7)

    def _remember(self, account: str, ts_s: int, stars: int, bought: bool) -> None:
        if account in self.accounts:  # a second review by the same account: its latest rating counts
            i = self.accounts.index(account)
            for column in (self.accounts, self.times, self.stars, self.bought):
                del column[i]
        elif len(self.accounts) >= RECENT_REVIEWERS:
            oldest = self.times.index(min(self.times))
            self.evicted_s = max(self.evicted_s, self.times[oldest])
            for column in (self.accounts, self.times, self.stars, self.bought):
                del column[oldest]
        self.accounts.append(account)
        self.times.append(ts_s)
        self.stars.append(stars)
        self.bought.append(int(bought))

    def to_bytes(self) -> bytes:
        n = len(self.accounts)
        header = _HEADER.pack(self.now_s, self.first_seen_s, self.window_index, self.buyers_index, self.evicted_s, n)
        columns = struct.pack(f"<{n}I{n}B{n}B", *self.times, *self.stars, *self.bought)
        ids = "\x00".join(self.accounts).encode("utf-8", "surrogatepass")
        past, recent, buyers = _PAST.pack(*self.past), _RECENT.pack(*self.recent), _BUYERS.pack(bytes(self.buyers))
        return b"".join((LAYOUT.tag, header, past, recent, buyers, columns, ids))

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "ItemSketch":
        """Read :meth:`to_bytes`; :class:`~shopguard.udfs.state_layout.UnreadableState` for bytes of another layout."""
        return LAYOUT.decode(data, cls._decode) if data else cls()

    @classmethod
    def _decode(cls, data: bytes) -> "ItemSketch":
        now_s, first_s, window_index, buyers_index, evicted_s, n = _HEADER.unpack_from(data)
        position = _HEADER.size
        past = [float(p) for p in _PAST.unpack_from(data, position)]
        position += _PAST.size
        recent = list(_RECENT.unpack_from(data, position))
        position += _RECENT.size
        (buyers,) = _BUYERS.unpack_from(data, position)
        position += _BUYERS.size
        columns = struct.Struct(f"<{n}I{n}B{n}B")
        values = columns.unpack_from(data, position)
        position += columns.size
        accounts = bytes(data[position:]).decode("utf-8", "surrogatepass").split("\x00") if n else []
        if n > RECENT_REVIEWERS or len(accounts) != n or (not n and position != len(data)):
            raise ValueError(f"{n} reviewers announced, {len(accounts)} stored")
        return cls(
            now_s,
            first_s,
            window_index,
            buyers_index,
            evicted_s,
            past,
            recent,
            bytearray(buyers),
            accounts,
            list(values[:n]),
            list(values[n : 2 * n]),
            list(values[2 * n :]),
        )

    def __eq__(self, other) -> bool:  # the past is stored as 32-bit floats
        if not isinstance(other, ItemSketch):
            return NotImplemented
        same_past = all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(self.past, other.past))
        mine, theirs = dict(self.__dict__), dict(other.__dict__)
        mine.pop("past"), theirs.pop("past")
        return same_past and mine == theirs


def _buyer_bits(account: str) -> list[int]:
    digest = hashlib.blake2b(account.encode("utf-8", "surrogatepass"), digest_size=6).digest()
    return [int.from_bytes(digest[2 * k : 2 * k + 2], "little") % _BUYER_BITS for k in range(_BUYER_HASHES)]


class RatingGroup(NamedTuple):
    """Accounts that gave the item the same extreme rating within the window (one candidate group)."""

    stars: int
    accounts_given: int  # accounts that gave it within the window
    never_bought: int  # of them, accounts the job never saw buy the item
    expected_given: float  # what the item's past (and the population) expects of accounts_given
    expected_never_bought: float
    accounts: tuple[str, ...]  # the remembered ones, the earliest first
    first_s: int
    last_s: int


def rating_evidence(sketch: ItemSketch) -> list[RatingGroup]:
    """The extreme-rating groups of the item's window, one per extreme (5, then 1) that any account gave."""
    groups = []
    for stars in EXTREMES:
        positions = sorted(sketch.group(stars), key=lambda i: sketch.times[i])
        if not positions:
            continue
        groups.append(
            RatingGroup(
                stars,
                sketch.given(stars),
                sketch.given(stars, never_bought=True),
                sketch.expected(stars),
                sketch.expected(stars, never_bought=True),
                tuple(sketch.accounts[i] for i in positions),
                sketch.times[positions[0]],
                sketch.times[positions[-1]],
            )
        )
    return groups


def poisson_tail(n: int, mean: float) -> float:
    """P(X >= n) for X Poisson with ``mean``.

    >>> round(poisson_tail(1, 1.0), 4), poisson_tail(0, 3.0)
    (0.6321, 1.0)
    """
    if n <= 0:
        return 1.0
    term = math.exp(-mean)
    below = 0.0
    for k in range(n):
        below += term
        term *= mean / (k + 1)
    return max(0.0, 1.0 - below) if below < 0.999 else _upper_tail(n, mean)


def _upper_tail(n: int, mean: float) -> float:
    """P(X >= n) summed upwards (accurate when it is small)."""
    term = math.exp(-mean + n * math.log(mean) - math.lgamma(n + 1)) if mean > 0 else 0.0
    total, k = 0.0, n
    while term > total * 1e-12 and k < n + 1000:
        total += term
        k += 1
        term *= mean / k
    return total


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X binomial with ``n`` trials of probability ``p``.

    >>> round(binomial_tail(6, 6, 0.6), 4), binomial_tail(0, 5, 0.5)
    (0.0467, 1.0)
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * log_p + (n - j) * log_q
        for j in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(frozen=True)
class ItemRule:
    """When a rating group is a manipulation (see the module docstring)."""

    min_accounts: int
    max_tail_probability: float
    burst_ratio: float

    def surprising(self, count: int, expected: float) -> bool:
        """``count`` accounts are at least ``min_accounts``, ``burst_ratio`` times ``expected``, and improbable."""
        return (
            count >= self.min_accounts
            and count >= self.burst_ratio * expected
            and poisson_tail(count, expected) <= self.max_tail_probability
        )

    def judge(self, group: RatingGroup, sketch: ItemSketch) -> str | None:
        """``"never_bought"`` when the accounts that never bought it are the manipulation, ``"given"`` when all who
        gave the rating are, or None."""
        if sketch.watched_s() < YOUNG_ITEM_S and sketch.purchases_in_window() >= group.accounts_given:
            share = POPULATION_STAR_SHARES[group.stars - 1]
            if binomial_tail(group.accounts_given, sketch.rated_in_window(), share) > YOUNG_ITEM_MAX_TAIL:
                return None
        if self.surprising(group.never_bought, group.expected_never_bought) and group.never_bought >= (
            GROUP_MIN_SHARE * sketch.rated_in_window(never_bought=True)
        ):
            return "never_bought"
        if self.surprising(group.accounts_given, group.expected_given) and group.accounts_given >= (
            GROUP_MIN_SHARE * sketch.rated_in_window()
        ):
            return "given"
        return None

    def holds(self, group: RatingGroup, sketch: ItemSketch) -> bool:
        return self.judge(group, sketch) is not None


def group_text(group: RatingGroup) -> str:
    """The group in words.

    >>> group_text(RatingGroup(5, 12, 9, 0.6, 0.1, (), 0, 3 * 3600))
    '12 accounts gave this item 5 stars within 3 h; 9 of them never bought it'
    """
    stars = "1 star" if group.stars == 1 else f"{group.stars} stars"
    text = f"{group.accounts_given} accounts gave this item {stars} within {_span(group.last_s - group.first_s)}"
    if group.never_bought == group.accounts_given:
        return text + "; none of them bought it"
    return text + (f"; {group.never_bought} of them never bought it" if group.never_bought else "; all bought it")


def _span(seconds: int) -> str:
    if seconds < HOUR_S:
        return f"{max(1, round(seconds / 60))} min"
    return f"{round(seconds / HOUR_S)} h"


ITEM_ANOMALY = "review_abuse"


def item_alert(
    *,
    item: str,
    group: RatingGroup,
    judged: str,
    accounts: tuple[str, ...],
    sketch: ItemSketch,
    open_alert,
    event_id: str,
    event_ts: int,
    detected_at_ms: int,
) -> dict[str, Any]:
    """The alert message (``alert_kind`` ``"ring"``, ``entity_type`` ``"item"``) for an item's open alert."""
    usual = group.expected_never_bought if judged == "never_bought" else group.expected_given
    whose = "accounts that never bought it" if judged == "never_bought" else "accounts"
    stars = "1-star" if group.stars == 1 else f"{group.stars}-star"
    reasons = [
        {"feature": f"item_{group.stars}_star_accounts", "value": group.accounts_given, "text": group_text(group)},
        {
            "feature": f"item_expected_{group.stars}_star_{judged}",
            "value": round(usual, 3),
            "text": f"this item's past and the population expect {usual:.2f} {stars} ratings from {whose} "
            f"in such a window ({sketch.rated_in_window()} rated reviews in it, all stars)",
        },
    ]
    return {
        "alert_kind": "ring",
        "alert_id": open_alert.alert_id,
        "user_id": None,
        "revision": open_alert.revision,
        "entity_type": "item",
        "entity": item,
        "accounts": list(accounts),
        "account_count": len(accounts),
        "together": [
            {"activity": f"rated_{group.stars}_{judged}", "accounts": len(accounts), "text": group_text(group)}
        ],
        "since": rfc3339_ms(group.first_s * 1000),
        "event_id": event_id,
        "event_ts": rfc3339_ms(event_ts),
        "detected_at": rfc3339_ms(detected_at_ms),
        "score": float(open_alert.score),
        "anomaly_type": ITEM_ANOMALY,
        "figures": {
            "stars": group.stars,
            "accounts_given": group.accounts_given,
            "never_bought": group.never_bought,
            "expected_given": round(group.expected_given, 4),
            "expected_never_bought": round(group.expected_never_bought, 4),
            "rated_reviews_in_window": sketch.rated_in_window(),
        },
        "reasons": reasons,
    }


@dataclass(frozen=True)
class ItemWatch:
    """The item rule and the cool-down: the job's item step and the offline evaluation both call :meth:`observe`
    after each rated review, so they raise the same alerts."""

    rule: ItemRule
    cooldown_ms: int
    max_named_accounts: int

    def observe(
        self,
        item: str,
        sketch: ItemSketch,
        read_record: Callable[[], RingRecord],
        event_id: str,
        event_ts: int,
        detected_at_ms: int,
    ) -> RingOutcome:
        """After a rated review (the newest the sketch holds): only the group that review joined is judged, so an
        ordinary review after a group's alert cooled down does not raise it again. ``read_record`` is only called
        when a group holds (a keyed-state read in the job)."""
        found = None
        stars, bought = sketch.stars[-1], sketch.bought[-1]
        for group in rating_evidence(sketch):
            judged = self.rule.judge(group, sketch) if group.stars == stars else None
            if judged == "never_bought" and bought:
                judged = "given" if self.rule.judge(group._replace(never_bought=0), sketch) else None
            if judged is not None:
                found = group, judged
                break
        if found is None:
            return RingOutcome(None, None, None)
        group, judged = found
        if judged == "never_bought":
            group = group._replace(accounts=tuple(a for a in group.accounts if not _bought(sketch, a)))
        record = read_record()
        open_alert = record.alert
        if open_alert is not None and event_ts - open_alert.last_crossing_ts > self.cooldown_ms:
            open_alert, record = None, RingRecord()
        accounts = named_accounts(record.accounts, group, self.max_named_accounts)
        decision = decide(
            open_alert,
            event_ts=event_ts,
            score=float(len(accounts)),
            anomaly_type=ITEM_ANOMALY,
            new_alert_id=ring_alert_id("item", item, event_id),
            cooldown_ms=self.cooldown_ms,
            min_gain=1.0,
        )
        stored = RingRecord(decision.alert, accounts)
        if decision.action == "suppress":
            return RingOutcome(stored, decision.action, None)
        alert = item_alert(
            item=item,
            group=group,
            judged=judged,
            accounts=accounts,
            sketch=sketch,
            open_alert=decision.alert,
            event_id=event_id,
            event_ts=event_ts,
            detected_at_ms=detected_at_ms,
        )
        return RingOutcome(stored, decision.action, alert)


def _bought(sketch: ItemSketch, account: str) -> bool:
    return bool(sketch.bought[sketch.accounts.index(account)])


def item_watch(settings, job) -> ItemWatch:
    """The item rule and cool-down as ``entities`` (:class:`~shopguard.config.EntitySettings`) and ``job`` give them."""
    return ItemWatch(
        ItemRule(settings.item_min_accounts, settings.item_max_tail_probability, settings.item_burst_ratio),
        job.alert_cooldown_ms,
        settings.ring_max_named_accounts,
    )


__all__ = [
    "EXTREMES",
    "ITEM_ANOMALY",
    "ITEM_FACT_TYPES",
    "ItemRule",
    "ItemSketch",
    "ItemWatch",
    "RatingGroup",
    "item_watch",
    "poisson_tail",
    "rating_evidence",
]
