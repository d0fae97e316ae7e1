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


def _demo_event(user_id: str, number: int | str, event_type: str, ts_ms: int, **fields) -> Event:
    """One event of a demo user: its id is the user's id and ``number``, its channel ``demo``."""
    return Event(f"{user_id}-{number}", user_id, event_type, ts_ms, channel="demo", **fields)


def click_bot(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """Sixty page views of sixty different items, 300-500 ms apart, from one device."""
    ts, events, where = start_ms, [], dict(device_id=f"{user_id}-device", ip="203.0.113.7")
    for i in range(60):
        ts += rng.randint(300, 500)
        item, category = str(rng.randint(1, 5_000_000)), str(rng.randint(1, 9000))
        events.append(_demo_event(user_id, i, "page_view", ts, item_id=item, category_id=category, **where))
    return events


def card_tester(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """An account opened for it, then eight failed payments of a few yuan, seconds apart, then one small purchase."""
    device = f"{user_id}-device"
    ts, events = start_ms, [_demo_event(user_id, "signup", "signup", start_ms, device_id=device)]
    card = dict(item_id="gift-card-5", quantity=1, device_id=device)
    for i in range(8):
        ts += rng.randint(1000, 4000)
        events.append(_demo_event(user_id, i, "payment_failed", ts, price=round(rng.uniform(0.5, 3.0), 2), **card))
    events.append(_demo_event(user_id, 8, "purchase", ts + 2000, price=1.0, **card))
    return events


def account_taker(user_id: str, start_ms: int, rng: random.Random) -> list[Event]:
    """Six failed logins from a new device, a login, then an expensive purchase."""
    ts, events = start_ms, []
    for i in range(6):
        ts += rng.randint(800, 2500)
        events.append(_demo_event(user_id, i, "login_failed", ts, device_id=f"stranger-{i % 2}", ip=f"198.51.100.{i}"))
    stranger = dict(device_id="stranger-0", ip="198.51.100.9")
    events.append(_demo_event(user_id, 6, "login", ts + 1500, **stranger))
    events.append(
        _demo_event(user_id, 7, "purchase", ts + 9000, item_id="phone-pro-max", price=8999.0, quantity=2, **stranger)
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
