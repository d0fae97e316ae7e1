"""Labelled abnormal behaviour, injected into normal traffic (real or simulated).

Each injector writes the events of one kind of abuse into a user's timeline from an *onset* on, with
randomised parameters and two strengths: *blunt* (what a rule would catch) and *subtle* (made to look
human: slower, fewer, interleaved with ordinary browsing). Every injected event is labelled with its
anomaly type, and every abused user with the onset, so that the evaluation can measure detection per
type, per strength and the delay after onset.

Every injector draws its pace, breadth, regularity and length from wide ranges (sub-second to several
minutes between events), so that a model fitted on some families cannot lean on one generator's
habit such as "a bot is fast"; how well detection carries over to a family left out of training is
what :mod:`shopguard.training.evaluation_unseen` measures.

Example
-------
>>> import numpy as np
>>> from shopguard.udfs.events import Event
>>> normal = [Event("n1", "u1", "page_view", 1_000_000, item_id="i", category_id="c", device_id="d", ip="1.1.1.1")]
>>> events, label = inject(CardTesting(), normal, onset_ms=2_000_000, subtle=False, rng=np.random.default_rng(0))
>>> label.anomaly_type, label.onset_ms, events[0] == normal[0]
('card_testing', 2000000, True)
>>> {e.event_type for e in events[1:]} <= {"payment_failed", "purchase"}
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from shopguard.training.behaviour_stats import sessions
from shopguard.training.simulator import ContextAssumptions
from shopguard.udfs.events import EVENT_TYPES, Event

ANOMALY_TYPES = (
    "bot",
    "click_farming",
    "card_testing",
    "account_takeover",
    "scalping",
    "slow_crawler",
    "category_scraper",
    "inventory_hoarding",
    "new_account_abuse",
    "review_abuse",
    "refund_abuse",
)
"""What the one-visit data holds (and the LSTM's type head knows): the abuse families that
are judged, each also left out of training in turn (:mod:`shopguard.training.evaluation_unseen`)."""

PER_USER_ANOMALY_TYPES = ANOMALY_TYPES + ("account_sharing",)
"""For data with weeks per user: someone else using the account only stands out against the owner's habits.

Not a target: whether another person uses the account rests on per-user habits that the simulator
assumes (no data here shows a person over weeks), so no figure on it measures detection of the real thing."""

NOT_MEASURABLE = ("account_sharing",)
"""Families reported, but not judged against the targets (see above)."""


@dataclass(frozen=True)
class AnomalyLabel:
    """Who was abused, how, from when, and which events are the abuse."""

    user_id: str
    anomaly_type: str
    subtle: bool
    onset_ms: int
    event_ids: tuple[str, ...]


class Injector(Protocol):
    """Writes one kind of abuse into a user's timeline; ``name`` is the anomaly type."""

    name: str

    def events(
        self, user_id: str, context: "UserContext", onset_ms: int, subtle: bool, rng: np.random.Generator
    ) -> list[Event]: ...


@dataclass(frozen=True)
class UserContext:
    """What an injector needs to know about the user it writes into (from their normal history)."""

    device_id: str | None
    ip: str | None
    categories: tuple[str, ...]

    @classmethod
    def of(cls, history: Sequence[Event]) -> "UserContext":
        last = history[-1] if history else None
        return cls(
            device_id=last.device_id if last else None,
            ip=last.ip if last else None,
            categories=tuple(dict.fromkeys(e.category_id for e in history if e.category_id)),
        )


class _Writer:
    """Appends an injector's events with ids that cannot clash with the user's normal ones."""

    def __init__(self, user_id: str, kind: str, ts_ms: int):
        self.user_id, self.kind, self.ts, self.events = user_id, kind, ts_ms, []

    def add(self, gap_s: float, event_type: str, **fields) -> None:
        self.ts += int(gap_s * 1000)
        event_id = f"{self.user_id}-{self.kind}-{len(self.events)}"
        self.events.append(Event(event_id, self.user_id, event_type, self.ts, channel="sim", **fields))

    def view(
        self, gap_s: float, category: str, rng: np.random.Generator, device_id: str | None, ip: str | None
    ) -> None:
        """A page view of one of ``category``'s items, drawn among 400."""
        item_id = f"{category}-item-{int(rng.integers(0, 400))}"
        self.add(gap_s, "page_view", item_id=item_id, category_id=category, device_id=device_id, ip=ip)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A pace or a size drawn evenly on a log scale: as many fast as slow ones between ``low`` and ``high``."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _fresh_category(rng: np.random.Generator, seen: set[str]) -> str:
    """A category the user has not seen (neither before the onset nor earlier in the abuse)."""
    while True:
        category = f"cat-{int(rng.integers(0, 100_000))}"
        if category not in seen:
            seen.add(category)
            return category


def _price(rng: np.random.Generator, low: float = 5.0, high: float = 500.0) -> float:
    return round(_log_uniform(rng, low, high), 2)


_NORMAL_RATING_SHARES = np.array(ContextAssumptions().review_rating_shares)


def _ordinary_rating(rng: np.random.Generator) -> int:
    """Stars drawn as normal shoppers give them (the simulator's assumed shares)."""
    return int(rng.choice(5, p=_NORMAL_RATING_SHARES / _NORMAL_RATING_SHARES.sum())) + 1


class Bot:
    """Worthless clicks: page views at a machine's pace over a range of categories.

    Widened on every axis a rule or a model could latch onto: pace (blunt 0.2-5 s, subtle 5 s to 3
    minutes between events), regularity (gap jitter), breadth (from a few categories to thousands),
    length, device (headless or the user's own) and the odd cart.
    """

    name = "bot"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        period = _log_uniform(rng, 5.0, 180.0) if subtle else _log_uniform(rng, 0.2, 5.0)
        jitter = rng.uniform(0.1, 1.0) if subtle else rng.uniform(0.02, 0.6)
        breadth = max(1, int(_log_uniform(rng, 2, 5000)))
        cart_share = rng.uniform(0.0, 0.08)
        device = context.device_id if subtle or rng.random() < 0.3 else f"{user_id}-headless"
        for _ in range(int(rng.integers(15, 60) if subtle else rng.integers(30, 150))):
            event_type = "add_to_cart" if rng.random() < cart_share else "page_view"
            category = f"cat-{int(rng.integers(0, breadth))}"
            w.add(
                period * rng.lognormal(0, jitter),
                event_type,
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=device,
                ip=context.ip,
                price=_price(rng) if event_type == "add_to_cart" else None,
                quantity=1 if event_type == "add_to_cart" else None,
            )
        return w.events


class ClickFarming:
    """Fake orders: straight to a target item, bought within minutes, from a device shared by a ring.

    Blunt: steps of 1-30 s. Subtle: some decoy browsing first and steps of 15 s to 5 minutes. The ring
    is formed by :func:`inject_ring`.
    """

    name = "click_farming"

    def __init__(
        self,
        ring_device: str = "farm-device-0",
        ring_ip: str = "203.0.113.50",
        target_items: tuple[str, ...] = ("shop-9-item-1",),
    ):
        self.ring_device, self.ring_ip, self.target_items = ring_device, ring_ip, target_items

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        for _ in range(int(rng.integers(1, 9)) if subtle else 0):
            category = f"cat-{int(rng.integers(0, 5000))}"
            w.view(_log_uniform(rng, 10.0, 300.0), category, rng, self.ring_device, self.ring_ip)
        for item in self.target_items:
            step = (lambda: _log_uniform(rng, 15.0, 300.0)) if subtle else (lambda: _log_uniform(rng, 1.0, 30.0))
            price = round(float(rng.uniform(30, 300)), 2)
            common = dict(item_id=item, category_id="shop-9", device_id=self.ring_device, ip=self.ring_ip)
            w.add(step(), "page_view", **common)
            if subtle or rng.random() < 0.5:
                w.add(step(), "add_to_cart", price=price, quantity=1, **common)
            w.add(step(), "checkout", **common)
            w.add(step(), "purchase", price=price, quantity=1, **common)
            if not subtle:
                w.add(rng.uniform(60, 600), "review", rating=5 if rng.random() < 0.85 else 4, **common)
        return w.events


class CardTesting:
    """Stolen cards tried on small amounts: bursts of failed payments (6-30, 0.5-20 s apart).

    Subtle: 2-4, 20 s to 10 minutes apart, amid browsing.
    """

    name = "card_testing"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        attempts = int(rng.integers(2, 5) if subtle else rng.integers(6, 31))
        pace = _log_uniform(rng, 20.0, 600.0) if subtle else _log_uniform(rng, 0.5, 20.0)
        for _ in range(attempts):
            if subtle:
                category = context.categories[0] if context.categories else "cat-1"
                w.view(pace * rng.uniform(0.5, 1.5), category, rng, context.device_id, context.ip)
            amount = round(float(rng.uniform(0.5, 5.0)), 2)
            card = dict(item_id="gift-card", category_id="gift-cards", price=amount, quantity=1)
            w.add(pace * rng.uniform(0.5, 1.5), "payment_failed", device_id=context.device_id, ip=context.ip, **card)
            if rng.random() < 0.25:  # the card worked: a small purchase of the same gift card
                w.add(rng.uniform(1, 5), "purchase", device_id=context.device_id, ip=context.ip, **card)
        return w.events


class AccountTakeover:
    """Someone else logs in: failed logins, a new device and IP, then expensive purchases.

    Subtle: one failed login, some ordinary browsing, a single expensive purchase.
    """

    name = "account_takeover"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        device, ip = f"{user_id}-stranger-{int(rng.integers(0, 999))}", f"198.51.100.{int(rng.integers(1, 255))}"
        for _ in range(1 if subtle else int(rng.integers(2, 13))):
            w.add(_log_uniform(rng, 1.0, 30.0), "login_failed", device_id=device, ip=ip)
        w.add(rng.uniform(5, 30), "login", device_id=device, ip=ip)
        for _ in range(int(rng.integers(2, 6)) if subtle else 0):
            category = f"cat-{int(rng.integers(0, 50))}"
            w.view(rng.uniform(15, 90), category, rng, device, ip)
        for _ in range(1 if subtle else int(rng.integers(2, 4))):
            item = f"electronics-item-{int(rng.integers(0, 50))}"
            price = _price(rng, 300.0, 3000.0) if subtle else _price(rng, 1500.0, 9000.0)
            common = dict(item_id=item, category_id="electronics", device_id=device, ip=ip)
            w.add(rng.uniform(10, 60), "add_to_cart", price=price, quantity=1, **common)
            w.add(rng.uniform(5, 30), "checkout", **common)
            w.add(rng.uniform(5, 30), "purchase", price=price, quantity=1, **common)
        return w.events


class Scalping:
    """A limited drop bought up: add-to-cart of the same hot items at high quantity, 0.1-5 s apart.

    Subtle: small quantities, 2 s to 2 minutes apart.
    """

    name = "scalping"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        hot = [f"drop-item-{int(i)}" for i in rng.choice(20, size=int(rng.integers(1, 4)), replace=False)]
        for _ in range(int(rng.integers(3, 6)) if subtle else int(rng.integers(6, 20))):
            item = hot[int(rng.integers(0, len(hot)))]
            quantity = int(rng.integers(2, 5)) if subtle else int(rng.integers(3, 51))
            common = dict(item_id=item, category_id="limited-drops", device_id=context.device_id, ip=context.ip)
            w.add(
                _log_uniform(rng, 2.0, 120.0) if subtle else _log_uniform(rng, 0.1, 5.0),
                "add_to_cart",
                price=499.0,
                quantity=quantity,
                **common,
            )
            if rng.random() < 0.5:
                w.add(rng.uniform(0.5, 5), "purchase", price=499.0, quantity=quantity, **common)
        return w.events


class SlowCrawler:
    """A crawler at a human's pace: page views, each in a category the user never saw, never a cart.

    Blunt: 30-80 views, 8-90 s apart, regular. Subtle: 15-40 views, 20 s to 4 minutes apart, irregular
    (the held-out crawler a fast-bot detector misses).
    """

    name = "slow_crawler"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        seen = set(context.categories)
        period = _log_uniform(rng, 20.0, 240.0) if subtle else _log_uniform(rng, 8.0, 90.0)
        jitter = rng.uniform(0.2, 0.8) if subtle else rng.uniform(0.02, 0.3)
        for _ in range(int(rng.integers(15, 41) if subtle else rng.integers(30, 81))):
            category = _fresh_category(rng, seen)
            w.view(min(period * rng.lognormal(0, jitter), 25 * 60.0), category, rng, context.device_id, context.ip)
        return w.events


class CategoryScraper:
    """Scraping one category, or checking the same items' prices again and again.

    Blunt: 40-150 views of distinct items of one category, 0.5-10 s apart. Subtle: a price check, a set
    of 5-15 items viewed round after round (2-4 rounds), 10 s to 2 minutes apart, now and then a search.
    """

    name = "category_scraper"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        category = f"cat-{int(rng.integers(0, 100_000))}"
        common = dict(category_id=category, device_id=context.device_id, ip=context.ip)
        if not subtle:
            period = _log_uniform(rng, 0.5, 10.0)
            for index in rng.permutation(2000)[: int(rng.integers(40, 151))]:
                w.add(period * rng.lognormal(0, 0.3), "page_view", item_id=f"{category}-item-{int(index)}", **common)
            return w.events
        period = _log_uniform(rng, 10.0, 120.0)
        watched = [f"{category}-item-{int(i)}" for i in rng.permutation(2000)[: int(rng.integers(5, 16))]]
        for _ in range(int(rng.integers(2, 5))):
            if rng.random() < 0.5:
                w.add(period * rng.lognormal(0, 0.5), "search", **common)
            for item in watched:
                w.add(period * rng.lognormal(0, 0.5), "page_view", item_id=item, **common)
        return w.events


class InventoryHoarding:
    """Carts filled and never bought: stock held away from other shoppers.

    Blunt: 8-30 distinct items carted in one go, quantities up to 10, 2-40 s apart. Subtle: 3-8 items,
    each after a view or two, 20 s to 5 minutes apart, quantities 1-3, now and then one taken back out.
    """

    name = "inventory_hoarding"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        period = _log_uniform(rng, 20.0, 300.0) if subtle else _log_uniform(rng, 2.0, 40.0)
        categories = context.categories or ("cat-1",)
        for _ in range(int(rng.integers(3, 9) if subtle else rng.integers(8, 31))):
            category = categories[int(rng.integers(len(categories)))] if rng.random() < 0.5 else None
            category = category or f"cat-{int(rng.integers(0, 5000))}"
            common = dict(
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=context.device_id,
                ip=context.ip,
            )
            for _ in range(int(rng.integers(1, 3)) if subtle else int(rng.random() < 0.3)):
                w.add(period * rng.lognormal(0, 0.5), "page_view", **common)
            price, quantity = _price(rng), int(rng.integers(1, 4) if subtle else rng.integers(1, 11))
            w.add(period * rng.lognormal(0, 0.5), "add_to_cart", price=price, quantity=quantity, **common)
            if subtle and rng.random() < 0.15:
                w.add(period * rng.lognormal(0, 0.5), "remove_from_cart", price=price, quantity=quantity, **common)
        return w.events


class NewAccountAbuse:
    """A fresh account that buys within minutes (promotion or sign-up bonus abuse, fake buyers).

    The account's first ever events are the abuse: its sign-up on a new device (now and then a sign-in
    after it), then purchases. :func:`inject` writes it into a new account beside the chosen user
    (``fresh_account``). Blunt: 1-4 purchases within a few minutes, steps 2-20 s. Subtle: a few views
    first, one purchase within about a quarter of an hour.
    """

    name = "new_account_abuse"
    fresh_account = True

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        device, ip = f"{user_id}-device", f"198.18.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}"
        step = (lambda: _log_uniform(rng, 10.0, 120.0)) if subtle else (lambda: _log_uniform(rng, 2.0, 20.0))
        w.add(_log_uniform(rng, 1.0, 30.0), "signup", device_id=device, ip=ip)
        if rng.random() < 0.3:
            w.add(_log_uniform(rng, 2.0, 60.0), "login", device_id=device, ip=ip)
        for _ in range(int(rng.integers(2, 7)) if subtle else int(rng.integers(0, 3))):
            category = f"cat-{int(rng.integers(0, 5000))}"
            w.view(step(), category, rng, device, ip)
        for _ in range(1 if subtle else int(rng.integers(1, 5))):
            category = "promotions" if rng.random() < 0.5 else f"cat-{int(rng.integers(0, 5000))}"
            price = _price(rng, 20.0, 2000.0)
            common = dict(
                item_id=f"{category}-item-{int(rng.integers(0, 400))}", category_id=category, device_id=device, ip=ip
            )
            if rng.random() < 0.7:
                w.add(step(), "add_to_cart", price=price, quantity=1, **common)
            if rng.random() < 0.7:
                w.add(step(), "checkout", **common)
            w.add(step(), "purchase", price=price, quantity=1, **common)
        return w.events


class ReviewAbuse:
    """Reviews written for what was not bought: a paid reviewer or a competitor.

    Blunt: 5-30 reviews, 3-60 s apart, no purchase. Subtle: 2-5 reviews, each after a look at the item,
    30 s to 10 minutes apart. Ratings: one extreme (5 to push an item, 1 to sink a rival's) on a share of
    the reviews drawn per abuser (blunt 70-100%, subtle 40-90%), the rest rated as normal shoppers rate
    or, now and then, not rated.
    """

    name = "review_abuse"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        period = _log_uniform(rng, 30.0, 600.0) if subtle else _log_uniform(rng, 3.0, 60.0)
        shop = f"cat-{int(rng.integers(0, 5000))}"
        extreme = 5 if rng.random() < 0.6 else 1
        p_extreme = rng.uniform(0.4, 0.9) if subtle else rng.uniform(0.7, 1.0)
        p_unrated = rng.uniform(0.0, 0.15)
        for _ in range(int(rng.integers(2, 6) if subtle else rng.integers(5, 31))):
            category = shop if rng.random() < 0.7 else f"cat-{int(rng.integers(0, 5000))}"
            common = dict(
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=context.device_id,
                ip=context.ip,
            )
            if subtle or rng.random() < 0.2:
                w.add(period * rng.lognormal(0, 0.5), "page_view", **common)
            draw = rng.random()
            rating = extreme if draw < p_extreme else None if draw < p_extreme + p_unrated else _ordinary_rating(rng)
            w.add(period * rng.lognormal(0, 0.5), "review", rating=rating, **common)
        return w.events


class RefundAbuse:
    """Refunds asked for in series: items bought to be returned, or refunds for what never came.

    Blunt: 3-12 refund requests 5-60 s apart, some for items bought just before. Subtle: 1-2 purchases,
    each asked back 1-10 minutes later, amid a view or two.
    """

    name = "refund_abuse"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        for _ in range(int(rng.integers(1, 3) if subtle else rng.integers(3, 13))):
            category = f"cat-{int(rng.integers(0, 5000))}"
            price = _price(rng, 20.0, 1500.0)
            common = dict(
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=context.device_id,
                ip=context.ip,
            )
            if subtle:
                w.add(_log_uniform(rng, 10.0, 120.0), "page_view", **common)
                w.add(_log_uniform(rng, 10.0, 120.0), "purchase", price=price, quantity=1, **common)
                w.add(_log_uniform(rng, 60.0, 600.0), "refund_request", price=price, quantity=1, **common)
                continue
            if rng.random() < 0.4:
                w.add(_log_uniform(rng, 2.0, 30.0), "purchase", price=price, quantity=1, **common)
            w.add(_log_uniform(rng, 5.0, 60.0), "refund_request", price=price, quantity=1, **common)
        return w.events


INJECTORS: dict[str, Injector] = {
    i.name: i
    for i in (
        Bot(),
        ClickFarming(),
        CardTesting(),
        AccountTakeover(),
        Scalping(),
        SlowCrawler(),
        CategoryScraper(),
        InventoryHoarding(),
        NewAccountAbuse(),
        ReviewAbuse(),
        RefundAbuse(),
    )
}


def inject(
    injector: Injector, history: Sequence[Event], onset_ms: int, subtle: bool, rng: np.random.Generator
) -> tuple[list[Event], AnomalyLabel]:
    """The user's normal ``history`` with ``injector``'s abuse from ``onset_ms`` on, and its label.

    An injector with ``fresh_account`` writes into a new account (``new-<user>``, no history of its own)
    beside the user, whose history stays normal; the label names the new account.
    """
    user_id = history[0].user_id
    if getattr(injector, "fresh_account", False):
        account = f"new-{user_id}"
        abuse = injector.events(account, UserContext(None, None, ()), onset_ms, subtle, rng)
        label = AnomalyLabel(account, injector.name, subtle, onset_ms, tuple(e.event_id for e in abuse))
        return sorted([*history, *abuse], key=lambda e: e.ts_ms), label
    abuse = injector.events(user_id, UserContext.of([e for e in history if e.ts_ms < onset_ms]), onset_ms, subtle, rng)
    label = AnomalyLabel(user_id, injector.name, subtle, onset_ms, tuple(e.event_id for e in abuse))
    return sorted([*history, *abuse], key=lambda e: e.ts_ms), label


def inject_ring(
    histories: Sequence[Sequence[Event]], onset_ms: int, subtle: bool, rng: np.random.Generator
) -> tuple[list[Event], list[AnomalyLabel]]:
    """Click farming by a ring: every account shares one device and IP and buys the same target items."""
    ring = int(rng.integers(0, 10**6))
    farming = ClickFarming(
        ring_device=f"farm-device-{ring}",
        ring_ip=f"203.0.113.{ring % 250 + 1}",
        target_items=tuple(f"shop-{ring}-item-{i}" for i in range(int(rng.integers(1, 3)))),
    )
    events: list[Event] = []
    labels = []
    for history in histories:
        start = onset_ms + int(rng.integers(0, 15 * 60 * 1000))  # the ring's orders spread over minutes
        user_events, label = inject(farming, history, start, subtle, rng)
        events += user_events
        labels.append(label)
    return events, labels


def inject_account_sharing(
    history: Sequence[Event],
    other_person: Sequence[Event],
    onset_ms: int,
    subtle: bool,
    rng: np.random.Generator,
    max_visits: int = 3,
) -> tuple[list[Event], AnomalyLabel]:
    """Same account, different person: 1..``max_visits`` visits of ``other_person`` in this account from the onset.

    ``other_person`` is another shopper's own events: the visits keep that person's habits (event types,
    pace, items, categories), are renamed to the account and moved in time, the first just after
    ``onset_ms`` and each next one 1 to 12 hours after the previous. Blunt: on the other person's own
    device and IP, signing in first (a new device must). Subtle: on the account's usual device and IP
    before the onset (a family member on the shared laptop, already signed in).
    """
    user_id = history[0].user_id
    visits = sessions(sorted(other_person, key=lambda e: e.ts_ms))
    if not visits:
        raise ValueError("account sharing needs another person's events to write into the account")
    count = min(len(visits), int(rng.integers(1, max_visits + 1)))
    chosen = visits[int(rng.integers(0, len(visits) - count + 1)) :][:count]
    usual = Counter((e.device_id, e.ip) for e in history if e.ts_ms < onset_ms).most_common(1)
    usual_device, usual_ip = usual[0][0] if usual else (None, None)
    stranger_device = f"{user_id}-other-{int(rng.integers(0, 999))}"
    stranger_ip = f"198.51.100.{int(rng.integers(1, 255))}"
    abuse: list[Event] = []
    start = onset_ms + int(rng.integers(1_000, 600_000))
    for visit in chosen:
        device = usual_device if subtle else visit[0].device_id or stranger_device
        ip = usual_ip if subtle else visit[0].ip or stranger_ip
        shift = start - visit[0].ts_ms
        if not subtle and not abuse and visit[0].event_type not in ("login", "login_failed"):
            abuse.append(Event("", user_id, "login", start, device_id=device, ip=ip, channel=visit[0].channel))
            shift += int(rng.uniform(5_000, 20_000))
        abuse += [
            e._replace(
                user_id=user_id,
                ts_ms=e.ts_ms + shift,
                session_id=None,
                device_id=device if subtle else e.device_id or device,
                ip=ip if subtle else e.ip or ip,
            )
            for e in visit
        ]
        start = abuse[-1].ts_ms + int(rng.uniform(1, 12) * 3_600_000)
    abuse = [e._replace(event_id=f"{user_id}-account_sharing-{n}") for n, e in enumerate(abuse)]
    label = AnomalyLabel(user_id, "account_sharing", subtle, onset_ms, tuple(e.event_id for e in abuse))
    return sorted([*history, *abuse], key=lambda e: e.ts_ms), label


RATING_RING = "rating_ring"
RING_FAMILIES = ("fake_order_ring", "card_testing_ring", "click_farm_ring", RATING_RING)
"""Several accounts acting together (judged per family by :mod:`shopguard.training.evaluation_rings`): from shared
devices and networks, fake orders of the same items, stolen cards spread over accounts, clicks and carts pushed onto
a few items; and a group of accounts giving one item the same extreme rating (:func:`inject_rating_ring`)."""


def inject_rating_ring(
    onset_ms: int, rng: np.random.Generator, prefix: str = "ring", items: Sequence[str] = ()
) -> tuple[list[Event], list[AnomalyLabel]]:
    """A group of accounts giving one item the same extreme rating: 5 stars to push it (60%) or 1 to sink it.

    Wide ranges, so that detection cannot lean on one group's habit: 3 to 40 accounts (log-uniform); the item a
    fresh one or, when ``items`` are given, half the time one of them (an item with ordinary reviews of its own);
    the ratings spread over 5 minutes to a day; each account on a device of its own, behind 1 to as many IPs as
    accounts (proxies); a signup first in half the groups, a look at the item before the review in some. Blunt:
    nobody buys the item. Subtle: each account buys it 1 minute to 12 hours before its review.
    """
    size = int(round(_log_uniform(rng, 3.0, 40.0)))
    ring = f"{prefix}-{int(rng.integers(0, 10**9))}"
    item = items[int(rng.integers(0, len(items)))] if len(items) and rng.random() < 0.5 else f"{ring}-item"
    stars = 5 if rng.random() < 0.6 else 1
    subtle = bool(rng.random() < 0.5)
    signs_up = "signup" in EVENT_TYPES and rng.random() < 0.5
    spread_ms = int(_log_uniform(rng, 300.0, 86_400.0) * 1000)
    ips = [
        f"198.18.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}" for _ in range(int(rng.integers(1, size + 1)))
    ]
    events: list[Event] = []
    labels: list[AnomalyLabel] = []
    for k in range(size):
        account = f"{ring}-{k}"
        review_ts = onset_ms + int(rng.integers(0, spread_ms + 1))
        steps = [("review", review_ts)]
        if subtle:
            steps.insert(0, ("purchase", review_ts - int(_log_uniform(rng, 60.0, 43_200.0) * 1000)))
        if rng.random() < 0.5:
            steps.insert(0, ("page_view", steps[0][1] - int(rng.uniform(10.0, 120.0) * 1000)))
        if signs_up:
            steps.insert(0, ("signup", steps[0][1] - int(_log_uniform(rng, 5.0, 3600.0) * 1000)))
        abuse = [
            Event(
                f"{account}-{RATING_RING}-{n}",
                account,
                kind,
                ts,
                item_id=None if kind == "signup" else item,
                channel="sim",
                rating=stars if kind == "review" else None,
                price=_price(rng) if kind == "purchase" else None,
                quantity=1 if kind == "purchase" else None,
            )
            for n, (kind, ts) in enumerate(steps)
        ]
        ip = ips[int(rng.integers(0, len(ips)))]
        abuse = [e._replace(device_id=f"{account}-phone", ip=ip) for e in abuse]
        events += abuse
        labels.append(AnomalyLabel(account, RATING_RING, subtle, abuse[0].ts_ms, tuple(e.event_id for e in abuse)))
    return sorted(events, key=lambda e: e.ts_ms), labels


def inject_ring_family(
    family: str, onset_ms: int, rng: np.random.Generator, prefix: str = "ring", items: Sequence[str] = ()
) -> tuple[list[Event], list[AnomalyLabel]]:
    """One ring of ``family``: fresh accounts on shared devices and IPs, and their labels.

    Wide ranges, so that detection cannot lean on one ring's habit: 3 to 40 accounts (log-uniform), on
    1 to a third as many devices and 1 to 3 IPs, up to half of the accounts on a device of their own (sharing
    only the network); a signup first (when the format has the event) or not; the accounts starting within
    5 minutes to a day of each other; each account's own pace from the family's injector, blunt or subtle.
    A rating ring is :func:`inject_rating_ring`'s (``items``: existing items it may target).
    """
    if family == RATING_RING:
        return inject_rating_ring(onset_ms, rng, prefix, items)
    size = int(round(_log_uniform(rng, 3.0, 40.0)))
    ring = f"{prefix}-{int(rng.integers(0, 10**9))}"
    devices = [f"{ring}-device-{d}" for d in range(int(rng.integers(1, max(1, size // 3) + 1)))]
    ips = [f"203.0.{int(rng.integers(0, 256))}.{int(rng.integers(1, 255))}" for _ in range(int(rng.integers(1, 4)))]
    own_device_share = float(rng.uniform(0.0, 0.5))
    signs_up = "signup" in EVENT_TYPES and rng.random() < 0.5
    spread_ms = int(_log_uniform(rng, 300.0, 86_400.0) * 1000)
    targets = tuple(f"{ring}-item-{i}" for i in range(int(rng.integers(1, 4))))
    events: list[Event] = []
    labels: list[AnomalyLabel] = []
    for k in range(size):
        account = f"{ring}-{k}"
        device = f"{account}-phone" if rng.random() < own_device_share else devices[int(rng.integers(0, len(devices)))]
        ip = ips[int(rng.integers(0, len(ips)))]
        start = onset_ms + int(rng.integers(0, spread_ms + 1))
        subtle = bool(rng.random() < 0.5)
        abuse = _ring_account_events(family, account, start, subtle, targets, rng)
        if signs_up:
            abuse.insert(
                0, Event(f"{account}-signup", account, "signup", start - int(_log_uniform(rng, 5.0, 3600.0) * 1000))
            )
        abuse = [e._replace(device_id=device, ip=ip) for e in abuse]
        events += abuse
        labels.append(AnomalyLabel(account, family, subtle, abuse[0].ts_ms, tuple(e.event_id for e in abuse)))
    return sorted(events, key=lambda e: e.ts_ms), labels


def _ring_account_events(
    family: str, account: str, start: int, subtle: bool, targets: tuple[str, ...], rng: np.random.Generator
) -> list[Event]:
    """One ring account's abuse, before the ring's device and IP are put on it."""
    if family == "fake_order_ring":
        return ClickFarming(target_items=targets).events(account, None, start, subtle, rng)
    if family == "card_testing_ring":
        return CardTesting().events(account, UserContext(None, None, ()), start, subtle, rng)
    if family == "click_farm_ring":
        w = _Writer(account, family, start)
        step = (lambda: _log_uniform(rng, 10.0, 300.0)) if subtle else (lambda: _log_uniform(rng, 1.0, 20.0))
        for _ in range(int(rng.integers(3, 31))):
            item = targets[int(rng.integers(0, len(targets)))]
            kind = ("page_view", "favorite", "add_to_cart")[int(rng.integers(0, 3))]
            w.add(step(), kind, item_id=item, category_id="ring-shop")
        return w.events
    raise ValueError(f"unknown ring family {family!r}: one of {RING_FAMILIES}")
