"""Simulated normal shoppers, calibrated on real traffic.

:class:`ShopperSimulator` draws users whose figures match :class:`~shopguard.training.behaviour_stats.BehaviourStats`
measured on real events (the Taobao slice): how many events a user has, which event type follows which,
the time between events, how often the next event stays on the same item or category. The real data has
no devices, IPs, prices, logins, checkouts, reviews, ratings, sign-ups or payment failures;
:class:`ContextAssumptions` adds them with stated rates, so that the anomaly injectors have a normal
background to stand out from (and to hide in).

Example
-------
>>> from shopguard.training.behaviour_stats import measure_behaviour
>>> from shopguard.udfs.events import Event
>>> real = [Event(f"e{i}", f"u{i % 3}", "page_view", 1000 * 60 * i, item_id=str(i), category_id="c")
...         for i in range(30)]
>>> simulator = ShopperSimulator(measure_behaviour(real))
>>> shoppers = simulator.simulate(users=5, start_ms=0, span_ms=3_600_000, seed=1)
>>> len({e.user_id for e in shoppers}), shoppers == simulator.simulate(5, 0, 3_600_000, seed=1)
(5, True)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from shopguard.training.behaviour_stats import QUANTILES, BehaviourStats
from shopguard.udfs.encoding import VISIT_GAP_MS
from shopguard.udfs.events import Event


@dataclass(frozen=True)
class ContextAssumptions:
    """Rates for what the real data does not show; stated, not measured (say so in reports)."""

    catalogue_categories: int = 5000
    items_per_category: int = 400
    zipf_exponent: float = 1.1  # popularity of categories and items
    price_log_mean: float = 4.0  # ~55 yuan median item price
    price_log_sigma: float = 1.0
    p_second_device: float = 0.15  # users who also shop from a second device
    p_login_at_session_start: float = 0.3
    p_login_failed_before_login: float = 0.03  # a mistyped password
    p_payment_failed_before_purchase: float = 0.02  # an expired card, retried
    p_quantity_two_or_more: float = 0.12
    p_checkout_before_purchase: float = 0.9  # the real funnel has a checkout step the slice does not log
    p_review_after_purchase: float = 0.05
    review_rating_shares: tuple[float, float, float, float, float] = (0.07, 0.04, 0.08, 0.21, 0.60)
    # 1..5 stars: the J shape of shop reviews (mostly 5, then 4, a bump at 1); no data we hold shows ratings
    p_review_unrated: float = 0.1  # a review with text and no stars (a follow-up, a question)
    p_signup: float = 0.05  # a user seen in the window who opened the account in it (sign-up at the first visit)


def review_rating(user_id: str, item: str | None, assume: ContextAssumptions) -> int | None:
    """The stars a normal shopper gives an item (None: unrated), drawn from the assumed shares.

    Drawn from the user and item (not from the simulation's random stream), so that adding ratings left
    every other simulated event as it was.

    >>> review_rating("u1", "i1", ContextAssumptions()) == review_rating("u1", "i1", ContextAssumptions())
    True
    """
    u = _stable_uniform(f"{user_id}/{item}/rating")
    if u < assume.p_review_unrated:
        return None
    position = (u - assume.p_review_unrated) / (1 - assume.p_review_unrated)
    return min(int(np.searchsorted(np.cumsum(assume.review_rating_shares), position, side="right")) + 1, 5)


def signs_up(user_id: str, assume: ContextAssumptions) -> bool:
    """Whether a normal user opens the account at their first visit (a share :attr:`ContextAssumptions.p_signup`)."""
    return _stable_uniform(f"{user_id}/signup") < assume.p_signup


def simulated_event(user_id: str, number: int, event_type: str, ts_ms: int, **fields) -> Event:
    """One event of a simulated shopper: its id is the user's id and ``number`` (its place among the user's
    events), its channel ``sim``."""
    return Event(f"{user_id}-{number}", user_id, event_type, ts_ms, channel="sim", **fields)


def _stable_uniform(key: str) -> float:
    """A number in [0, 1) fixed by ``key``."""
    return (zlib.crc32(key.encode("utf-8", "surrogatepass")) + 0.5) / 2**32


class ShopperSimulator:
    """Draw normal shoppers matching ``stats``; deterministic for a seed."""

    def __init__(self, stats: BehaviourStats, assumptions: ContextAssumptions | None = None):
        self.stats = stats
        self.assume = assumptions or ContextAssumptions()
        counts = np.array(list(stats.events_per_user.keys()))
        weights = np.array(list(stats.events_per_user.values()), dtype=float)
        self._event_counts = (counts, weights / weights.sum())
        self._gap_quantiles = np.array(stats.gap_quantiles_s)
        self._kinds = sorted(stats.behaviour_mix)

    def simulate(self, users: int, start_ms: int, span_ms: int, seed: int, prefix: str = "sim") -> list[Event]:
        """``users`` shoppers whose first event falls in ``[start_ms, start_ms + span_ms)``, in time order."""
        rng = np.random.default_rng(seed)
        events: list[Event] = []
        for n in range(users):
            events += self.simulate_user(f"{prefix}-user-{n}", int(start_ms + rng.integers(0, span_ms)), rng)
        events.sort(key=lambda e: e.ts_ms)
        return events

    def simulate_user(
        self, user_id: str, first_ms: int, rng: np.random.Generator, event_count: int | None = None
    ) -> list[Event]:
        """One shopper's events from ``first_ms`` on (``event_count`` drawn from the real distribution if None)."""
        counts, weights = self._event_counts
        count = int(event_count or rng.choice(counts, p=weights))
        devices = [f"{user_id}-phone"] + ([f"{user_id}-laptop"] if rng.random() < self.assume.p_second_device else [])
        ip = f"10.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
        kind = self._draw(self.stats.first_behaviour, rng)
        category = self._category(rng)
        item = self._item(category, rng)
        ts, device = first_ms, devices[0]
        events: list[Event] = []
        for i in range(count):
            if i:
                ts += int(self._gap_s(rng) * 1000)
                kind = self._draw(self.stats.transitions.get(kind, self.stats.behaviour_mix), rng)
                item, category = self._next_item(item, category, rng)
                if ts - events[-1].ts_ms > VISIT_GAP_MS:
                    device = devices[int(rng.integers(0, len(devices)))]
            events += self._with_context(user_id, len(events), kind, ts, item, category, device, ip, rng)
        return events

    def _with_context(
        self,
        user_id: str,
        n: int,
        kind: str,
        ts: int,
        item: str,
        category: str,
        device: str,
        ip: str,
        rng: np.random.Generator,
    ) -> list[Event]:
        """The event with what the assumptions add around it: logins, checkouts, failed payments, reviews."""
        a = self.assume
        price = self._price(item) if kind in ("add_to_cart", "purchase") else None
        quantity = (2 if rng.random() < a.p_quantity_two_or_more else 1) if price is not None else None
        before: list[tuple[str, int]] = []
        if n == 0 and signs_up(user_id, a):
            before.append(("signup", -int(60_000 + _stable_uniform(f"{user_id}/signup-gap") * 540_000)))
        if n == 0 and rng.random() < a.p_login_at_session_start:
            if rng.random() < a.p_login_failed_before_login:
                before.append(("login_failed", -40_000))
            before.append(("login", -30_000))
        if kind == "purchase" and rng.random() < a.p_checkout_before_purchase:
            before.append(("checkout", -int(rng.uniform(10_000, 60_000))))
        if kind == "purchase" and rng.random() < a.p_payment_failed_before_purchase:
            before.append(("payment_failed", -5_000))
        after = (
            [("review", int(rng.uniform(600_000, 7_200_000)))]
            if kind == "purchase" and rng.random() < a.p_review_after_purchase
            else []
        )
        where = dict(device_id=device, ip=ip)
        out = [
            simulated_event(
                user_id,
                n + i,
                extra,
                ts + offset,
                item_id=item if extra not in ("login", "login_failed", "signup") else None,
                price=price if extra == "payment_failed" else None,
                **where,
            )
            for i, (extra, offset) in enumerate(before)
        ]
        out.append(
            simulated_event(
                user_id,
                n + len(out),
                kind,
                ts,
                item_id=item,
                category_id=category,
                price=price,
                quantity=quantity,
                **where,
            )
        )
        out += [
            simulated_event(
                user_id, n + len(out), extra, ts + offset, item_id=item, rating=review_rating(user_id, item, a), **where
            )
            for extra, offset in after
        ]
        return out

    def _draw(self, shares: dict[str, float], rng: np.random.Generator) -> str:
        kinds = list(shares)
        p = np.array([shares[k] for k in kinds], dtype=float)
        return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]

    def _gap_s(self, rng: np.random.Generator) -> float:
        """A gap drawn from the real gaps' quantile function (linear between the 101 quantiles)."""
        return float(np.interp(rng.random(), QUANTILES, self._gap_quantiles))

    def _zipf_index(self, size: int, rng: np.random.Generator) -> int:
        return int(min(rng.zipf(self.assume.zipf_exponent + 0.0001), size)) - 1

    def _category(self, rng: np.random.Generator) -> str:
        return f"cat-{self._zipf_index(self.assume.catalogue_categories, rng)}"

    def _item(self, category: str, rng: np.random.Generator) -> str:
        return f"{category}-item-{self._zipf_index(self.assume.items_per_category, rng)}"

    def _next_item(self, item: str, category: str, rng: np.random.Generator) -> tuple[str, str]:
        """Stay on the item, or move to another item of the same or of another category, at the real rates."""
        if rng.random() < self.stats.p_same_item:
            return item, category
        if rng.random() >= self.stats.p_same_category_given_new_item:
            category = self._different(lambda: self._category(rng), category)
        return self._different(lambda: self._item(category, rng), item), category

    @staticmethod
    def _different(draw, current: str, tries: int = 20) -> str:
        """A draw that differs from ``current`` (popular ids repeat often under Zipf)."""
        for _ in range(tries):
            candidate = draw()
            if candidate != current:
                return candidate
        return f"{current}-alt"

    def _price(self, item: str) -> float:
        """A stable price per item (the same item costs the same for everyone)."""
        item_rng = np.random.default_rng(zlib.crc32(item.encode()))
        return round(float(item_rng.lognormal(self.assume.price_log_mean, self.assume.price_log_sigma)), 2)
