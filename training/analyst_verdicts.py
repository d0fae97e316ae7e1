"""An analyst's verdict on an alert: the message on ``alert-feedback`` and the labels it becomes.

A verdict says whether an alert was right: ``confirmed`` with the abuse type the analyst saw, or
``false_positive``. :func:`make_verdict` builds one from the alert it judges and refuses, with the reason,
one that cannot be a label (no such alert, an unknown verdict or abuse type). :func:`parse_verdict` reads
one back from the topic with the same checks, and :func:`labels_from_verdicts` turns the verdicts into one
label per user for retraining (the newest verdict on a user wins).

The message (JSON, key ``user_id``)::

    {"alert_id": "...", "user_id": "...", "verdict": "confirmed" | "false_positive",
     "anomaly_type": "card_testing" | null, "analyst": "...", "note": "...",
     "decided_at": "2026-12-06T06:10:00.000Z"}

Example
-------
>>> alert = {"alert_id": "a1", "user_id": "u7", "anomaly_type": "bot"}
>>> verdict = make_verdict(alert, "confirmed", "card_testing", analyst="ana", decided_at_ms=1511658000000)
>>> verdict.to_json()
'{"alert_id": "a1", "user_id": "u7", "verdict": "confirmed", "anomaly_type": "card_testing", \
"analyst": "ana", "note": "", "decided_at": "2017-11-26T01:00:00.000Z"}'
>>> parse_verdict(verdict.to_json()) == verdict
True
>>> try:
...     make_verdict(alert, "confirmed", "teleportation", analyst="ana")
... except VerdictRefused as refused:
...     print(refused.reason.split(";")[0])
unknown abuse type 'teleportation'
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from shopguard.errors import RecordRefused
from shopguard.training.anomalies import PER_USER_ANOMALY_TYPES
from shopguard.udfs.alerts import rfc3339_ms

CONFIRMED = "confirmed"
FALSE_POSITIVE = "false_positive"
VERDICTS = (CONFIRMED, FALSE_POSITIVE)
ABUSE_TYPES = tuple(sorted(PER_USER_ANOMALY_TYPES))
"""The types a confirmed verdict may name: every family the detectors and the LSTM's type head know."""

NORMAL = "normal"
"""The label a false positive gives its user."""


class VerdictRefused(RecordRefused):
    """A verdict that cannot become a label; the message names the alert and the reason (``alert_id``, ``reason``)."""

    record = "verdict on alert"

    @property
    def alert_id(self) -> str:
        return self.key


@dataclass(frozen=True)
class Verdict:
    """One analyst's decision on one alert."""

    alert_id: str
    user_id: str
    verdict: str
    anomaly_type: str | None
    analyst: str
    note: str
    decided_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @property
    def label(self) -> str:
        """What the user is, by this verdict: the abuse type, or ``normal`` for a false positive."""
        return self.anomaly_type if self.verdict == CONFIRMED and self.anomaly_type else NORMAL


def make_verdict(
    alert: Mapping[str, Any] | None,
    verdict: str,
    anomaly_type: str | None = None,
    *,
    analyst: str,
    note: str = "",
    decided_at_ms: int | None = None,
    alert_id: str = "",
) -> Verdict:
    """The verdict on ``alert`` (the alert as published; None when it was not found under ``alert_id``).

    Refused (:class:`VerdictRefused`) when the alert is unknown, the verdict is neither ``confirmed`` nor
    ``false_positive``, a confirmation names no type or an unknown one, or a false positive names a type.
    """
    if alert is None:
        raise VerdictRefused(alert_id, "unknown alert: no committed alert on the alerts topic has this id")
    alert_id = str(alert.get("alert_id") or alert_id)
    user_id = alert.get("user_id")
    if not alert_id or not isinstance(user_id, str) or not user_id:
        raise VerdictRefused(alert_id, "the alert has no alert_id or user_id")
    return _checked(
        alert_id=alert_id,
        user_id=user_id,
        verdict=verdict,
        anomaly_type=anomaly_type or None,
        analyst=analyst,
        note=note,
        decided_at=rfc3339_ms(int(time.time() * 1000) if decided_at_ms is None else decided_at_ms),
    )


def parse_verdict(text: str | bytes) -> Verdict:
    """A verdict read back from ``alert-feedback``; refused like :func:`make_verdict` when it is not one."""
    fields = VerdictRefused.json_object(text)
    alert_id = fields.get("alert_id")
    missing = [
        name for name in ("alert_id", "user_id", "verdict", "decided_at") if not isinstance(fields.get(name), str)
    ]
    if missing:
        raise VerdictRefused(str(alert_id or ""), f"missing or not text: {', '.join(missing)}")
    decided_at_ms = _epoch_ms(fields["decided_at"])
    if decided_at_ms is None:
        raise VerdictRefused(alert_id, f"decided_at {fields['decided_at']!r} is not an RFC 3339 UTC time")
    return _checked(
        alert_id=alert_id,
        user_id=fields["user_id"],
        verdict=fields["verdict"],
        anomaly_type=fields.get("anomaly_type") or None,
        analyst=str(fields.get("analyst") or ""),
        note=str(fields.get("note") or ""),
        decided_at=rfc3339_ms(decided_at_ms),
    )


def labels_from_verdicts(verdicts: Iterable[Verdict]) -> dict[str, str]:
    """One label per judged user (abuse type or ``normal``); the newest verdict on a user wins.

    >>> a = Verdict("a1", "u1", "confirmed", "bot", "ana", "", "2026-12-06T06:00:00.000Z")
    >>> b = Verdict("a2", "u1", "false_positive", None, "bo", "", "2026-12-06T07:00:00.000Z")
    >>> labels_from_verdicts([b, a])
    {'u1': 'normal'}
    """
    return {user: verdict.label for user, verdict in newest_per_user(verdicts).items()}


def newest_per_user(verdicts: Iterable[Verdict]) -> dict[str, Verdict]:
    """Each judged user's newest verdict (by ``decided_at``; of two at the same time, the later given)."""
    newest: dict[str, Verdict] = {}
    for verdict in verdicts:
        seen = newest.get(verdict.user_id)
        if seen is None or verdict.decided_at >= seen.decided_at:
            newest[verdict.user_id] = verdict
    return newest


def _checked(**fields: Any) -> Verdict:
    verdict = Verdict(**fields)
    if verdict.verdict not in VERDICTS:
        raise VerdictRefused(verdict.alert_id, f"unknown verdict {verdict.verdict!r}; known: {', '.join(VERDICTS)}")
    if verdict.verdict == CONFIRMED and verdict.anomaly_type is None:
        raise VerdictRefused(
            verdict.alert_id, f"a confirmed alert needs its abuse type; known: {', '.join(ABUSE_TYPES)}"
        )
    if verdict.anomaly_type is not None and verdict.anomaly_type not in ABUSE_TYPES:
        raise VerdictRefused(
            verdict.alert_id, f"unknown abuse type {verdict.anomaly_type!r}; known: {', '.join(ABUSE_TYPES)}"
        )
    if verdict.verdict == FALSE_POSITIVE and verdict.anomaly_type is not None:
        raise VerdictRefused(verdict.alert_id, "a false positive names no abuse type")
    return verdict


def _epoch_ms(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000) if moment.tzinfo is not None else None
