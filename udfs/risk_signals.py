"""Risk signals in the canonical format: what ``user-risk-signals`` carries, for retention teams.

A signal is about a customer, not an event: ``signal`` (``churn_risk``), ``status`` (``open``,
``updated``, ``recovered``), ``score`` in [0, 1], ``user_id``, ``since`` (the start of the customer's
last visit), ``at`` (the event time the signal speaks for), ``reasons`` in words, the rule version,
and ``signal_id`` + ``revision`` so that a consumer keeps one row per episode.

Example
-------
>>> signal = risk_signal(user_id="u1", status="open", score=0.5, since_ms=0, at_ms=19 * 86_400_000,
...                      reasons=[silence_reason(19 * 86_400_000, 3 * 86_400_000, 60 * 86_400_000, 21)],
...                      rule_version="churn-rules-1", revision=0, opened_at_ms=19 * 86_400_000)
>>> signal["signal"], signal["since"], signal["reasons"][0]["text"]
('churn_risk', '1970-01-01T00:00:00.000Z', 'no visit for 19 days; this customer came every 3 days for 2 months')
"""

from __future__ import annotations

import uuid
from typing import Any, Sequence

from shopguard.udfs.alerts import rfc3339_ms

CHURN_RISK = "churn_risk"
SIGNAL_STATUSES = ("open", "updated", "recovered")
_SIGNAL_NAMESPACE = uuid.UUID("0b6f2c64-9a1e-4d53-8f43-5e1f0c7d2a91")
DAY_MS = 86_400_000


def signal_id_for(rule_version: str, user_id: str, opened_at_ms: int) -> str:
    """The id of one episode's signal: stable for (rules, user, when it opened), so replays agree."""
    return str(uuid.uuid5(_SIGNAL_NAMESPACE, f"{rule_version}\n{user_id}\n{opened_at_ms}"))


def risk_signal(
    *,
    user_id: str,
    status: str,
    score: float,
    since_ms: int,
    at_ms: int,
    reasons: Sequence[dict[str, Any]],
    rule_version: str,
    revision: int,
    opened_at_ms: int,
) -> dict[str, Any]:
    """The canonical churn-risk signal (see the module docstring)."""
    return {
        "signal_id": signal_id_for(rule_version, user_id, opened_at_ms),
        "signal": CHURN_RISK,
        "status": status,
        "revision": revision,
        "user_id": user_id,
        "score": round(float(score), 6),
        "since": rfc3339_ms(since_ms),
        "at": rfc3339_ms(at_ms),
        "reasons": list(reasons),
        "rule_version": rule_version,
    }


def days_in_words(ms: float) -> str:
    """``19 days``, ``1 day``, ``2 months``, ``5 weeks``: how a retention team says a span.

    >>> days_in_words(DAY_MS), days_in_words(19 * DAY_MS), days_in_words(35 * DAY_MS), days_in_words(61 * DAY_MS)
    ('1 day', '19 days', '5 weeks', '2 months')
    """
    days = ms / DAY_MS
    if days >= 60:
        return _plural(round(days / 30), "month")
    if days >= 28:
        return _plural(round(days / 7), "week")
    return _plural(max(round(days), 1), "day")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def silence_reason(silence_ms: int, usual_gap_ms: float, known_for_ms: int, visits: int) -> dict[str, Any]:
    """Why a silence is unusual for this customer, in words."""
    if visits >= 4:
        habit = f"this customer came every {days_in_words(usual_gap_ms)} for {days_in_words(known_for_ms)}"
    else:
        habit = (
            f"a customer new like this one ({visits} visits) usually comes back within {days_in_words(usual_gap_ms)}"
        )
    return {
        "feature": "silence",
        "value": round(silence_ms / DAY_MS, 2),
        "text": f"no visit for {days_in_words(silence_ms)}; {habit}",
    }


def refund_reason(recent_refunds: int, recent_purchases: int, earlier_refunds: int, earlier_purchases: int) -> dict:
    """Why this customer's refund requests climb, in words.

    >>> refund_reason(3, 5, 0, 12)["text"]
    '3 refund requests in the last 5 purchases, none before'
    >>> refund_reason(4, 5, 1, 20)["text"]
    '4 refund requests in the last 5 purchases, 1 in the 20 before'
    """
    before = "none before" if earlier_refunds == 0 else f"{earlier_refunds} in the {earlier_purchases} before"
    return {
        "feature": "refund_requests",
        "value": recent_refunds,
        "text": f"{recent_refunds} refund requests in the last {recent_purchases} purchases, {before}",
    }


def thinning_reason(gaps_ms: list[float], usual_gap_ms: float, known_for_ms: int) -> dict[str, Any]:
    """Why the customer seems to be slowing down, in words.

    >>> thinning_reason([9 * DAY_MS, 12 * DAY_MS], 3 * DAY_MS, 60 * DAY_MS)["text"][:71]
    'visits thinning out: the last 2 gaps between visits were 9 and 12 days;'
    """
    spans = [str(max(round(g / DAY_MS), 1)) for g in gaps_ms]  # oldest first
    listed = " and ".join([", ".join(spans[:-1]), spans[-1]] if len(spans) > 1 else spans)
    return {
        "feature": "thinning",
        "value": round(min(gaps_ms) / usual_gap_ms, 2),
        "text": f"visits thinning out: the last {len(gaps_ms)} gaps between visits were {listed} days; "
        f"this customer came every {days_in_words(usual_gap_ms)} for {days_in_words(known_for_ms)}",
    }


def rhythm_reason(gap_ms: int) -> dict[str, Any]:
    """What closed a thinning episode: a visit soon after the one before."""
    return {
        "feature": "returned",
        "value": round(gap_ms / DAY_MS, 2),
        "text": f"visits back to their usual rhythm: this one came {days_in_words(gap_ms)} after the one before",
    }


def recovered_reason(silence_ms: int) -> dict[str, Any]:
    """What closed the episode: the customer came back."""
    return {
        "feature": "returned",
        "value": round(silence_ms / DAY_MS, 2),
        "text": f"the customer came back after {days_in_words(silence_ms)}",
    }
