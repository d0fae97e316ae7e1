"""Analysts' verdicts: what is accepted, what is refused and why, and the labels they become."""

from __future__ import annotations

import json

import pytest

from shopguard.training.analyst_verdicts import (
    ABUSE_TYPES,
    Verdict,
    VerdictRefused,
    labels_from_verdicts,
    make_verdict,
    parse_verdict,
)

ALERT = {"alert_id": "a-1", "user_id": "u-1", "anomaly_type": "bot", "score": 0.99}


def test_a_confirmation_carries_its_type_and_round_trips():
    verdict = make_verdict(ALERT, "confirmed", "scalping", analyst="ana", note="seen before", decided_at_ms=0)
    assert (verdict.alert_id, verdict.user_id, verdict.label) == ("a-1", "u-1", "scalping")
    fields = json.loads(verdict.to_json())
    assert set(fields) == {"alert_id", "user_id", "verdict", "anomaly_type", "analyst", "note", "decided_at"}
    assert fields["decided_at"] == "1970-01-01T00:00:00.000Z"
    assert parse_verdict(verdict.to_json()) == verdict


def test_a_false_positive_labels_its_user_normal():
    verdict = make_verdict(ALERT, "false_positive", analyst="ana")
    assert verdict.anomaly_type is None and verdict.label == "normal"


@pytest.mark.parametrize(
    "alert, verdict, anomaly_type, reason",
    [
        (None, "confirmed", "bot", "unknown alert"),
        (ALERT, "maybe", None, "unknown verdict 'maybe'"),
        (ALERT, "confirmed", None, "needs its abuse type"),
        (ALERT, "confirmed", "teleportation", "unknown abuse type 'teleportation'"),
        (ALERT, "false_positive", "bot", "names no abuse type"),
        ({"alert_id": "a-2"}, "false_positive", None, "no alert_id or user_id"),
    ],
)
def test_bad_verdicts_are_refused_with_the_reason(alert, verdict, anomaly_type, reason):
    with pytest.raises(VerdictRefused, match=reason) as refused:
        make_verdict(alert, verdict, anomaly_type, analyst="ana", alert_id="a-x")
    assert refused.value.reason and "refused" in str(refused.value)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"alert_id": "a", "user_id": "u", "verdict": "confirmed"}', "decided_at"),
        (
            '{"alert_id": "a", "user_id": "u", "verdict": "confirmed", "anomaly_type": "bot", '
            '"decided_at": "yesterday"}',
            "not an RFC 3339",
        ),
        (
            '{"alert_id": "a", "user_id": "u", "verdict": "confirmed", "anomaly_type": "x", '
            '"decided_at": "2026-12-06T06:00:00Z"}',
            "unknown abuse type",
        ),
    ],
)
def test_records_on_the_topic_that_are_not_verdicts_are_refused(text, reason):
    with pytest.raises(VerdictRefused, match=reason):
        parse_verdict(text)


def test_every_family_the_detectors_know_can_be_confirmed():
    for anomaly_type in ABUSE_TYPES:
        assert make_verdict(ALERT, "confirmed", anomaly_type, analyst="a").label == anomaly_type


def test_the_newest_verdict_on_a_user_wins_whatever_the_order_read():
    old = Verdict("a1", "u1", "confirmed", "bot", "ana", "", "2026-12-06T06:00:00.000Z")
    new = Verdict("a2", "u1", "false_positive", None, "bo", "", "2026-12-06T06:00:00.001Z")
    other = Verdict("a3", "u2", "confirmed", "card_testing", "ana", "", "2026-12-06T05:00:00.000Z")
    assert labels_from_verdicts([new, old, other]) == {"u1": "normal", "u2": "card_testing"}
    assert labels_from_verdicts([old, new]) == {"u1": "normal"}
