"""Labelled traffic as the detectors see it: one encoded window per event, as the streaming job sees it.

For every event, in each user's time order, :func:`encode_traffic` keeps the window of the user's last
L event codes *after* that event (the same :func:`~shopguard.udfs.encoding.encode_user_events` the job
runs), the event's label, and who and when it was. Detectors score windows; the evaluation turns the
per-event scores into per-user and per-event figures.

Example
-------
>>> from shopguard.training.labelled_traffic import LabelledTraffic
>>> from shopguard.training.anomalies import AnomalyLabel
>>> from shopguard.udfs.events import Event
>>> events = [Event("a", "u1", "page_view", 0), Event("b", "u1", "payment_failed", 1000),
...           Event("c", "u2", "login", 500)]
>>> encoded = encode_traffic(LabelledTraffic(events, [AnomalyLabel("u1", "card_testing", False, 900, ("b",))]), 8)
>>> encoded.event_ids, encoded.event_types, encoded.user_types
(['a', 'b', 'c'], ['', 'card_testing', ''], ['card_testing', 'card_testing', ''])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shopguard.config import JobSettings
from shopguard.training.behaviour_stats import by_user
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.udfs.admission import session_profiles
from shopguard.udfs.encoding import batch_features, encode_user_events


@dataclass
class EncodedTraffic:
    """Parallel per-event lists, grouped by user and in time order within each user."""

    history_length: int
    windows: list[bytes]
    event_ids: list[str]
    user_ids: list[str]
    ts_ms: np.ndarray
    event_types: list[str]  # anomaly type of the event itself, "" for normal events
    user_types: list[str]  # anomaly type of the event's user, "" for normal users
    subtle: np.ndarray  # the user's abuse is the subtle variant
    onset_ms: np.ndarray  # the user's onset (0 for normal users)
    profiles: list[bytes] = field(default_factory=list)  # the job's session bytes after each event (rarity)

    def __len__(self) -> int:
        return len(self.windows)

    def features(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Model input for events ``start:stop`` (computed on demand: it is large)."""
        return batch_features(self.windows[start:stop], self.history_length)

    @property
    def event_is_abuse(self) -> np.ndarray:
        return np.array([bool(t) for t in self.event_types])

    def subset(self, mask: np.ndarray) -> "EncodedTraffic":
        index = np.flatnonzero(mask)
        pick = lambda values: [values[i] for i in index]  # noqa: E731
        return EncodedTraffic(
            self.history_length,
            pick(self.windows),
            pick(self.event_ids),
            pick(self.user_ids),
            self.ts_ms[index],
            pick(self.event_types),
            pick(self.user_types),
            self.subtle[index],
            self.onset_ms[index],
            pick(self.profiles) if self.profiles else [],
        )


def encode_traffic(
    traffic: LabelledTraffic, history_length: int, settings: JobSettings | None = None
) -> EncodedTraffic:
    """Encode every event of ``traffic`` with the job's encoder and keyed state, and attach its labels.

    ``settings`` (the job's: session gap, dedup window) default to :class:`~shopguard.config.JobSettings`'s.
    """
    settings = settings or JobSettings(history_length=history_length)
    event_type = {}
    user_label = {}
    for label in traffic.labels:
        user_label[label.user_id] = label
        for event_id in label.event_ids:
            event_type[event_id] = label.anomaly_type
    windows, event_ids, user_ids, ts, types, user_types, subtle, onset = [], [], [], [], [], [], [], []
    profiles: list[bytes] = []
    for user, history in by_user(traffic.events).items():
        label = user_label.get(user)
        windows += encode_user_events(history, history_length)
        profiles += session_profiles(history, settings)
        for event in history:
            event_ids.append(event.event_id)
            user_ids.append(user)
            ts.append(event.ts_ms)
            types.append(event_type.get(event.event_id, ""))
            user_types.append(label.anomaly_type if label else "")
            subtle.append(bool(label and label.subtle))
            onset.append(label.onset_ms if label else 0)
    return EncodedTraffic(
        history_length,
        windows,
        event_ids,
        user_ids,
        np.array(ts, dtype=np.int64),
        types,
        user_types,
        np.array(subtle),
        np.array(onset, dtype=np.int64),
        profiles,
    )
