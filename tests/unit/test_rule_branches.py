"""Rule sets side by side (the one-replay backtest): each set, unpacked, says exactly what it says alone."""

from __future__ import annotations

import itertools
import json
import math

import cloudpickle
import pytest
from pyflink.common import Row

from shopguard.config import ShopguardConfig
from shopguard.udfs.alert_decision import DecideAlert
from shopguard.udfs.detection_rules import RuleRefused, RuleSet, parse_rule, rule_decision
from shopguard.udfs.events import Event
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.rows import CROSSING_FIELDS
from shopguard.udfs.rule_branches import DecideBranchAlert, RuleBranches, branch_outcome

HEAD = {"owner": "risk-team", "description": "a test rule"}


def rule(rule_id: str, version: int = 1, **body):
    return parse_rule(json.dumps({"id": rule_id, "version": version, **HEAD, **body}))


COUNT_3 = rule("fails", kind="count", event_type="payment_failed", at_least=3, within_s=60, score=0.9)
COUNT_2 = rule("fails", 2, kind="count", event_type="payment_failed", at_least=2, within_s=60)  # same id, changed
BOTS = rule("bots", kind="type_threshold", anomaly_type="bot", threshold=0.5)
ALLOW = rule("vip", kind="allow", user_ids=["u2"])
DENY = rule("blocked", kind="deny", user_ids=["u3"])

SETS = {
    "current": RuleSet.of([COUNT_3, ALLOW]),
    "changed": RuleSet.of([COUNT_2, BOTS, DENY]),
}


def events():
    kinds = ["payment_failed", "page_view", "payment_failed", "payment_failed", "login", "payment_failed"]
    return [
        Event(f"{user}-{i}", user, kind, 1_511_658_000_000 + 15_000 * i)
        for user in ("u1", "u2", "u3")
        for i, kind in enumerate(kinds)
    ]


def crosses(score: float, threshold: float, rules_score: float, floor: float) -> bool:
    """The job's crossing filter (jobs/detect_job.py), NaN comparisons false as in SQL."""
    return score >= threshold or rules_score >= 0.0 or score >= floor


def packed_beside_alone():
    """For each event and each set: the set's index and name, the event, the packed outcome of all the sets,
    and the set's outcome alone (every evaluation with its own counting state, as in the job)."""
    branches = RuleBranches(SETS)
    packed_counts: dict = {}
    alone_counts = {name: {} for name in SETS}
    for event in events():
        packed = branches.evaluate_event(event, packed_counts)
        for i, (name, rules) in enumerate(SETS.items()):
            yield i, name, event, packed, rules.evaluate_event(event, alone_counts[name])


def test_each_unpacked_set_says_what_it_says_alone_with_its_own_counting_state():
    for i, _, _, packed, alone in packed_beside_alone():
        score, column = branch_outcome(packed.column, i)
        assert column == alone.column
        assert score == alone.score or (math.isnan(score) and math.isnan(alone.score))
        assert packed.score >= alone.score or math.isnan(alone.score)
        assert packed.floor <= alone.floor or math.isnan(alone.floor)


@pytest.mark.parametrize(
    "score, threshold, anomaly_type", list(itertools.product([0.3, 0.6, 0.95], [0.9], ["bot", "scalping"]))
)
def test_a_row_let_through_for_one_set_only_is_ruled_out_by_the_other(score, threshold, anomaly_type):
    for i, name, event, packed, alone in packed_beside_alone():
        if not crosses(score, threshold, packed.score, packed.floor):
            assert not crosses(score, threshold, alone.score, alone.floor)
            continue
        own_score, own_column = branch_outcome(packed.column, i)
        decided = rule_decision(score, threshold, anomaly_type, own_score, own_column)
        expected = (
            crosses(score, threshold, alone.score, alone.floor)
            and rule_decision(score, threshold, anomaly_type, alone.score, alone.column).alert
        )
        assert decided.alert == expected, (name, event.event_id)


def test_without_any_rule_nothing_is_packed():
    outcome = RuleBranches({"current": RuleSet(), "changed": RuleSet()}).evaluate_event(events()[0], {})
    assert outcome.column == "" and math.isnan(outcome.score) and math.isnan(outcome.floor)
    assert branch_outcome("", 1) == (pytest.approx(math.nan, nan_ok=True), "")


def test_a_backtests_sets_refuse_a_broadcast_change():
    with pytest.raises(RuleRefused, match="fixed"):
        RuleBranches(SETS).with_rule(DENY)


def test_the_branch_decision_hands_the_job_decision_its_own_columns(monkeypatch):
    seen = []
    monkeypatch.setattr(DecideAlert, "process_element", lambda self, row, ctx: iter([seen.append(tuple(row))]))
    step = DecideBranchAlert(ShopguardConfig().job, ModelSource(fixed_dir="/nowhere"), branch=1)
    step = cloudpickle.loads(cloudpickle.dumps(step))  # as Flink ships it
    column = json.dumps({"branches": [[None, ""], [1.0, '{"hits": []}']]})
    row = [None] * len(CROSSING_FIELDS)
    row[CROSSING_FIELDS.index("rules_score")], row[CROSSING_FIELDS.index("rules")] = 1.0, column
    list(step.process_element(Row(*row), None))
    (got,) = seen
    assert got[CROSSING_FIELDS.index("rules_score")] == 1.0 and got[CROSSING_FIELDS.index("rules")] == '{"hits": []}'
