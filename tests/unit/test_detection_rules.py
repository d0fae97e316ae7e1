"""Detection rules: parsing, refusal with a reason, evaluation per event, the decision, and the user step
that holds them in broadcast state (run here with stand-ins for Flink's state)."""

from __future__ import annotations

import json
import math

import pytest

from shopguard.config import ShopguardConfig
from shopguard.udfs.detection_rules import (
    Deletion,
    RuleRefused,
    RuleSet,
    parse_rule,
    rule_decision,
    rule_reasons,
)
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import SCORING_FIELDS
from shopguard.udfs.rule_broadcast import RULES_STATE, RuledUserHistory
from tests.unit.flink_fakes import NamedStates

HEAD = {"owner": "risk-team", "description": "a test rule"}


def rule(rule_id: str, version: int = 1, **body) -> str:
    return json.dumps({"id": rule_id, "version": version, **HEAD, **body})


CARD_TESTING = rule(
    "card-testing",
    3,
    kind="count",
    event_type="payment_failed",
    at_least=3,
    within_s=60,
    where={"field": "price", "op": "<=", "value": 2},
    score=0.99,
)


def event(i: int, event_type: str = "payment_failed", user: str = "u1", **fields) -> Event:
    return Event(f"e{i}", user, event_type, 1_511_658_000_000 + 1000 * i, **fields)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"version": 1, **HEAD, "kind": "deny", "user_ids": ["u"]}), "needs an id"),
        (rule("r", 0, kind="deny", user_ids=["u"]), "version must be a positive integer"),
        (json.dumps({"id": "r", "version": 1, "kind": "deny", "user_ids": ["u"]}), "needs owner"),
        (rule("r", kind="block"), "unknown kind 'block'"),
        (rule("r", kind="deny"), "lists nobody"),
        (rule("r", kind="deny", user_ids="u1"), "user_ids must be a list"),
        (rule("r", kind="deny", user_ids=["u"], threshold=0.5), "mean nothing to a deny rule"),
        (rule("r", kind="type_threshold", anomaly_type="bot", threshold=1.5), "threshold must be a number from 0 to 1"),
        (rule("r", kind="type_threshold", threshold=0.9), "needs anomaly_type"),
        (rule("r", kind="count", event_type="login_failed", at_least=0, within_s=60), "at_least must be an integer"),
        (rule("r", kind="count", event_type="login_failed", at_least=3, within_s=-1), "within_s must be a positive"),
        (rule("r", kind="count", event_type="x", at_least=3, within_s=9, where={"field": "ip"}), "where must be"),
        (
            rule(
                "r", kind="count", event_type="x", at_least=3, within_s=9, where={"field": "ip", "op": "==", "value": 1}
            ),
            "where.field 'ip'",
        ),
        (
            rule(
                "r",
                kind="count",
                event_type="x",
                at_least=3,
                within_s=9,
                where={"field": "price", "op": "~", "value": 1},
            ),
            "where.op '~'",
        ),
        (
            rule(
                "r",
                kind="count",
                event_type="x",
                at_least=3,
                within_s=9,
                where={"field": "item_id", "op": ">", "value": "a"},
            ),
            "compare it with == or !=",
        ),
    ],
)
def test_a_malformed_rule_is_refused_with_its_reason(text, reason):
    with pytest.raises(RuleRefused, match=reason):
        parse_rule(text)


def test_a_rule_keeps_its_id_version_owner_and_description_and_round_trips():
    parsed = parse_rule(CARD_TESTING)
    assert (parsed.id, parsed.version, parsed.owner, parsed.description) == (
        "card-testing",
        3,
        "risk-team",
        "a test rule",
    )
    assert parse_rule(parsed.to_json()) == parsed
    assert parse_rule('{"id": "card-testing", "version": 4, "deleted": true}') == Deletion("card-testing", 4)


