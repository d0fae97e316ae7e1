"""The benchmark's traffic: many users, realistic event mix, a few abusers, as Kafka-ready JSON.

Events are spread round-robin over ``users`` (so every user is active, as in the scaling runs) with
Taobao-like proportions of page views, carts, favourites and purchases; one user in 200 is a card
tester, so the decision step and the alert sink do some work too. Deterministic for a seed.

Example
-------
>>> events = bench_events(events=1000, users=100, seed=1)
>>> len(events), len({e.user_id for e in events})
(1000, 100)
"""

from __future__ import annotations

import random

from shopguard.udfs.events import Event

T0 = 1_511_658_000_000
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
    out = []
    for i in range(events):
        user = i % users
        abuser = user % 200 == 0
        kind = "payment_failed" if abuser and rng.random() < 0.7 else rng.choices(kinds, weights)[0]
        out.append(
            Event(
                event_id=f"b{seed}-{i}",
                user_id=f"bench-{user}",
                event_type=kind,
                ts_ms=start_ms + i * 50,
                item_id=str(rng.randrange(50_000)),
                category_id=str(rng.randrange(500)),
                price=round(rng.uniform(1, 300), 2) if kind in ("purchase", "payment_failed", "add_to_cart") else None,
                quantity=1 if kind in ("purchase", "add_to_cart") else None,
                device_id=f"d{user}",
                ip=f"10.0.{user % 250}.{user % 199}",
            )
        )
    return out


def as_records(events: list[Event]) -> list[tuple[str, bytes]]:
    """``(key, value)`` pairs for the producer."""
    return [(e.user_id, e.to_json().encode()) for e in events]
