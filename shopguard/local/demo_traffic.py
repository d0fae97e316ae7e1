"""Demo traffic: real Taobao shoppers, with a few obviously abnormal users mixed in at the start.

The abnormal users are blunt on purpose (the demo should show alerts within a minute); the labelled,
subtle anomalies for training and evaluation live in ``training/``.

Example
-------
>>> import random
>>> tester = card_tester("demo-card-tester-1", start_ms=1511658000000, rng=random.Random(1))
>>> sorted({e.event_type for e in tester})
['payment_failed', 'purchase', 'signup']
"""

from __future__ import annotations

import random
from typing import Callable

from shopguard.udfs.events import Event

AbnormalUser = Callable[[str, int, random.Random], list[Event]]


def click_bot(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """Sixty page views of sixty different items, 300-500 ms apart, from one device."""
    ts, events = start_ms, []
    for i in range(60):
        ts += rng.randint(300, 500)
        events.append(
            Event(
                f"{user_id}-{i}",
                user_id,
                "page_view",
                ts,
                item_id=str(rng.randint(1, 5_000_000)),
                category_id=str(rng.randint(1, 9000)),
                device_id=f"{user_id}-device",
                ip="203.0.113.7",
                channel="demo",
            )
        )
    return events


def card_tester(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """An account opened for it, then eight failed payments of a few yuan, seconds apart, then one small purchase."""
    device = f"{user_id}-device"
    ts, events = start_ms, [Event(f"{user_id}-signup", user_id, "signup", start_ms, device_id=device, channel="demo")]
    for i in range(8):
        ts += rng.randint(1000, 4000)
        events.append(
            Event(
                f"{user_id}-{i}",
                user_id,
                "payment_failed",
                ts,
                item_id="gift-card-5",
                price=round(rng.uniform(0.5, 3.0), 2),
                quantity=1,
                device_id=device,
                channel="demo",
            )
        )
    events.append(
        Event(
            f"{user_id}-8",
            user_id,
            "purchase",
            ts + 2000,
            item_id="gift-card-5",
            price=1.0,
            quantity=1,
            device_id=device,
            channel="demo",
        )
    )
    return events


def account_taker(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """Six failed logins from a new device, a login, then an expensive purchase."""
    ts, events = start_ms, []
    for i in range(6):
        ts += rng.randint(800, 2500)
        events.append(
            Event(
                f"{user_id}-{i}",
                user_id,
                "login_failed",
                ts,
                device_id=f"stranger-{i % 2}",
                ip=f"198.51.100.{i}",
                channel="demo",
            )
        )
    events.append(Event(f"{user_id}-6", user_id, "login", ts + 1500, device_id="stranger-0", ip="198.51.100.9"))
    events.append(
        Event(
            f"{user_id}-7",
            user_id,
            "purchase",
            ts + 9000,
            item_id="phone-pro-max",
            price=8999.0,
            quantity=2,
            device_id="stranger-0",
            ip="198.51.100.9",
            channel="demo",
        )
    )
    return events


ABNORMAL_USERS: tuple[tuple[str, AbnormalUser], ...] = (
    ("click-bot", click_bot),
    ("card-tester", card_tester),
    ("account-taker", account_taker),
)


def abnormal_users(count: int, start_ms: int, span_ms: int, seed: int) -> list[Event]:
    """``count`` abnormal users (cycling through the kinds), starting at random times in the span."""
    rng = random.Random(seed)
    events: list[Event] = []
    for n in range(count):
        kind, make = ABNORMAL_USERS[n % len(ABNORMAL_USERS)]
        events += make(f"demo-{kind}-{n + 1}", start_ms + rng.randint(0, span_ms), rng)
    return events


def demo_events(
    taobao: list[Event], abnormal_count: int, seed: int, plausible_after_ms: int = 946684800000
) -> list[Event]:
    """Taobao events in time order with ``abnormal_count`` abnormal users in their first five minutes.

    Events with implausible times (such as the real ``ts=15`` row) are kept and sent first, so
    that the demo shows how the job routes them to the dead-letter topic.
    """

    def send_time(event: Event) -> int:
        return event.ts_ms if event.ts_ms > plausible_after_ms else start

    start = min((e.ts_ms for e in taobao if e.ts_ms > plausible_after_ms), default=0)
    mixed = taobao + abnormal_users(abnormal_count, start, 5 * 60 * 1000, seed)
    return sorted(mixed, key=send_time)