def test_a_counting_rule_fires_at_n_matching_events_within_the_window_and_says_why():
    rules = RuleSet.of([parse_rule(CARD_TESTING)])
    counts: dict = {}
    outcomes = [rules.evaluate_event(event(i, price=1.0), counts) for i in range(3)]
    assert [math.isnan(o.score) for o in outcomes] == [True, True, False]
    assert outcomes[-1].score == 0.99
    (hit,) = json.loads(outcomes[-1].column)["hits"]
    assert (hit["id"], hit["version"], hit["effect"]) == ("card-testing", 3, "count")
    assert hit["reason"] == "3 payment_failed events with price <= 2 within 60 s (rule card-testing v3)"
    assert len(counts["card-testing"]) == 3  # at most at_least times are kept


def test_a_counting_rule_ignores_other_types_failed_conditions_and_events_outside_the_window():
    rules = RuleSet.of([parse_rule(CARD_TESTING)])
    counts: dict = {}
    for i in range(5):
        assert math.isnan(rules.evaluate_event(event(i, price=50.0), counts).score)  # the condition fails
        assert math.isnan(rules.evaluate_event(event(i, "purchase", price=1.0), counts).score)  # another type
    assert not rules.watches("purchase") and rules.watches("payment_failed")
    spaced = [Event(f"s{i}", "u1", "payment_failed", 40_000 * i, price=1.0) for i in range(4)]
    assert all(math.isnan(rules.evaluate_event(e, counts).score) for e in spaced)  # 2 within any 60 s


def test_allow_and_deny_lists_match_users_and_pseudonyms():
    rules = RuleSet.of(
        [
            parse_rule(rule("deny-dev", kind="deny", device_keys=["h:dev"])),
            parse_rule(rule("allow-qa", kind="allow", user_ids=["qa"])),
        ]
    )
    denied = rules.evaluate_event(event(1, "page_view", user="u9"), {}, device_key="h:dev")
    assert denied.score == 1.0 and json.loads(denied.column)["hits"][0]["effect"] == "deny"
    allowed = rules.evaluate_event(event(1, "page_view", user="qa"), {})
    assert rule_decision(0.999, 0.9, "bot", allowed.score, allowed.column).allowed
    assert not rule_decision(0.999, 0.9, "bot", allowed.score, allowed.column).alert
    assert rules.evaluate_event(event(1, "page_view", user="u9"), {}).column == ""  # nothing touched
    assert rules.needs_pseudonyms


def test_a_type_threshold_raises_or_lowers_the_bar_for_its_type_only_and_is_named():
    rules = RuleSet.of(
        [
            parse_rule(rule("quiet-bots", 2, kind="type_threshold", anomaly_type="bot", threshold=0.99)),
            parse_rule(rule("eager-cards", 1, kind="type_threshold", anomaly_type="card_testing", threshold=0.5)),
        ]
    )
    outcome = rules.evaluate_event(event(1, "page_view"), {})
    assert outcome.floor == 0.5
    assert not rule_decision(0.95, 0.9, "bot", outcome.score, outcome.column).alert
    lowered = rule_decision(0.6, 0.9, "card_testing", outcome.score, outcome.column)
    assert lowered.alert and lowered.threshold == 0.5
    assert lowered.touches == [{"id": "eager-cards", "version": 1, "effect": "type_threshold", "threshold": 0.5}]
    assert rule_decision(0.95, 0.9, "scalping", outcome.score, outcome.column).alert  # other types: the model's


def test_a_fired_rule_alerts_below_the_models_threshold_with_a_reason():
    rules = RuleSet.of([parse_rule(CARD_TESTING)])
    counts: dict = {}
    for i in range(3):
        outcome = rules.evaluate_event(event(i, price=1.0), counts)
    decision = rule_decision(0.1, 0.9, "card_testing", outcome.score, outcome.column)
    assert decision.alert
    (reason,) = rule_reasons(decision.touches, outcome.score)
    assert reason["rule"] == "card-testing" and reason["version"] == 3 and "3 payment_failed" in reason["text"]


