"""Labelled abnormal behaviour, injected into normal traffic (real or simulated).

Each injector writes the events of one kind of abuse into a user's timeline from an *onset* on, with
randomised parameters and two strengths: *blunt* (what a rule would catch) and *subtle* (made to look
human: slower, fewer, interleaved with ordinary browsing). Every injected event is labelled with its
anomaly type, and every abused user with the onset, so that the evaluation can measure detection per
type, per strength and the delay after onset.

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
from shopguard.udfs.events import Event

ANOMALY_TYPES = ("bot", "click_farming", "card_testing", "account_takeover", "scalping")
"""What the one-visit data holds (and the sequence model's type head knows)."""

PER_USER_ANOMALY_TYPES = ANOMALY_TYPES + ("account_sharing",)
"""For data with weeks per user: someone else using the account only stands out against the owner's habits."""


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


class Bot:
    """Worthless clicks: fast, regular page views across many categories. Subtle: slower, jittered, with carts."""

    name = "bot"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        period = rng.uniform(4.0, 12.0) if subtle else rng.uniform(0.3, 2.5)
        jitter = 0.5 if subtle else 0.05
        device = context.device_id if subtle else f"{user_id}-headless"
        for _ in range(int(rng.integers(25, 60) if subtle else rng.integers(40, 120))):
            event_type = "add_to_cart" if subtle and rng.random() < 0.04 else "page_view"
            category = f"cat-{int(rng.integers(0, 5000))}"
            w.add(
                period * rng.lognormal(0, jitter),
                event_type,
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=device,
                ip=context.ip,
                price=round(float(rng.uniform(5, 200)), 2) if event_type == "add_to_cart" else None,
                quantity=1 if event_type == "add_to_cart" else None,
            )
        return w.events


class ClickFarming:
    """Fake orders: straight to a target item, bought within minutes, from a device shared by a ring.

    Subtle: some decoy browsing first and slower steps. The ring is formed by :func:`inject_ring`.
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
        for _ in range(int(rng.integers(2, 6)) if subtle else 0):
            category = f"cat-{int(rng.integers(0, 5000))}"
            w.add(
                rng.uniform(20, 120),
                "page_view",
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=self.ring_device,
                ip=self.ring_ip,
            )
        for item in self.target_items:
            step = (lambda: rng.uniform(20, 90)) if subtle else (lambda: rng.uniform(2, 10))
            price = round(float(rng.uniform(30, 300)), 2)
            common = dict(item_id=item, category_id="shop-9", device_id=self.ring_device, ip=self.ring_ip)
            w.add(step(), "page_view", **common)
            if subtle or rng.random() < 0.5:
                w.add(step(), "add_to_cart", price=price, quantity=1, **common)
            w.add(step(), "checkout", **common)
            w.add(step(), "purchase", price=price, quantity=1, **common)
            if not subtle:
                w.add(rng.uniform(60, 600), "review", **common)
        return w.events


class CardTesting:
    """Stolen cards tried on small amounts: bursts of failed payments. Subtle: few, spaced, amid browsing."""

    name = "card_testing"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        attempts = int(rng.integers(2, 5) if subtle else rng.integers(6, 20))
        for _ in range(attempts):
            if subtle:
                category = context.categories[0] if context.categories else "cat-1"
                w.add(
                    rng.uniform(30, 240),
                    "page_view",
                    item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                    category_id=category,
                    device_id=context.device_id,
                    ip=context.ip,
                )
            amount = round(float(rng.uniform(0.5, 5.0)), 2)
            w.add(
                rng.uniform(20, 90) if subtle else rng.uniform(1, 6),
                "payment_failed",
                item_id="gift-card",
                category_id="gift-cards",
                price=amount,
                quantity=1,
                device_id=context.device_id,
                ip=context.ip,
            )
            if rng.random() < 0.25:
                w.add(
                    rng.uniform(1, 5),
                    "purchase",
                    item_id="gift-card",
                    category_id="gift-cards",
                    price=amount,
                    quantity=1,
                    device_id=context.device_id,
                    ip=context.ip,
                )
        return w.events


class AccountTakeover:
    """Someone else logs in: failed logins, a new device and IP, then expensive purchases.

    Subtle: one failed login, some ordinary browsing, a single expensive purchase.
    """

    name = "account_takeover"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        device, ip = f"{user_id}-stranger-{int(rng.integers(0, 999))}", f"198.51.100.{int(rng.integers(1, 255))}"
        for _ in range(1 if subtle else int(rng.integers(3, 10))):
            w.add(rng.uniform(2, 15), "login_failed", device_id=device, ip=ip)
        w.add(rng.uniform(5, 30), "login", device_id=device, ip=ip)
        for _ in range(int(rng.integers(2, 6)) if subtle else 0):
            category = f"cat-{int(rng.integers(0, 50))}"
            w.add(
                rng.uniform(15, 90),
                "page_view",
                item_id=f"{category}-item-{int(rng.integers(0, 400))}",
                category_id=category,
                device_id=device,
                ip=ip,
            )
        for _ in range(1 if subtle else int(rng.integers(2, 4))):
            item = f"electronics-item-{int(rng.integers(0, 50))}"
            price = round(float(rng.uniform(1500, 9000)), 2)
            common = dict(item_id=item, category_id="electronics", device_id=device, ip=ip)
            w.add(rng.uniform(10, 60), "add_to_cart", price=price, quantity=1, **common)
            w.add(rng.uniform(5, 30), "checkout", **common)
            w.add(rng.uniform(5, 30), "purchase", price=price, quantity=1, **common)
        return w.events


class Scalping:
    """A limited drop bought up: rapid add-to-cart of the same hot items at high quantity. Subtle: small quantities."""

    name = "scalping"

    def events(self, user_id, context, onset_ms, subtle, rng):
        w = _Writer(user_id, self.name, onset_ms)
        hot = [f"drop-item-{int(i)}" for i in rng.choice(20, size=int(rng.integers(1, 4)), replace=False)]
        for _ in range(int(rng.integers(3, 6)) if subtle else int(rng.integers(6, 20))):
            item = hot[int(rng.integers(0, len(hot)))]
            quantity = int(rng.integers(2, 5)) if subtle else int(rng.integers(5, 50))
            common = dict(item_id=item, category_id="limited-drops", device_id=context.device_id, ip=context.ip)
            w.add(
                rng.uniform(3, 20) if subtle else rng.uniform(0.2, 2),
                "add_to_cart",
                price=499.0,
                quantity=quantity,
                **common,
            )
            if rng.random() < 0.5:
                w.add(rng.uniform(0.5, 5), "purchase", price=499.0, quantity=quantity, **common)
        return w.events


INJECTORS: dict[str, Injector] = {
    i.name: i for i in (Bot(), ClickFarming(), CardTesting(), AccountTakeover(), Scalping())
}


def inject(
    injector: Injector, history: Sequence[Event], onset_ms: int, subtle: bool, rng: np.random.Generator
) -> tuple[list[Event], AnomalyLabel]:
    """The user's normal ``history`` with ``injector``'s abuse from ``onset_ms`` on, and its label."""
    user_id = history[0].user_id
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
