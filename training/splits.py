"""Splitting labelled traffic by time, never at random.

Users go to train, validation or test by the time of their first event, so the test users are unseen
and come later than everything a model learned from: random splits leak a user's own behaviour into
training and inflate sequence models' scores.

Example
-------
>>> from shopguard.training.labelled_traffic import LabelledTraffic
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"e{i}", f"u{i}", "page_view", 1000 * i) for i in range(10)]
>>> parts = split_by_time(LabelledTraffic(events, []), train_share=0.6, validation_share=0.2)
>>> [sorted(e.user_id for e in parts[name].events) for name in ("train", "validation", "test")]
[['u0', 'u1', 'u2', 'u3', 'u4', 'u5'], ['u6', 'u7'], ['u8', 'u9']]
"""

from __future__ import annotations

from shopguard.training.behaviour_stats import by_user
from shopguard.training.labelled_traffic import LabelledTraffic

SPLITS = ("train", "validation", "test")


def split_by_time(
    traffic: LabelledTraffic, train_share: float = 0.6, validation_share: float = 0.2
) -> dict[str, LabelledTraffic]:
    """Train, validation and test traffic; users are ordered by their first event and cut by share."""
    histories = by_user(traffic.events)
    users = sorted(histories, key=lambda u: (histories[u][0].ts_ms, u))
    first_validation = int(round(train_share * len(users)))
    first_test = int(round((train_share + validation_share) * len(users)))
    groups = {
        "train": users[:first_validation],
        "validation": users[first_validation:first_test],
        "test": users[first_test:],
    }
    parts = {}
    for name, members in groups.items():
        member_set = set(members)
        events = sorted((e for u in members for e in histories[u]), key=lambda e: e.ts_ms)
        parts[name] = LabelledTraffic(events, [label for label in traffic.labels if label.user_id in member_set])
    return parts
