"""Alerts in the canonical format, with reasons an analyst can read.

:func:`build_alert` turns a scored event (its user's encoded window, the recent event ids and the
model's score) into the alert dict published on ``behavior-alerts``. The job's keyed decision
step (:mod:`shopguard.udfs.alert_decision`) calls it for rows that crossed the
threshold and opened or updated an alert.

Example
-------
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"e{i}", "u9", "payment_failed", 1511658000000 + 500 * i, price=1.0) for i in range(4)]
>>> alert = build_alert(user_id="u9", session_id=None, event_id="e3", event_ts=1511658001500,
...                     codes=encode_user_events(events, 32)[-1], recent_event_ids=["e0", "e1", "e2", "e3"],
...                     score=0.97, threshold=0.9, model_version="placeholder-1", detected_at_ms=1511658002000)
>>> alert["anomaly_type"], alert["event_ts"], alert["reasons"][0]["feature"], tuple(alert) == ALERT_FIELDS
('card_testing', '2017-11-26T01:00:01.500Z', 'payment_failed', True)
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from shopguard.udfs.behaviour_tokens import describe_sequence
from shopguard.udfs.encoding import CODE_BYTES, describe_codes, describe_event_code

_ALERT_NAMESPACE = uuid.UUID("6f1c3c1e-5d0b-4e0e-9a57-8f1f3c0a2b10")

_REASON_RULES: tuple[tuple[str, str, str], ...] = (
    # (counted feature, anomaly type it suggests, how an analyst reads it)
    ("payment_failed", "card_testing", "{n} failed payments among the last {events} events"),
    ("login_failed", "account_takeover", "{n} failed logins among the last {events} events"),
    ("fast_gaps", "bot", "{n} of the last {events} events came less than 2 s after the previous one"),
    ("new_device", "account_takeover", "the device changed {n} times in the last {events} events"),
    ("new_ip", "account_takeover", "the IP address changed {n} times in the last {events} events"),
    ("review", "review_abuse", "{n} reviews among the last {events} events"),
    ("refund_request", "refund_abuse", "{n} refund requests among the last {events} events"),
)
_MIN_COUNT = {
    "payment_failed": 2,
    "login_failed": 2,
    "fast_gaps": 5,
    "new_device": 1,
    "new_ip": 1,
    "review": 3,
    "refund_request": 2,
}
_WITHOUT_PURCHASE = {  # an order event with no purchase in the window says more: nothing was bought to review
    "review": "{n} reviews and not one purchase among the last {events} events",
    "refund_request": "{n} refund requests and not one purchase among the last {events} events",
}


ALERT_FIELDS = (
    "alert_kind",
    "alert_id",
    "user_id",
    "session_id",
    "event_ts",
    "detected_at",
    "score",
    "threshold",
    "model_version",
    "detectors",
    "anomaly_type",
    "reasons",
    "event_ids",
    "revision",
    "session",
    "rules",
)
"""Every field of a user alert on the alerts topic, in the order :func:`build_alert` writes them: the one list
tests, the console and the docs hold alerts to (a ring alert, :mod:`shopguard.udfs.entity_rings`, has its own)."""


def newest_revisions(alerts: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Each alert once, at its newest ``revision`` (of two equal, the later read), by ``alert_id``, in the order
    first seen; records that are not alerts with an id are skipped.

    >>> [a.get("revision") for a in newest_revisions([{"alert_id": "a", "revision": 0}, {"alert_id": "b"},
    ...                                            {"alert_id": "a", "revision": 1}, "not an alert"]).values()]
    [1, None]
    """
    newest: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        if isinstance(alert, Mapping) and isinstance(alert.get("alert_id"), str):
            held = newest.get(alert["alert_id"])
            if held is None or (alert.get("revision") or 0) >= (held.get("revision") or 0):
                newest[alert["alert_id"]] = alert
    return newest


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
            if feature in _WITHOUT_PURCHASE and not counts.get("purchase"):
                text = _WITHOUT_PURCHASE[feature]
            reasons.append(
                {
                    "feature": feature,
                    "value": n,
                    "suggests": anomaly_type,
                    "text": text.format(n=n, events=counts["events"]),
                }
            )
    reasons.sort(key=lambda r: r["value"] / max(counts["events"], 1), reverse=True)
    return (reasons[0]["suggests"] if reasons else "unknown"), reasons


