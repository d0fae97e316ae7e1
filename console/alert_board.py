"""The alerts the console shows: the newest revision of each alert, and the verdicts given on them.

An alert is open until a verdict on it arrives. The board holds at most ``capacity`` alerts (the oldest
to arrive leave first), and counts its changes in :attr:`AlertBoard.version` so that a page can ask
"anything new since version N?".

Example
-------
>>> board = AlertBoard(capacity=100)
>>> board.add_alert({"alert_id": "a1", "user_id": "u1", "anomaly_type": "bot", "score": 0.97,
...                  "model_version": "m1", "detected_at": "2026-12-06T06:00:00.000Z"})
>>> board.add_alert({"alert_id": "a2", "user_id": "u2", "anomaly_type": "card_testing", "score": 0.99,
...                  "model_version": "m1", "detected_at": "2026-12-06T06:00:05.000Z"})
>>> [a["alert_id"] for a in board.open_alerts(AlertFilter())]
['a2', 'a1']
>>> [a["alert_id"] for a in board.open_alerts(AlertFilter(anomaly_type="bot"))]
['a1']
>>> board.add_verdict({"alert_id": "a2", "verdict": "false_positive", "decided_at": "2026-12-06T06:01:00.000Z"})
>>> [a["alert_id"] for a in board.open_alerts(AlertFilter())], board.version
(['a1'], 3)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Mapping

from shopguard.udfs.detection_rules import made_by_rules


class FilterError(ValueError):
    """A filter in the page's address cannot be read; the message names it."""


@dataclass(frozen=True)
class AlertFilter:
    """Which open alerts a page lists: one abuse type, a lowest score, one model version (empty: all)."""

    anomaly_type: str = ""
    min_score: float | None = None
    model_version: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "AlertFilter":
        """The filter in a page's address: ``?type=bot&min_score=0.9&model_version=m1``.

        >>> AlertFilter.from_query({"type": "bot", "min_score": "0.9"})
        AlertFilter(anomaly_type='bot', min_score=0.9, model_version='')
        """
        raw_score = (query.get("min_score") or "").strip()
        try:
            min_score = float(raw_score) if raw_score else None
        except ValueError:
            raise FilterError(
                f"min_score {raw_score!r} is not a number: give one like 0.9, or leave it empty"
            ) from None
        return cls(
            anomaly_type=(query.get("type") or "").strip(),
            min_score=min_score,
            model_version=(query.get("model_version") or "").strip(),
        )

    def admits(self, alert: Mapping[str, Any]) -> bool:
        if self.anomaly_type and alert.get("anomaly_type") != self.anomaly_type:
            return False
        if self.model_version and alert.get("model_version") != self.model_version:
            return False
        return self.min_score is None or _score(alert) >= self.min_score


def _score(alert: Mapping[str, Any]) -> float:
    """The score that made the alert: the model's, or for an alert made by rules alone the highest of theirs."""
    score = alert.get("score")
    model = float(score) if isinstance(score, (int, float)) else float("-inf")
    return max([model, *(float(rule.get("score", 1.0)) for rule in made_by_rules(alert))])


def _newest_first(alert: Mapping[str, Any]) -> tuple[str, int]:
    return str(alert.get("detected_at") or ""), int(alert.get("_arrival", 0))


class AlertBoard:
    """Alerts by id (their newest revision) and verdicts by alert id; safe to share between threads."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.version = 0
        self._alerts: dict[str, dict[str, Any]] = {}
        self._verdicts: dict[str, dict[str, Any]] = {}
        self._arrivals = 0
        self._lock = threading.Lock()

    def add_alert(self, alert: Mapping[str, Any]) -> None:
        """Keep ``alert`` unless the board holds a later revision of it; records without an id are skipped."""
        alert_id = alert.get("alert_id")
        if not isinstance(alert_id, str) or not alert_id:
            return
        with self._lock:
            held = self._alerts.get(alert_id)
            if held is not None and int(held.get("revision") or 0) > int(alert.get("revision") or 0):
                return
            self._arrivals += 1
            self._alerts.pop(alert_id, None)
            self._alerts[alert_id] = {**alert, "_arrival": self._arrivals}
            while len(self._alerts) > self.capacity:
                del self._alerts[next(iter(self._alerts))]
            self.version += 1

    def add_verdict(self, verdict: Mapping[str, Any]) -> None:
        """Record a verdict (as on ``alert-feedback``); the newest decision on an alert wins."""
        alert_id = verdict.get("alert_id")
        if not isinstance(alert_id, str) or not alert_id:
            return
        with self._lock:
            held = self._verdicts.get(alert_id)
            if held is not None and str(held.get("decided_at", "")) > str(verdict.get("decided_at", "")):
                return
            self._verdicts[alert_id] = dict(verdict)
            self.version += 1

    def open_alerts(self, alert_filter: AlertFilter, limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts without a verdict that ``alert_filter`` admits, newest first."""
        with self._lock:
            found = [a for i, a in self._alerts.items() if i not in self._verdicts and alert_filter.admits(a)]
        found.sort(key=_newest_first, reverse=True)
        return found[:limit] if limit is not None else found

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._alerts.get(alert_id)

    def verdict(self, alert_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._verdicts.get(alert_id)

    def earlier_alerts(self, alert: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The same user's other alerts detected before ``alert``, newest first, each with its verdict."""
        with self._lock:
            found = [
                {**a, "verdict": self._verdicts.get(i)}
                for i, a in self._alerts.items()
                if a.get("user_id") == alert.get("user_id")
                and i != alert.get("alert_id")
                and _newest_first(a) < _newest_first(alert)
            ]
        return sorted(found, key=_newest_first, reverse=True)

    def choices(self) -> tuple[list[str], list[str]]:
        """The abuse types and model versions among the alerts held, for the filters' lists."""
        with self._lock:
            alerts = list(self._alerts.values())
        types = sorted({str(a["anomaly_type"]) for a in alerts if a.get("anomaly_type")})
        versions = sorted({str(a["model_version"]) for a in alerts if a.get("model_version")})
        return types, versions