def test_versions_only_grow_and_a_deletion_removes_the_rule():
    rules = RuleSet.of([parse_rule(CARD_TESTING)])
    with pytest.raises(RuleRefused, match="older than version 3"):
        rules.with_rule(parse_rule(CARD_TESTING.replace('"version": 3', '"version": 2')))
    assert len(rules.with_rule(parse_rule('{"id": "card-testing", "version": 4, "deleted": true}'))) == 0
    assert len(rules.with_rule(parse_rule(CARD_TESTING))) == 1  # the same version again changes nothing


# --- the user step with broadcast state, on stand-ins for Flink's state -------------------------------


class BroadcastState(dict):
    def put(self, key, value):
        self[key] = value

    def remove(self, key):
        del self[key]

    def contains(self, key):
        return key in self


class Context:
    def __init__(self, broadcast: BroadcastState):
        self.broadcast = broadcast

    def get_broadcast_state(self, descriptor):
        assert descriptor is RULES_STATE
        return self.broadcast

    def timer_service(self):
        return self

    def register_processing_time_timer(self, ts_ms: int) -> None:
        pass  # the step's counters flush on a processing-time timer (udfs/local_counter.py); no other timers here


@pytest.fixture
def ruled_step(tmp_path):
    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    step = RuledUserHistory(
        cfg.job, cfg.validation, IdentifierHashing.from_settings(cfg.privacy, {}), cfg.patterns, source
    )
    runtime = NamedStates()
    step.open(runtime)
    yield step, runtime, Context(BroadcastState())
    step.close()


def _rows(step, ctx, events):
    rows = []
    for e in events:
        rows += [dict(zip(SCORING_FIELDS, out)) for out in step.process_element(e.to_json().encode(), ctx)]
    return rows


def test_the_user_step_applies_a_rule_received_on_the_broadcast_side(ruled_step):
    step, runtime, ctx = ruled_step
    assert math.isnan(_rows(step, ctx, [event(0, price=1.0)])[0]["rules_score"])  # no rules yet
    list(step.process_broadcast_element(CARD_TESTING.encode(), ctx))
    assert json.loads(ctx.broadcast["card-testing"])["version"] == 3
    rows = _rows(step, ctx, [event(i, price=1.0) for i in range(1, 4)])
    assert rows[-1]["rules_score"] == 0.99 and "card-testing" in rows[-1]["rules"]
    assert runtime.metrics.counters["rules_changed"].count == 1


def test_a_malformed_rule_is_counted_and_the_last_good_set_stays(ruled_step):
    step, runtime, ctx = ruled_step
    list(step.process_broadcast_element(CARD_TESTING, ctx))
    list(step.process_broadcast_element(b'{"id": "card-testing", "version": 9, "kind": "count"}', ctx))
    list(step.process_broadcast_element(b"not json", ctx))
    assert runtime.metrics.counters["rules_refused"].count == 2
    assert len(step.rules) == 1 and step.rules.rules["card-testing"].version == 3
    assert list(ctx.broadcast) == ["card-testing"]


def test_a_restored_step_takes_its_rules_from_the_broadcast_state(ruled_step, tmp_path):
    step, runtime, ctx = ruled_step
    list(step.process_broadcast_element(CARD_TESTING, ctx))
    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path / "again")))
    restored = RuledUserHistory(
        cfg.job, cfg.validation, IdentifierHashing.from_settings(cfg.privacy, {}), cfg.patterns, source
    )
    restored.open(NamedStates())
    rows = _rows(restored, ctx, [event(i, price=1.0) for i in range(3)])  # the same broadcast state
    restored.close()
    assert rows[-1]["rules_score"] == 0.99


def test_the_user_step_with_rules_survives_pickling_as_flink_ships_it(tmp_path):
    import cloudpickle

    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    rules = RuleSet.of([parse_rule(CARD_TESTING)])
    hashing = IdentifierHashing.from_settings(cfg.privacy, {})
    step = RuledUserHistory(cfg.job, cfg.validation, hashing, cfg.patterns, source, rules=rules)
    copy = cloudpickle.loads(cloudpickle.dumps(step))
    assert copy.intake == step.intake and copy.initial_rules == rules
