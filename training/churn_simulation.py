"""Customers drifting away, written into returning shoppers' timelines: the data churn signals are judged on.

Multi-week real histories are not available here (the Taobao slice spans two hours, Diginetica has no
user with two sessions, Fraud_Data one purchase per user), so nothing below is measured: the churn
behaviour is an assumption, stated in :class:`ChurnAssumptions`, applied to the simulated returning
shoppers of :mod:`~shopguard.training.returning_shoppers` (whose visit cadence is itself assumed).

* Some customers **stop**: their last visit falls somewhere in the observed weeks and nothing follows.
* Some **slow down first**: over a few weeks before their last visit, visits thin out (each is kept
  with a probability that falls towards the end), and some of them ask refunds for most of what they buy.
* Some customers who stay **pause** (a holiday, a busy month) and come back: the false alarms a
  silence rule must live with. Without them every long silence in the simulation would be churn
  (the returning-shopper simulator keeps every absence under a week).

Labels: a churner is a customer whose last visit is at least ``lost_after_days`` before the end of the
observed span (by construction), the usual inactivity definition of a lost customer.

Example
-------
>>> from shopguard.udfs.events import Event
>>> day = 86_400_000
>>> timeline = [Event(f"e{n}", "u", "page_view", n * 2 * day) for n in range(40)]
>>> rng = np.random.default_rng(1)
>>> stopped = stop(timeline, last_visit_ms=30 * day)
>>> max(e.ts_ms for e in stopped) <= 30 * day
True
>>> paused = pause(timeline, 20 * day, 35 * day)
>>> [e.ts_ms // day for e in paused if 18 <= e.ts_ms // day <= 36]
[18, 36]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shopguard.training.behaviour_stats import by_user, sessions
from shopguard.training.returning_shoppers import DAY_MS, ReturningShopperSimulator
from shopguard.udfs.events import Event


@dataclass(frozen=True)
class ChurnAssumptions:
    """How customers leave, slow down and pause: assumed, not measured (see the module docstring)."""

    churn_share: float = 0.25  # customers who leave during the observed weeks
    slow_down_share: float = 0.5  # of those, the ones whose visits thin out first; the others just stop
    slow_down_days: tuple[float, float] = (14.0, 42.0)  # how long the thinning lasts (uniform)
    kept_at_the_end: float = 0.15  # the share of visits still made just before the last one
    refund_share: float = 0.3  # of the slow-down churners, those who ask refunds for most of their late purchases
    p_refund: float = 0.7  # ... for each purchase of the thinning weeks
    pause_share: float = 0.2  # customers who stay but take a break
    pause_days: tuple[float, float] = (8.0, 30.0)  # its length (uniform)
    lost_after_days: float = 28.0  # no visit for this long at the end of the span: a lost customer
    history_days: float = 28.0  # every customer has at least this long of normal visits before leaving


@dataclass(frozen=True)
class ChurnTruth:
    """One customer's label: left or not, how, and their last visit."""

    user_id: str
    churned: bool
    kind: str  # "stays", "pauses", "stops", "slows_down", "slows_down_with_refunds"
    last_visit_ms: int


def simulate_churn(
    simulator: ReturningShopperSimulator,
    users: int,
    start_ms: int,
    days: float,
    seed: int,
    assume: ChurnAssumptions | None = None,
) -> tuple[list[Event], dict[str, ChurnTruth]]:
    """``users`` returning shoppers over ``days``, some leaving, slowing down or pausing; events and labels."""
    assume = assume or ChurnAssumptions()
    span = int(days * DAY_MS)
    end = start_ms + span
    histories = by_user(simulator.simulate(users, start_ms, span, seed, prefix="churn"))
    rng = np.random.default_rng([seed, 22])
    events: list[Event] = []
    truth: dict[str, ChurnTruth] = {}
    lost_ms = int(assume.lost_after_days * DAY_MS)
    for user in sorted(histories):
        timeline = histories[user]
        draw = rng.random()
        if draw < assume.churn_share:
            last = int(rng.uniform(start_ms + assume.history_days * DAY_MS, end - lost_ms))
            kind = "stops"
            if rng.random() < assume.slow_down_share:
                kind = "slows_down_with_refunds" if rng.random() < assume.refund_share else "slows_down"
                thin_ms = int(rng.uniform(*assume.slow_down_days) * DAY_MS)
                timeline = slow_down(timeline, last - thin_ms, last, assume, rng, kind.endswith("refunds"))
            timeline = stop(timeline, last)
        elif draw < assume.churn_share + assume.pause_share:
            length = int(rng.uniform(*assume.pause_days) * DAY_MS)
            begin = int(rng.uniform(start_ms + assume.history_days * DAY_MS, end - length - DAY_MS))
            timeline, kind = pause(timeline, begin, begin + length), "pauses"
        else:
            kind = "stays"
        if not timeline:
            continue
        last_visit = sessions(timeline)[-1][0].ts_ms
        churned = kind not in ("stays", "pauses") and end - last_visit >= lost_ms
        truth[user] = ChurnTruth(user, churned, kind if churned or kind in ("stays", "pauses") else "stays", last_visit)
        events += timeline
    events.sort(key=lambda e: e.ts_ms)
    return events, truth


def stop(timeline: list[Event], last_visit_ms: int) -> list[Event]:
    """The visits that start at or before ``last_visit_ms``; nothing after."""
    return [e for visit in sessions(timeline) if visit[0].ts_ms <= last_visit_ms for e in visit]


def pause(timeline: list[Event], begin_ms: int, end_ms: int) -> list[Event]:
    """The timeline without the visits that start inside ``[begin_ms, end_ms)``."""
    return [e for visit in sessions(timeline) if not begin_ms <= visit[0].ts_ms < end_ms for e in visit]


def slow_down(
    timeline: list[Event],
    begin_ms: int,
    last_ms: int,
    assume: ChurnAssumptions,
    rng: np.random.Generator,
    with_refunds: bool,
) -> list[Event]:
    """Visits between ``begin_ms`` and ``last_ms`` kept ever more rarely; with ``with_refunds``, late purchases
    asked back at the next visit."""
    out: list[Event] = []
    owed: list[Event] = []
    for visit in sessions(timeline):
        start = visit[0].ts_ms
        if begin_ms <= start < last_ms:
            progress = (start - begin_ms) / max(last_ms - begin_ms, 1)
            if rng.random() >= 1.0 - progress * (1.0 - assume.kept_at_the_end):
                continue
        if owed and start >= begin_ms:  # refund requests for what was bought, at the next visit
            out += [_refund(purchase, start + 30_000 * (n + 1)) for n, purchase in enumerate(owed)]
            owed = []
        out += visit
        if with_refunds and begin_ms <= start:
            owed += [e for e in visit if e.event_type == "purchase" and rng.random() < assume.p_refund]
    out.sort(key=lambda e: e.ts_ms)
    return out


def _refund(purchase: Event, ts_ms: int) -> Event:
    return purchase._replace(event_id=f"{purchase.event_id}-refund", event_type="refund_request", ts_ms=ts_ms)
