"""Returning shoppers: people who come back for weeks, each with personal habits that persist.

:class:`ReturningShopperSimulator` draws each shopper's :class:`ShopperHabits` once (devices and their
IPs, networks away from home, signing in or not, searching or not, funnel style, reading speed,
breadth, favourite categories, visits per week, price level, usual hour) and then their visits over
weeks from those habits, so that one shopper's visits resemble each other and differ from other
people's: the data a per-user detector learns a profile from, and that "same account, different
person" stands out against.

Within a visit the figures reuse the calibration on the real Taobao slice
(:class:`~shopguard.training.behaviour_stats.BehaviourStats`): the gap between two events is a real
within-visit gap (under the 30-minute session gap) times the shopper's reading speed; the next event
type follows the real transitions, re-weighted by the shopper's funnel style with weights that average
about one over the population; a new item stays in its category at the real rate on average. Catalogue,
prices, checkout, failed payments, mistyped passwords, review ratings and sign-ups (the share of shoppers whose
first visit opens their account) come from :class:`~shopguard.training.simulator.ContextAssumptions`.

What cannot be calibrated: how one person's visits resemble each other and how people differ. The
Taobao slice is a two-hour window (about one short visit per user) and the Diginetica sample has no
user with two sessions, so every per-user spread in :class:`HabitAssumptions` is an assumption, stated
with its reason. A detector that learns per-user habits is judged here on habits we assumed: its figures
on this data are only as good as those assumptions.

Example
-------
>>> from shopguard.training.behaviour_stats import measure_behaviour, sessions
>>> from shopguard.udfs.events import Event
>>> real = [Event(f"e{i}", f"u{i % 3}", "page_view", 60_000 * i, item_id=str(i), category_id="c")
...         for i in range(30)]
>>> simulator = ReturningShopperSimulator(measure_behaviour(real))
>>> shoppers = simulator.simulate(users=3, start_ms=0, span_ms=14 * DAY_MS, seed=1)
>>> shoppers == simulator.simulate(users=3, start_ms=0, span_ms=14 * DAY_MS, seed=1)
True
>>> mine = [e for e in shoppers if e.user_id == "returning-user-0"]
>>> len(sessions(mine)) >= 2, {e.device_id for e in mine} <= {d for d, _ in simulator.population(3, seed=1)[0].devices}
(True, True)
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from shopguard.training.behaviour_stats import QUANTILES, BehaviourStats
from shopguard.training.simulator import ContextAssumptions, review_rating, signs_up, simulated_event
from shopguard.udfs.encoding import VISIT_GAP_MS, VISIT_GAP_S
from shopguard.udfs.events import Event

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
FUNNEL_KINDS = ("add_to_cart", "favorite", "purchase")
"""The calibrated event types a funnel style re-weights (page views keep weight one)."""
PRICE_TIER_FACTORS = (0.4, 1.0, 2.5)
"""Price of an item of tier 0 (budget), 1 (middle), 2 (premium) relative to the catalogue's price level."""
MAX_VISIT_GAP_S = VISIT_GAP_S - 10
"""A within-visit gap stays under the session gap, however slow the reader, so a visit stays one session."""


