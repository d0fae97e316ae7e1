"""One abnormal episode, one alert: the per-user cool-down that turns a stream of high scores into
an alert that is opened once and then updated, not a flood.

A user's first score over the threshold opens an alert (revision 0). While the user keeps crossing
the threshold with less than ``job.alert_cooldown_ms`` of event time between crossings, the alert
stays open: a crossing is re-sent as the same ``alert_id`` with the next revision only when the score
rose by at least ``job.alert_update_min_gain`` or the anomaly type changed; other crossings are
suppressed (and counted). A crossing after a quiet gap longer than the cool-down opens a new alert.
Event time, not the wall clock, decides, so a replay gives the same alerts as the live stream.

Example
-------
>>> first = decide(None, event_ts=0, score=0.90, anomaly_type="bot", new_alert_id="a1",
...                cooldown_ms=60_000, min_gain=0.05)
>>> first.action, first.alert.revision
('open', 0)
>>> decide(first.alert, event_ts=1_000, score=0.93, anomaly_type="bot", new_alert_id="a2",
...        cooldown_ms=60_000, min_gain=0.05).action
'suppress'
>>> update = decide(first.alert, event_ts=2_000, score=0.97, anomaly_type="bot", new_alert_id="a3",
...                 cooldown_ms=60_000, min_gain=0.05)
>>> update.action, update.alert.alert_id, update.alert.revision
('update', 'a1', 1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import NamedTuple


@dataclass(frozen=True)
class OpenAlert:
    """The alert a user currently has open (kept in keyed state)."""

    alert_id: str
    opened_ts: int
    last_crossing_ts: int
    score: float
    anomaly_type: str
    revision: int = 0

    def to_json(self) -> str:
        return json.dumps(vars(self), separators=(",", ":"))  # its fields in order (asdict copies them deeply)

    @classmethod
    def from_json(cls, text: str | None) -> "OpenAlert | None":
        return cls(**json.loads(text)) if text else None


class Decision(NamedTuple):
    action: str  # "open", "update" or "suppress"
    alert: OpenAlert


def decide(
    open_alert: OpenAlert | None,
    *,
    event_ts: int,
    score: float,
    anomaly_type: str,
    new_alert_id: str,
    cooldown_ms: int,
    min_gain: float,
) -> Decision:
    """What to do with a score over the threshold, given the user's open alert (if any)."""
    if open_alert is None or event_ts - open_alert.last_crossing_ts > cooldown_ms:
        return Decision("open", OpenAlert(new_alert_id, event_ts, event_ts, score, anomaly_type))
    still_open = replace(open_alert, last_crossing_ts=max(open_alert.last_crossing_ts, event_ts))
    if score >= open_alert.score + min_gain or anomaly_type != open_alert.anomaly_type:
        return Decision(
            "update", replace(still_open, score=score, anomaly_type=anomaly_type, revision=open_alert.revision + 1)
        )
    return Decision("suppress", still_open)