def alert_id_for(model_version: str, user_id: str, event_id: str) -> str:
    """The id of the alert that ``event_id`` opens: stable for (model, user, event), so replays agree."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{model_version}\n{user_id}\n{event_id}"))


def build_alert(
    *,
    user_id: str,
    session_id: str | None,
    event_id: str,
    event_ts: int,
    codes: bytes,
    recent_event_ids: Sequence[str],
    score: float,
    threshold: float,
    model_version: str,
    detected_at_ms: int,
    anomaly_type: str = "unknown",
    detectors: Mapping[str, float] | None = None,
    contributions: Sequence[Mapping[str, Any]] = (),
    alert_id: str | None = None,
    revision: int = 0,
    session: Mapping[str, Any] | None = None,
    unmatched_patterns: Sequence[int] = (),
    rarity_reasons: Sequence[Mapping[str, Any]] = (),
    entity_reasons: Sequence[Mapping[str, Any]] = (),
    new_account_reasons: Sequence[Mapping[str, Any]] = (),
    evidence: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The canonical alert for one scored event.

    ``anomaly_type`` comes from the model's type head; ``unknown`` falls back to the rules' guess.
    ``contributions`` (from :func:`~shopguard.udfs.explanations.occlusion_contributions`) become
    reasons that name the events behind the score. ``alert_id`` is stable for (model, user, event)
    unless the cool-down passes the id of the alert being updated; ``revision`` counts updates.
    ``session`` (from :class:`~shopguard.udfs.session_features.SessionFeatures`) describes the user's
    current session and adds a reason when the session is unusually fast.
    ``detectors`` holds each detector's score (``lstm`` defaults to ``score``; a detector
    that did not run, NaN, is left out); ``unmatched_patterns`` are the behaviour sequences the user's
    pattern profile lacks (:mod:`shopguard.udfs.pattern_matching`), each becoming a reason;
    ``rarity_reasons`` (from :meth:`~shopguard.udfs.rarity.RarityTables.reasons`) say what about the
    user's behaviour is rare among real shoppers; ``entity_reasons`` (from :meth:`~shopguard.udfs.
    entities_detector.EntityTables.reasons`) what is unusual about the event's device and IP across accounts.
    ``evidence`` (from :meth:`~shopguard.udfs.score_combiner.ScoreCombiner.evidence`: decades of rarity per
    detector) orders the reasons by the detector that said most (:func:`by_evidence`); without it they keep
    the order above.
    ``rules`` is empty: the decision step (:mod:`shopguard.udfs.alert_decision`) names the rule versions that
    touched the alert. ``alert_kind`` is ``"user"``: ring alerts (:mod:`shopguard.udfs.entity_rings`)
    share the topic as ``"ring"``. The alert's fields are :data:`ALERT_FIELDS`, in that order.
    """
    guessed_type, reasons = explain_window(codes)
    for contribution in contributions:
        if contribution["contribution"] > 0:
            reasons.append(
                {
                    "feature": "event",
                    "event_id": contribution["event_id"],
                    "value": contribution["contribution"],
                    "text": f"event {contribution['event_id']} ({contribution['event']}) raised the lstm "
                    f"score by {contribution['contribution']:.3f}",
                }
            )
    if session and session.get("events", 0) >= 10 and session.get("events_per_minute", 0) >= 20:
        reasons.append(
            {
                "feature": "session_rate",
                "value": session["events_per_minute"],
                "text": f"{session['events']} events in {session['duration_s']:g} s this session "
                f"({session['events_per_minute']:g} per minute) over "
                f"{session['distinct_items']} items",
            }
        )
    # A detector that did not run arrives as NaN, or as None once a NaN has crossed a Flink table (SQL NULL).
    scores = {"lstm": float(score), **{k: float(v) for k, v in (detectors or {}).items() if v is not None}}
    scores = {name: round(value, 6) for name, value in scores.items() if math.isfinite(value)}
    reasons += [dict(reason) for reason in new_account_reasons]
    reasons += [dict(reason) for reason in rarity_reasons]
    reasons += [dict(reason) for reason in entity_reasons]
    reasons += _detector_reasons(scores, unmatched_patterns, codes, evidence or {})
    reasons = by_evidence(reasons, evidence or {})
    rounded = round(float(score), 6)
    return {
        "alert_kind": "user",
        "alert_id": alert_id or alert_id_for(model_version, user_id, event_id),
        "user_id": user_id,
        "session_id": session_id,
        "event_ts": rfc3339_ms(event_ts),
        "detected_at": rfc3339_ms(detected_at_ms),
        "score": rounded,
        "threshold": threshold,
        "model_version": model_version,
        "detectors": scores,
        "anomaly_type": anomaly_type if anomaly_type != "unknown" else guessed_type,
        "reasons": reasons,
        "event_ids": list(recent_event_ids),
        "revision": revision,
        "session": dict(session or {}),
        "rules": [],  # the decision step names the rule versions that touched the alert
    }