@dataclass(frozen=True)
class HabitAssumptions:
    """How habits vary between returning shoppers: stated, not measured (no data we hold shows it)."""

    p_second_device: float = 0.3  # regular shoppers often also have a laptop or tablet beside the phone
    p_primary_device: float = 0.8  # ... but mostly shop on one of the two
    away_habit_beta: tuple[float, float] = (0.5, 9.5)  # now and then a visit from another network (mean 5%):
    # without it a new IP would never be normal, and any detector keyed on it would look better than it is
    p_usual_away_network: float = 0.6  # away mostly means the office; otherwise a café, a hotel, a friend's Wi-Fi
    login_habit_beta: tuple[float, float] = (0.3, 0.6)  # U-shaped: most always sign in or never (mean 1/3, as before)
    search_habit_beta: tuple[float, float] = (0.4, 1.0)  # some start (and change topic) from the search box
    review_habit_beta: tuple[float, float] = (0.3, 3.0)  # a few habitual reviewers; most never review (mean 0.09)
    remove_habit_beta: tuple[float, float] = (0.5, 6.0)  # some tidy their cart, most never do (mean 0.08)
    p_refund_request: float = 0.02  # a purchase asked back at the next visit: rare, and not a habit
    funnel_styles: tuple[tuple[str, float, tuple[float, float, float, float]], ...] = (
        ("browser", 0.55, (0.5, 0.5, 0.6, 1.0)),
        ("cart_then_buy", 0.30, (2.2, 0.3, 1.5, 3.0)),
        ("favourites_first", 0.15, (0.6, 4.0, 1.0, 1.0)),
    )  # (style, share of users, weights on add_to_cart, favorite, purchase, purchase right after add_to_cart);
    # mostly browsing; the weights average about one over the population so its mix stays near the real one
    funnel_jitter_sigma: float = 0.3  # people of one style still differ a little
    reading_speed_sigma: float = 0.5  # lognormal per-user multiplier on the real gaps, median 1: p10..p90 0.5x..1.9x
    visit_steps_median: float = 4.0  # Diginetica sessions: 4.1 item views on average, median 3 (geometric-like)
    visit_steps_sigma: float = 0.35  # some people look at more per visit than others
    focus_concentration: float = 6.0  # Beta concentration around the real stay-on-item and same-category rates
    favourite_categories: tuple[int, int] = (2, 7)  # a handful of favourite categories each (from..to, exclusive)
    favourite_category_beta: tuple[float, float] = (6.0, 2.0)  # a new category is mostly a favourite (mean 0.75)
    visits_per_week_median: float = 2.0  # returning shoppers: a couple of visits a week
    visits_per_week_sigma: float = 0.7  # p5..p95 from 0.6 to 6 visits a week
    max_absence_days: float = 7.0  # selection: a *returning* shopper is one who comes back at least weekly
    price_tiers: tuple[float, float, float] = (0.35, 0.45, 0.20)  # shares of budget, middle, premium shoppers
    p_own_price_tier: float = 0.8  # people mostly look at items in their own price range
    hour_spread_h: float = 2.0  # visits cluster around a usual hour (uniform over the day: the slice covers two hours)


@dataclass(frozen=True)
class ShopperHabits:
    """One returning shopper's habits: drawn once, they shape every visit."""

    user_id: str
    devices: tuple[tuple[str, str], ...]  # (device_id, ip), each with its stable IP; the first is the usual one
    p_primary_device: float
    p_away: float  # a visit from another network: the usual device on a passing IP
    away_ip: str  # the usual other network (the office)
    p_login: float  # signs in at the start of a visit
    p_search: float  # starts a visit, and each new category, from the search box
    funnel_style: str
    funnel_weights: tuple[float, float, float, float]  # on add_to_cart, favorite, purchase; purchase after a cart
    reading_speed: float  # multiplier on the real gaps between events (2.0: half as fast)
    visit_steps: float  # mean browsing steps per visit
    p_same_item: float  # the next step stays on the item
    p_same_category: float  # a new item is in the same category
    favourite_categories: tuple[str, ...]
    p_favourite_category: float  # a new category is one of the favourites, else anything in the catalogue
    visits_per_week: float
    price_tier: int  # 0 budget, 1 middle, 2 premium
    usual_hour: float  # hour of the day (UTC) that visits cluster around
    p_review: float  # reviews a purchase at the next visit
    p_remove_from_cart: float  # takes an item just added back out of the cart


