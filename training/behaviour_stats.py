"""What normal shopping looks like, measured on events: the figures the simulator is calibrated on.

:func:`measure_behaviour` reduces any list of canonical events (real Taobao traffic or simulated users)
to :class:`BehaviourStats`, so that real and simulated traffic are compared with the same code.

Example
-------
>>> from shopguard.udfs.events import Event
>>> events = [Event("a", "u1", "page_view", 0, item_id="i1", category_id="c1"),
...           Event("b", "u1", "add_to_cart", 60_000, item_id="i1", category_id="c1"),
...           Event("c", "u2", "page_view", 5_000, item_id="i2", category_id="c2")]
>>> stats = measure_behaviour(events)
>>> stats.users, stats.behaviour_mix["page_view"], stats.p_same_item, stats.funnel_view_to_cart
(2, 0.6667, 1.0, 0.5)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from shopguard.udfs.encoding import VISIT_GAP_MS
from shopguard.udfs.events import Event

QUANTILES = tuple(round(q, 2) for q in np.linspace(0, 1, 101))


@dataclass(frozen=True)
class BehaviourStats:
    """Normal-behaviour figures of a population of users (per-user sequences in time order)."""

    users: int
    events: int
    events_per_user: dict[int, int]  # number of events -> number of users with that many
    behaviour_mix: dict[str, float]
    first_behaviour: dict[str, float]
    transitions: dict[str, dict[str, float]]  # P(next event type | this event type)
    gap_quantiles_s: tuple[float, ...]  # 101 quantiles of the time between a user's consecutive events
    p_same_item: float
    p_same_category_given_new_item: float
    items_per_user_mean: float
    categories_per_user_mean: float
    session_events_mean: float
    funnel_view_to_cart: float  # share of users with a page view who also add to cart
    funnel_cart_to_purchase: float  # share of users with an add-to-cart who also purchase

    def summary(self) -> dict[str, float]:
        """The headline figures by name, in the order a calibration report shows them."""
        quantile = dict(zip(QUANTILES, self.gap_quantiles_s))
        rows = [
            ("users", self.users),
            ("events", self.events),
            ("events per user, mean", round(self.events / max(self.users, 1), 3)),
        ]
        rows += [(f"share of {kind}", share) for kind, share in sorted(self.behaviour_mix.items())]
        rows += [
            ("gap between events, median (s)", quantile[0.5]),
            ("gap between events, p10 (s)", quantile[0.1]),
            ("gap between events, p90 (s)", quantile[0.9]),
            ("next event on the same item", self.p_same_item),
            ("new item in the same category", self.p_same_category_given_new_item),
            ("distinct items per user, mean", self.items_per_user_mean),
            ("distinct categories per user, mean", self.categories_per_user_mean),
            ("events per session, mean", self.session_events_mean),
            ("funnel: viewers who add to cart", self.funnel_view_to_cart),
            ("funnel: carters who purchase", self.funnel_cart_to_purchase),
        ]
        return dict(rows)


def by_user(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Each user's events in time order."""
    users: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        users[event.user_id].append(event)
    for history in users.values():
        history.sort(key=lambda e: e.ts_ms)
    return dict(users)


def sessions(history: Sequence[Event], gap_ms: int = VISIT_GAP_MS) -> list[list[Event]]:
    """One user's time-ordered events cut into visits after ``gap_ms`` of inactivity (the job's rule)."""
    visits: list[list[Event]] = []
    for event in history:
        if not visits or event.ts_ms - visits[-1][-1].ts_ms > gap_ms:
            visits.append([])
        visits[-1].append(event)
    return visits


def measure_behaviour(events: Iterable[Event]) -> BehaviourStats:
    """Measure :class:`BehaviourStats` on ``events`` (any order; grouped by user here)."""
    users = by_user(events)
    all_events = [e for history in users.values() for e in history]
    pairs = [(a, b) for history in users.values() for a, b in zip(history, history[1:])]
    gaps = np.array([(b.ts_ms - a.ts_ms) / 1000.0 for a, b in pairs]) if pairs else np.zeros(1)
    new_item_pairs = [(a, b) for a, b in pairs if a.item_id != b.item_id]
    return BehaviourStats(
        users=len(users),
        events=len(all_events),
        events_per_user=dict(sorted(Counter(len(h) for h in users.values()).items())),
        behaviour_mix=_shares(Counter(e.event_type for e in all_events)),
        first_behaviour=_shares(Counter(h[0].event_type for h in users.values())),
        transitions=_transitions(pairs),
        gap_quantiles_s=tuple(round(float(g), 3) for g in np.quantile(gaps, QUANTILES)),
        p_same_item=_share(sum(a.item_id == b.item_id for a, b in pairs), len(pairs)),
        p_same_category_given_new_item=_share(
            sum(a.category_id == b.category_id for a, b in new_item_pairs), len(new_item_pairs)
        ),
        items_per_user_mean=_mean(len({e.item_id for e in h}) for h in users.values()),
        categories_per_user_mean=_mean(len({e.category_id for e in h}) for h in users.values()),
        session_events_mean=_mean(_session_lengths(users.values())),
        funnel_view_to_cart=_funnel(users.values(), "page_view", "add_to_cart"),
        funnel_cart_to_purchase=_funnel(users.values(), "add_to_cart", "purchase"),
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _shares(counts: Counter) -> dict[str, float]:
    total = sum(counts.values())
    return {key: _share(n, total) for key, n in sorted(counts.items())}


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else 0.0


def _transitions(pairs: list[tuple[Event, Event]]) -> dict[str, dict[str, float]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for a, b in pairs:
        counts[a.event_type][b.event_type] += 1
    return {kind: _shares(following) for kind, following in sorted(counts.items())}


def _session_lengths(histories: Iterable[list[Event]]) -> list[int]:
    return [len(visit) for history in histories for visit in sessions(history)]


def _funnel(histories: Iterable[list[Event]], step: str, next_step: str) -> float:
    reached = [h for h in histories if any(e.event_type == step for e in h)]
    return _share(sum(any(e.event_type == next_step for e in h) for h in reached), len(reached))
