"""Normal traffic with labelled abuse mixed in: the data that detectors are trained and judged on.

:func:`mix_in_anomalies` picks a share of the users in any normal traffic (real Taobao users or
simulated shoppers) and writes one kind of abuse into each from an onset inside their own timeline,
half of them blunt and half subtle by default; click farming is injected as rings of accounts that
share a device, account sharing as visits of another (untouched) user written into the account, new-account
abuse as a fresh account beside the chosen user (whose own history stays normal). The
result keeps every normal event and labels every injected one. :func:`abuse_users` is the part that
writes abuse into chosen users, for data that picks its users and onsets itself (returning shoppers).

Example
-------
>>> from shopguard.udfs.events import Event
>>> normal = [Event(f"e{i}", f"u{i % 48}", "page_view", 60_000 * i, item_id=str(i), category_id="c")
...           for i in range(480)]
>>> traffic = mix_in_anomalies(normal, abused_share=0.25, seed=3)
>>> len(traffic.labels), sorted({label.anomaly_type for label in traffic.labels}) == sorted(ANOMALY_TYPES)
(12, True)
>>> len(traffic.events) > len(normal), traffic.event_labels()["e0"]
(True, None)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from shopguard.training.anomalies import (
    ANOMALY_TYPES,
    INJECTORS,
    AnomalyLabel,
    inject,
    inject_account_sharing,
    inject_ring,
)
from shopguard.training.behaviour_stats import by_user
from shopguard.udfs.events import Event

RING_SIZE = (3, 8)


@dataclass(frozen=True)
class LabelledTraffic:
    """Events in time order, and a label for every abused user."""

    events: list[Event]
    labels: list[AnomalyLabel]

    def event_labels(self) -> dict[str, str | None]:
        """Anomaly type of every event id (``None`` for normal events)."""
        labels: dict[str, str | None] = {e.event_id: None for e in self.events}
        for label in self.labels:
            for event_id in label.event_ids:
                labels[event_id] = label.anomaly_type
        return labels

    def write(self, events_path: str | Path, labels_path: str | Path) -> None:
        """Events as canonical JSON lines; labels as JSON lines (one per abused user)."""
        Path(events_path).write_text("".join(e.to_json() + "\n" for e in self.events))
        Path(labels_path).write_text("".join(json.dumps(asdict(label)) + "\n" for label in self.labels))


Onset = Callable[[Sequence[Sequence[Event]], np.random.Generator], int]
"""When abuse starts for a group of timelines (one user, or a click-farming ring)."""


def mix_in_anomalies(
    normal: Sequence[Event],
    abused_share: float,
    seed: int,
    subtle_share: float = 0.5,
    types: Sequence[str] = ANOMALY_TYPES,
) -> LabelledTraffic:
    """Abuse ``abused_share`` of the users in ``normal``, the types taking turns; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    histories = by_user(normal)
    users = sorted(histories)
    chosen = [users[i] for i in rng.permutation(len(users))[: int(round(abused_share * len(users)))]]
    abused = set(chosen)
    untouched = {user: histories[user] for user in users if user not in abused}
    abused_events, labels = abuse_users(histories, chosen, rng, subtle_share, types, others=untouched)
    events = [e for history in untouched.values() for e in history] + abused_events
    events.sort(key=lambda e: e.ts_ms)
    return LabelledTraffic(events, labels)


def abuse_users(
    histories: Mapping[str, Sequence[Event]],
    chosen: Sequence[str],
    rng: np.random.Generator,
    subtle_share: float = 0.5,
    types: Sequence[str] = ANOMALY_TYPES,
    onset: Onset | None = None,
    others: Mapping[str, Sequence[Event]] | None = None,
) -> tuple[list[Event], list[AnomalyLabel]]:
    """The ``chosen`` users' timelines with abuse written in (types in equal turns), and their labels.

    ``onset`` picks when abuse starts (default: late in the first timeline of the group). Account
    sharing writes in visits of someone drawn from ``others``, people who are not the account's owner.
    """
    onset = onset or _first_timeline_onset
    donors = sorted(others or {})
    events: list[Event] = []
    labels = []
    quotas = np.array_split(np.array(chosen, dtype=object), len(types))
    for anomaly_type, group in zip(types, quotas):
        group = list(group)
        while group:
            subtle = bool(rng.random() < subtle_share)
            if anomaly_type == "click_farming":
                size = int(rng.integers(*RING_SIZE))
                ring, group = group[:size], group[size:]
                ring_histories = [histories[u] for u in ring]
                ring_events, ring_labels = inject_ring(ring_histories, onset(ring_histories, rng), subtle, rng)
                events += ring_events
                labels += ring_labels
                continue
            user, group = group[0], group[1:]
            if anomaly_type == "account_sharing":
                if not donors:
                    raise ValueError("account sharing needs other people's events (others) to write into accounts")
                other = others[donors[int(rng.integers(len(donors)))]]
                user_events, label = inject_account_sharing(
                    histories[user], other, onset([histories[user]], rng), subtle, rng
                )
            else:
                user_events, label = inject(
                    INJECTORS[anomaly_type], histories[user], onset([histories[user]], rng), subtle, rng
                )
            events += user_events
            labels.append(label)
    return events, labels


def _first_timeline_onset(histories: Sequence[Sequence[Event]], rng: np.random.Generator) -> int:
    return _onset(histories[0], rng)


def _onset(history: Sequence[Event], rng: np.random.Generator) -> int:
    """A moment inside the user's timeline or just after it: abuse follows some normal behaviour."""
    first, last = history[0].ts_ms, history[-1].ts_ms
    return int(first + rng.uniform(0.3, 1.0) * (last - first) + rng.integers(1_000, 600_000))