SURPRISING_NEXT_EVENT = 0.9
SURPRISING_DECADES = 2.0  # a next event rarer than one normal event in 10^this gets a reason, whatever its raw score
_WINDOW_COUNTS = {feature for feature, _, _ in _REASON_RULES} | {"session_rate"}


def reason_detector(reason: Mapping[str, Any]) -> str:
    """The detector a reason speaks for, by its ``feature``.

    >>> features = ("rarity:session_events", "event", "fast_gaps", "device_accounts_24h")
    >>> [reason_detector({"feature": f}) for f in features]
    ['rarity', 'lstm', 'velocity_rules', 'entities']
    """
    feature = str(reason.get("feature", ""))
    if feature.startswith("rarity:"):
        return "rarity"
    if feature == "event":
        return "lstm"
    if feature in _WINDOW_COUNTS:
        return "velocity_rules"
    if feature.startswith(("device_", "ip_")):
        return "entities"
    return feature  # user_patterns, next_event, new_account, rules


def by_evidence(reasons: Sequence[Mapping[str, Any]], evidence: Mapping[str, float]) -> list[dict[str, Any]]:
    """``reasons`` with those of the detector that gave the most decades of rarity first (a stable sort: a
    detector's own reasons keep their order; a detector outside ``evidence`` comes last).

    >>> reasons = [{"feature": "event", "text": "a"}, {"feature": "rarity:session_events", "text": "b"}]
    >>> [r["text"] for r in by_evidence(reasons, {"rarity": 4.2, "next_event": 1.0})]
    ['b', 'a']
    """
    return sorted((dict(reason) for reason in reasons), key=lambda r: -evidence.get(reason_detector(r), -1.0))


def _detector_reasons(
    scores: Mapping[str, float], unmatched_patterns: Sequence[int], codes: bytes, evidence: Mapping[str, float]
) -> list[dict[str, Any]]:
    """What the pattern and next-event detectors saw, in words (the next event's rarity when ``evidence`` has it)."""
    reasons = [
        {
            "feature": "user_patterns",
            "value": scores.get("user_patterns", 0.0),
            "text": f"not in this user's normal behaviour: {describe_sequence(sequence)}",
        }
        for sequence in unmatched_patterns
    ]
    surprise = scores.get("next_event")
    decades = evidence.get("next_event", 0.0)
    if surprise is not None and (surprise >= SURPRISING_NEXT_EVENT or decades >= SURPRISING_DECADES):
        newest = f" ({describe_event_code(bytes(codes)[-CODE_BYTES:])})" if len(codes) >= CODE_BYTES else ""
        rarity = (
            f": one normal event in {_one_in(decades)} is as surprising"
            if decades >= SURPRISING_DECADES
            else f" (surprise {surprise:.2f})"
        )
        reasons.append(
            {
                "feature": "next_event",
                "value": surprise,
                "text": f"the newest event{newest} was unexpected after the ones before it{rarity}",
            }
        )
    return reasons


def _one_in(decades: float) -> str:
    """``10 ** decades`` to two significant digits, in words an analyst reads.

    >>> _one_in(4.288), _one_in(2.0), _one_in(7.5)
    ('19,000', '100', '32 million')
    """
    n = float(f"{10**decades:.2g}")
    return f"{n / 1e6:.2g} million" if n >= 1e6 else f"{n:,.0f}"