class ReturningShopperSimulator:
    """Draw returning shoppers and their visits; deterministic for a seed, each user from their own stream."""

    def __init__(
        self, stats: BehaviourStats, habits: HabitAssumptions | None = None, context: ContextAssumptions | None = None
    ):
        self.stats = stats
        self.assume = habits or HabitAssumptions()
        self.context = context or ContextAssumptions()
        gaps = [float(g) for g in stats.gap_quantiles_s]
        self._gap_quantiles = gaps
        within = [q for q, g in zip(QUANTILES, gaps) if g <= MAX_VISIT_GAP_S]
        self._visit_gap_share = max(within) if within else 1.0  # the share of real gaps that stay within a visit
        self._normal = NormalDist()

    def simulate(self, users: int, start_ms: int, span_ms: int, seed: int, prefix: str = "returning") -> list[Event]:
        """Every visit of ``users`` shoppers starting in ``[start_ms, start_ms + span_ms)``, in time order."""
        events: list[Event] = []
        for n in range(users):
            rng = self._user_rng(seed, prefix, n)
            events += self.timeline(self.habits(f"{prefix}-user-{n}", rng), start_ms, span_ms, rng)
        events.sort(key=lambda e: e.ts_ms)
        return events

    def population(self, users: int, seed: int, prefix: str = "returning") -> list[ShopperHabits]:
        """The habits :meth:`simulate` gives the same users (for tests and reports)."""
        return [self.habits(f"{prefix}-user-{n}", self._user_rng(seed, prefix, n)) for n in range(users)]

    @staticmethod
    def _user_rng(seed: int, prefix: str, n: int) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(prefix.encode()), n])

    def habits(self, user_id: str, rng: np.random.Generator) -> ShopperHabits:
        """Draw one shopper's habits from the population's distributions."""
        a, s = self.assume, self.stats
        device_count = 2 if rng.random() < a.p_second_device else 1
        devices = tuple((f"dev-{int(rng.integers(16**12)):012x}", _ip(rng)) for _ in range(device_count))
        shares = np.array([share for _, share, _ in a.funnel_styles])
        style, _, weights = a.funnel_styles[int(rng.choice(len(shares), p=shares / shares.sum()))]
        jitter = rng.lognormal(0.0, a.funnel_jitter_sigma, len(weights))
        low, high = a.favourite_categories
        favourites = tuple(dict.fromkeys(self._category(rng) for _ in range(int(rng.integers(low, high)))))
        tiers = np.array(a.price_tiers)
        return ShopperHabits(
            user_id=user_id,
            devices=devices,
            p_primary_device=a.p_primary_device,
            p_away=float(rng.beta(*a.away_habit_beta)),
            away_ip=_ip(rng),
            p_login=float(rng.beta(*a.login_habit_beta)),
            p_search=float(rng.beta(*a.search_habit_beta)),
            funnel_style=style,
            funnel_weights=tuple(round(float(w * j), 4) for w, j in zip(weights, jitter)),
            reading_speed=float(rng.lognormal(0.0, a.reading_speed_sigma)),
            visit_steps=max(1.05, float(rng.lognormal(math.log(a.visit_steps_median), a.visit_steps_sigma))),
            p_same_item=self._around(s.p_same_item, rng),
            p_same_category=self._around(s.p_same_category_given_new_item, rng),
            favourite_categories=favourites,
            p_favourite_category=float(rng.beta(*a.favourite_category_beta)),
            visits_per_week=float(
                np.clip(rng.lognormal(math.log(a.visits_per_week_median), a.visits_per_week_sigma), 0.25, 14.0)
            ),
            price_tier=int(rng.choice(3, p=tiers / tiers.sum())),
            usual_hour=float(rng.uniform(0, 24)),
            p_review=float(rng.beta(*a.review_habit_beta)),
            p_remove_from_cart=float(rng.beta(*a.remove_habit_beta)),
        )

    def _around(self, mean: float, rng: np.random.Generator) -> float:
        """A per-user rate spread around the population's real ``mean``."""
        m = min(max(mean, 0.005), 0.995)
        k = self.assume.focus_concentration
        return float(rng.beta(k * m, k * (1 - m)))

    def timeline(self, habits: ShopperHabits, start_ms: int, span_ms: int, rng: np.random.Generator) -> list[Event]:
        """One shopper's visits that start in ``[start_ms, start_ms + span_ms)``; visits never overlap."""
        chain = self._chain(habits)
        events: list[Event] = []
        bought: list[tuple[str, str, float]] = []
        for start in self._visit_starts(habits, start_ms, span_ms, rng):
            if events:
                start = max(start, events[-1].ts_ms + VISIT_GAP_MS + 60_000)
            opens_account = not events and signs_up(habits.user_id, self.context)
            events += self._visit(habits, chain, start, len(events), bought, rng, opens_account)
        return events

    def _visit_starts(self, h: ShopperHabits, start_ms: int, span_ms: int, rng: np.random.Generator) -> list[int]:
        """Visit times: a Poisson process at the user's rate around their usual hour, no absence too long."""
        end = start_ms + span_ms
        count = int(rng.poisson(h.visits_per_week * span_ms / WEEK_MS))
        starts = sorted(
            self._at_usual_hour(int(start_ms + rng.uniform(0, span_ms)), h, start_ms, end, rng) for _ in range(count)
        )
        longest_absence = 0.8 * self.assume.max_absence_days * DAY_MS  # room for visits pushed back by earlier ones
        while True:
            bounds = [start_ms, *starts, end]
            gap, left = max((b - a, a) for a, b in zip(bounds, bounds[1:]))
            if gap <= longest_absence:
                return starts
            middle = int(left + gap * rng.uniform(0.3, 0.7))
            at_hour = self._at_usual_hour(middle, h, start_ms, end, rng)
            starts = sorted([*starts, at_hour if left + 0.2 * gap < at_hour < left + 0.8 * gap else middle])

    def _at_usual_hour(self, ts_ms: int, h: ShopperHabits, start_ms: int, end_ms: int, rng: np.random.Generator) -> int:
        """``ts_ms`` moved to the user's usual hour (give or take) of the same day, kept inside the span."""
        hour = (h.usual_hour + rng.normal(0.0, self.assume.hour_spread_h)) % 24
        moved = ts_ms - ts_ms % DAY_MS + int(hour * HOUR_MS)
        if moved < start_ms:
            moved += DAY_MS
        if moved >= end_ms:
            moved -= DAY_MS
        return min(max(moved, start_ms), end_ms - 1)

    def _chain(self, h: ShopperHabits) -> dict[str, tuple[list[str], list[float]]]:
        """The user's next-event-type distributions (cumulative), from the real ones and their funnel weights.

        Key ``""`` holds the first step of a visit.
        """
        weight = dict(zip(FUNNEL_KINDS, h.funnel_weights))
        rows = {"": self.stats.first_behaviour, **self.stats.transitions}
        chain = {}
        for kind, row in rows.items():
            kinds = sorted(row)
            after_cart = h.funnel_weights[3] if kind == "add_to_cart" else 1.0
            w = [row[k] * weight.get(k, 1.0) * (after_cart if k == "purchase" else 1.0) for k in kinds]
            total = sum(w) or 1.0
            chain[kind] = (kinds, [float(x) for x in np.cumsum(w) / total])
        return chain

    def _visit(
        self,
        h: ShopperHabits,
        chain: dict[str, tuple[list[str], list[float]]],
        start_ms: int,
        first_n: int,
        bought: list[tuple[str, str, float]],
        rng: np.random.Generator,
        opens_account: bool = False,
    ) -> list[Event]:
        """One visit from ``start_ms``: its sign-up if it ``opens_account``, sign-in, reviews of earlier
        purchases, searches, browsing steps."""
        c = self.context
        device, ip = h.devices[0]
        if len(h.devices) > 1 and rng.random() >= h.p_primary_device:
            device, ip = h.devices[1 + int(rng.integers(len(h.devices) - 1))]
        if rng.random() < h.p_away:
            ip = h.away_ip if rng.random() < self.assume.p_usual_away_network else _ip(rng)
        out: list[Event] = []
        clock = [start_ms]

        def emit(
            kind: str,
            gap_s: float,
            item: str | None = None,
            category: str | None = None,
            price: float | None = None,
            quantity: int | None = None,
            rating: int | None = None,
        ) -> None:
            if out:
                clock[0] += max(int(gap_s * 1000), 1)
            fields = dict(item_id=item, category_id=category, price=price, quantity=quantity, rating=rating)
            out.append(
                simulated_event(h.user_id, first_n + len(out), kind, clock[0], device_id=device, ip=ip, **fields)
            )

        if opens_account:
            emit("signup", 0)
        if rng.random() < h.p_login:
            if rng.random() < c.p_login_failed_before_login:
                emit("login_failed", 0)
            emit("login", rng.uniform(5, 20))
        for item, category, price in bought:
            if rng.random() < h.p_review:
                emit("review", self._gap_s(h, rng), item, category, rating=review_rating(h.user_id, item, c))
            elif rng.random() < self.assume.p_refund_request:
                emit("refund_request", self._gap_s(h, rng), item, category, price)
        bought.clear()
        category = self._next_category(h, None, rng)
        item, price = self._item(h, category, rng)
        if rng.random() < h.p_search:
            emit("search", self._gap_s(h, rng), category=category)
        kind = ""
        for _ in range(min(int(rng.geometric(1.0 / h.visit_steps)), 200)):
            if kind:
                if rng.random() >= h.p_same_item:
                    if rng.random() >= h.p_same_category:
                        category = self._next_category(h, category, rng)
                        if rng.random() < h.p_search:
                            emit("search", self._gap_s(h, rng), category=category)
                    item, price = self._item(h, category, rng, avoid=item)
            kinds, cumulative = chain.get(kind, chain[""])
            kind = kinds[min(bisect_right(cumulative, rng.random()), len(kinds) - 1)]
            gap = self._gap_s(h, rng)
            if kind == "purchase":
                quantity = 2 if rng.random() < c.p_quantity_two_or_more else 1
                if rng.random() < c.p_checkout_before_purchase:
                    emit("checkout", gap, item, category)
                    gap = rng.uniform(10, 60)
                if rng.random() < c.p_payment_failed_before_purchase:
                    emit("payment_failed", gap, item, category, price, quantity)
                    gap = rng.uniform(5, 30)
                emit("purchase", gap, item, category, price, quantity)
                bought.append((item, category, price))
            elif kind == "add_to_cart":
                quantity = 2 if rng.random() < c.p_quantity_two_or_more else 1
                emit("add_to_cart", gap, item, category, price, quantity)
                if rng.random() < h.p_remove_from_cart:
                    emit("remove_from_cart", self._gap_s(h, rng), item, category, price, quantity)
            else:
                emit(kind, gap, item, category)
        return out

    def _gap_s(self, h: ShopperHabits, rng: np.random.Generator) -> float:
        """A real within-visit gap (the real quantile function, linear between quantiles) at the user's pace."""
        position = rng.random() * self._visit_gap_share * (len(self._gap_quantiles) - 1)
        low = int(position)
        high = min(low + 1, len(self._gap_quantiles) - 1)
        gap = self._gap_quantiles[low] + (position - low) * (self._gap_quantiles[high] - self._gap_quantiles[low])
        return min(gap * h.reading_speed, MAX_VISIT_GAP_S)

    def _next_category(self, h: ShopperHabits, current: str | None, rng: np.random.Generator) -> str:
        """A favourite category, or now and then anything in the catalogue; not ``current``."""
        for _ in range(20):
            if h.favourite_categories and rng.random() < h.p_favourite_category:
                candidate = h.favourite_categories[int(rng.integers(len(h.favourite_categories)))]
            else:
                candidate = self._category(rng)
            if candidate != current:
                return candidate
        return f"{current}-alt"

    def _category(self, rng: np.random.Generator) -> str:
        return f"cat-{self._zipf_index(self.context.catalogue_categories, rng)}"

    def _item(
        self, h: ShopperHabits, category: str, rng: np.random.Generator, avoid: str | None = None
    ) -> tuple[str, float]:
        """A popular-first item of ``category``, mostly in the user's price tier, and its price."""
        size = self.context.items_per_category
        for _ in range(20):
            index = self._zipf_index(size, rng)
            if rng.random() < self.assume.p_own_price_tier:
                index = index - index % 3 + h.price_tier
                index = index if index < size else index - 3
            item = f"{category}-item-{index}"
            if item != avoid:
                return item, self._price(item, index)
        return f"{avoid}-alt", self._price(f"{avoid}-alt", h.price_tier)

    def _zipf_index(self, size: int, rng: np.random.Generator) -> int:
        return int(min(rng.zipf(self.context.zipf_exponent + 0.0001), size)) - 1

    def _price(self, item: str, index: int) -> float:
        """A stable price per item (the same item costs the same for everyone), by its tier."""
        u = (zlib.crc32(item.encode()) + 0.5) / 2**32
        z = self._normal.inv_cdf(u)
        base = math.exp(self.context.price_log_mean + self.context.price_log_sigma * z)
        return round(base * PRICE_TIER_FACTORS[index % 3], 2)


def _ip(rng: np.random.Generator) -> str:
    """A private IPv4 address: one per device, stable over the weeks (home Wi-Fi or a carrier's NAT)."""
    return f"10.{int(rng.integers(0, 256))}.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"
