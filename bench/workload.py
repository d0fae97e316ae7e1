"""The benchmark's traffic: many users, a shopper-like event mix, a few abusers, as Kafka-ready JSON.

Each user is a shopper: the time to their next event is drawn from a log-normal law whose mean keeps the whole
stream at about 20 events per second of event time, so that gaps vary as people's do (a fixed gap is a bot's,
and the detectors say so); the next event stays on the same item or category at shopper-like rates, with
popular categories and items (Zipf) drawn more often. Event types keep Taobao-like proportions of page views,
carts, favourites and purchases. One user in 200 is a card tester (mostly failed payments), so the decision
step and the alert sink do some work too. Every user gets events from the start, in time order. Deterministic
for a seed.

Before this workload the benchmark drew every event's item and category uniformly and gave users their turn
round-robin (a fixed gap): the rarity detector and the LSTM then found most events abnormal, a decision load
no shop sees (docs/benchmarks.md). ``shopguard bench`` reports the share of events that crossed a threshold in the
job (``crossing_share_p1``).

Example
-------
>>> events = bench_events(events=1000, users=100, seed=1)
>>> len(events), len({e.user_id for e in events})
(1000, 100)
>>> all(a.ts_ms <= b.ts_ms for a, b in zip(events, events[1:]))
True
"""

from __future__ import annotations

import heapq
import math
import random

from shopguard.udfs.events import Event

T0 = 1_511_658_000_000
EVENT_GAP_MS = 50  # of the whole stream, on average: 20 events per second of event time
GAP_SIGMA = 1.0  # spread of a user's log-normal gaps
P_SAME_CATEGORY = 0.75  # the next event stays in the category
P_SAME_ITEM = 0.35  # ... and on the item
CATEGORIES, ITEMS_PER_CATEGORY = 500, 100
_MIX = (
    ("page_view", 0.86),
    ("add_to_cart", 0.06),
    ("favorite", 0.03),
    ("purchase", 0.02),
    ("search", 0.02),
    ("payment_failed", 0.01),
)


def bench_events(events: int, users: int, seed: int = 7, start_ms: int = T0) -> list[Event]:
    """``events`` events over ``users`` users, in time order (about 20 events per second of event time)."""
    rng = random.Random(seed)
    kinds, weights = zip(*_MIX)
    mean_gap_ms = users * EVENT_GAP_MS
    mu = math.log(mean_gap_ms) - GAP_SIGMA**2 / 2  # a log-normal law with mean mean_gap_ms
    due = [(int(rng.random() * mean_gap_ms), user) for user in range(users)]  # every user starts in the first gap
    heapq.heapify(due)
    browsing: dict[int, tuple[int, int]] = {}  # user -> (category, item) of the user's last event
    out = []
    for i in range(events):
        offset, user = heapq.heappop(due)
        heapq.heappush(due, (offset + max(1, int(rng.lognormvariate(mu, GAP_SIGMA))), user))
        abuser = user % 200 == 0
        kind = "payment_failed" if abuser and rng.random() < 0.7 else rng.choices(kinds, weights)[0]
        category, item = _next_item(rng, browsing.get(user))
        browsing[user] = (category, item)
        out.append(
            Event(
                event_id=f"b{seed}-{i}",
                user_id=f"bench-{user}",
                event_type=kind,
                ts_ms=start_ms + offset,
                item_id=str(item),
                category_id=str(category),
                price=round(rng.uniform(1, 300), 2) if kind in ("purchase", "payment_failed", "add_to_cart") else None,
                quantity=1 if kind in ("purchase", "add_to_cart") else None,
                device_id=f"d{user}",
                ip=f"10.0.{user % 250}.{user % 199}",
            )
        )
    return out


def _next_item(rng: random.Random, last: tuple[int, int] | None) -> tuple[int, int]:
    """The category and item of a user's next event: the same item, another of the category, or elsewhere."""
    if last is None or rng.random() >= P_SAME_CATEGORY:
        category = _popular(rng, CATEGORIES)
        return category, category * ITEMS_PER_CATEGORY + _popular(rng, ITEMS_PER_CATEGORY)
    category, item = last
    if rng.random() < P_SAME_ITEM:
        return category, item
    return category, category * ITEMS_PER_CATEGORY + _popular(rng, ITEMS_PER_CATEGORY)


def _popular(rng: random.Random, size: int, exponent: float = 1.1) -> int:
    """An index in ``range(size)``, the first ones most often (Zipf-like, as shoppers' categories and items)."""
    while True:
        k = int(rng.paretovariate(exponent))
        if k <= size:
            return k - 1


def as_records(events: list[Event]) -> list[tuple[str, bytes]]:
    """``(key, value)`` pairs for the producer."""
    return [(e.user_id, e.to_json().encode()) for e in events]
