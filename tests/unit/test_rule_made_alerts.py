"""An alert made by a rule alone (its model score below the threshold) says so wherever an analyst reads it:
on the rules that made it (``made_alert``), in its first reason, in the one-line description and the console."""

from __future__ import annotations

import json
import re

from shopguard.local.alert_feed import describe_alert
from shopguard.udfs.detection_rules import RuleSet, made_by_rules, parse_rule, rule_decision, with_rule_reasons
from shopguard.udfs.events import Event
from tests.unit.test_console_app import alert, console  # noqa: F401 - the console fixture

CARDS = parse_rule(
    json.dumps(
        {
            "id": "cards",
            "version": 2,
            "owner": "risk",
            "description": "card testing",
            "kind": "count",
            "event_type": "payment_failed",
            "at_least": 3,
            "within_s": 60,
            "score": 0.97,
        }
    )
)
MODEL_REASON = {"feature": "payment_failed", "text": "3 failed payments among the last 4 events"}


def fired():
    counts: dict = {}
    for i in range(3):
        outcome = RuleSet.of([CARDS]).evaluate_event(Event(f"e{i}", "u1", "payment_failed", 1000 * i), counts)
    return outcome


def test_a_rule_that_alone_made_the_alert_is_marked_and_its_reason_comes_first():
    outcome = fired()
    ruling = rule_decision(0.2, 0.9, "card_testing", outcome.score, outcome.column)
    assert ruling.alert and [t["made_alert"] for t in ruling.touches] == [True]
    reasons = with_rule_reasons([MODEL_REASON], ruling.touches, outcome.score)
    assert reasons[0]["rule"] == "cards" and reasons[0]["value"] == 0.97 and reasons[1] == MODEL_REASON


def test_when_the_model_alerts_too_the_rule_is_not_marked_and_the_models_reason_stays_first():
    outcome = fired()
    ruling = rule_decision(0.95, 0.9, "card_testing", outcome.score, outcome.column)
    assert ruling.alert and "made_alert" not in ruling.touches[0]
    assert with_rule_reasons([MODEL_REASON], ruling.touches, outcome.score)[0] == MODEL_REASON


def test_the_one_line_description_says_which_rule_made_it():
    outcome = fired()
    ruling = rule_decision(0.2, 0.9, "card_testing", outcome.score, outcome.column)
    made = alert("u1", "a", 0.2, at_s=1, rules=ruling.touches)
    assert made_by_rules(made)[0]["id"] == "cards"
    assert "score=0.200 (< 0.900, made by rule cards v2)" in describe_alert(made)
    assert "score=0.950 (>= 0.900)" in describe_alert(alert("u2", "b", 0.95, at_s=2))


def test_the_console_shows_the_rule_that_made_it_and_filters_it_by_the_rules_score(console):  # noqa: F811
    client, board, _, _ = console
    outcome = fired()
    ruling = rule_decision(0.2, 0.9, "card_testing", outcome.score, outcome.column)
    made = alert("u1", "a", 0.2, at_s=1, rules=ruling.touches)
    board.add_alert(made)
    board.add_alert(alert("u2", "b", 0.5, at_s=2))
    page = client.get(f"/alerts/{made['alert_id']}").text
    assert re.search(r'id="made-by-rules">rule cards v2 \(count\): the model\'s score is below its threshold', page)
    assert re.findall(r"<td>(u\d)</td>", client.get("/?min_score=0.9").text) == ["u1"]
