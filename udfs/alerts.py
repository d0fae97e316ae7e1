"""Alerts in the canonical format, with reasons an analyst can read.

:func:`build_alert` turns a scored event (its user's encoded window, the recent event ids and the
model's score) into the alert dict published on ``behavior-alerts``. :class:`FormatAlert` is the
Flink scalar function around it; it runs only on rows that already crossed the threshold.

Example
-------
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"e{i}", "u9", "payment_failed", 1511658000000 + 500 * i, price=1.0) for i in range(4)]
>>> alert = build_alert(user_id="u9", session_id=None, event_id="e3", event_ts=1511658001500,
...                     codes=encode_user_events(events, 32)[-1], recent_event_ids=["e0", "e1", "e2", "e3"],
...                     score=0.97, threshold=0.9, model_version="placeholder-1", detected_at_ms=1511658002000)
>>> alert["anomaly_type"], alert["event_ts"], alert["reasons"][0]["feature"]
('card_testing', '2017-11-26T01:00:01.500Z', 'payment_failed')
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from pyflink.table.udf import ScalarFunction

from shopguard.udfs.encoding import describe_codes
from shopguard.udfs.scoring import ModelCard
from shopguard.udfs.user_history import RECENT_IDS_SEPARATOR

_ALERT_NAMESPACE = uuid.UUID("6f1c3c1e-5d0b-4e0e-9a57-8f1f3c0a2b10")

_REASON_RULES: tuple[tuple[str, str, str], ...] = (
    # (counted feature, anomaly type it suggests, how an analyst reads it)
    ("payment_failed", "card_testing", "{n} failed payments among the last {events} events"),
    ("login_failed", "account_takeover", "{n} failed logins among the last {events} events"),
    ("fast_gaps", "bot", "{n} of the last {events} events came less than 2 s after the previous one"),
    ("new_device", "account_takeover", "the device changed {n} times in the last {events} events"),
    ("new_ip", "account_takeover", "the IP address changed {n} times in the last {events} events"),
)
_MIN_COUNT = {"payment_failed": 2, "login_failed": 2, "fast_gaps": 5, "new_device": 1, "new_ip": 1}


def rfc3339_ms(epoch_ms: int) -> str:
    """``2017-11-26T01:00:01.500Z`` for an epoch-millisecond time."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def explain_window(codes: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The likely anomaly type and the reasons behind it, strongest first, from a user's window."""
    counts = describe_codes(codes)
    reasons = []
    for feature, anomaly_type, text in _REASON_RULES:
        n = counts.get(feature, 0)
        if n >= _MIN_COUNT[feature]:
            reasons.append({"feature": feature, "value": n, "suggests": anomaly_type,
                            "text": text.format(n=n, events=counts["events"])})
    reasons.sort(key=lambda r: r["value"] / max(counts["events"], 1), reverse=True)
    return (reasons[0]["suggests"] if reasons else "unknown"), reasons


def build_alert(*, user_id: str, session_id: str | None, event_id: str, event_ts: int, codes: bytes,
                recent_event_ids: Sequence[str], score: float, threshold: float, model_version: str,
                detected_at_ms: int) -> dict[str, Any]:
    """The canonical alert for one scored event. ``alert_id`` is stable for (model, user, event)."""
    anomaly_type, reasons = explain_window(codes)
    return {
        "alert_id": str(uuid.uuid5(_ALERT_NAMESPACE, f"{model_version}\n{user_id}\n{event_id}")),
        "user_id": user_id,
        "session_id": session_id,
        "event_ts": rfc3339_ms(event_ts),
        "detected_at": rfc3339_ms(detected_at_ms),
        "score": round(float(score), 6),
        "threshold": threshold,
        "model_version": model_version,
        "detectors": {"sequence_model": round(float(score), 6)},
        "anomaly_type": anomaly_type,
        "reasons": reasons,
        "event_ids": list(recent_event_ids),
    }


class FormatAlert(ScalarFunction):
    """Scalar UDF: a scored row that crossed the threshold in, the alert as JSON out."""

    def __init__(self, card: ModelCard):
        self.card = card

    def eval(self, user_id, session_id, event_id, event_ts, codes, recent_event_ids, score) -> str:
        alert = build_alert(
            user_id=user_id, session_id=session_id, event_id=event_id, event_ts=event_ts, codes=bytes(codes),
            recent_event_ids=recent_event_ids.split(RECENT_IDS_SEPARATOR) if recent_event_ids else [],
            score=score, threshold=self.card.threshold, model_version=self.card.model_version,
            detected_at_ms=int(time.time() * 1000),
        )
        return json.dumps(alert, separators=(",", ":"), ensure_ascii=False)
