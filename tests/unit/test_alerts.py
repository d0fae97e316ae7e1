"""Alerts: canonical fields, stable ids, reasons that name what drove them."""

import json
import re
from pathlib import Path

from shopguard.udfs.alerts import ALERT_FIELDS, build_alert, explain_window
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event

T0 = 1_511_658_000_000


def alert_for(events, **changes):
    fields = dict(
        user_id="u1",
        session_id="s1",
        event_id=events[-1].event_id,
        event_ts=events[-1].ts_ms,
        codes=encode_user_events(events, 32)[-1],
        recent_event_ids=[e.event_id for e in events[-8:]],
        score=0.95,
        threshold=0.9,
        model_version="m1",
        detected_at_ms=T0 + 60_000,
    )
    fields.update(changes)
    return build_alert(**fields)


def test_an_alert_has_every_canonical_field_and_is_json():
    events = [Event(f"e{i}", "u1", "login_failed", T0 + 1000 * i, device_id=f"d{i}") for i in range(4)]
    alert = alert_for(events)
    assert tuple(alert) == ALERT_FIELDS
    assert json.loads(json.dumps(alert)) == alert
    assert alert["event_ids"] == ["e0", "e1", "e2", "e3"] and alert["detectors"] == {"lstm": 0.95}
    assert alert["revision"] == 0
    assert alert["event_ts"] == "2017-11-26T01:00:03.000Z" and alert["detected_at"] == "2017-11-26T01:01:00.000Z"


def test_the_alert_id_is_stable_for_the_same_model_user_and_event():
    events = [Event("e0", "u1", "payment_failed", T0)]
    assert alert_for(events)["alert_id"] == alert_for(events, detected_at_ms=T0 + 1)["alert_id"]
    assert alert_for(events)["alert_id"] != alert_for(events, model_version="m2")["alert_id"]


def test_failed_payments_read_as_card_testing_and_failed_logins_as_account_takeover():
    payments = [Event(f"p{i}", "u", "payment_failed", T0 + 5000 * i, price=1.0) for i in range(6)]
    kind, reasons = explain_window(encode_user_events(payments, 32)[-1])
    assert kind == "card_testing" and reasons[0]["text"] == "6 failed payments among the last 6 events"
    logins = [Event(f"l{i}", "u", "login_failed", T0 + 5000 * i, device_id=f"d{i}") for i in range(4)]
    kind, reasons = explain_window(encode_user_events(logins, 32)[-1])
    assert kind == "account_takeover" and {r["feature"] for r in reasons} == {"login_failed", "new_device"}


def test_fast_regular_browsing_reads_as_a_bot_and_a_quiet_user_gives_no_reason():
    clicks = [Event(f"c{i}", "u", "page_view", T0 + 400 * i, item_id=str(i)) for i in range(30)]
    kind, reasons = explain_window(encode_user_events(clicks, 32)[-1])
    assert kind == "bot" and reasons[0]["feature"] == "fast_gaps"
    quiet = [Event(f"q{i}", "u", "page_view", T0 + 90_000 * i, item_id="same") for i in range(3)]
    assert explain_window(encode_user_events(quiet, 32)[-1]) == ("unknown", [])


def test_every_detector_that_ran_is_listed_and_one_that_did_not_is_left_out():
    events = [Event(f"e{i}", "u1", "page_view", T0 + 1000 * i) for i in range(3)]
    alert = alert_for(
        events,
        score=0.97,
        detectors={"lstm": 0.6, "next_event": float("nan"), "user_patterns": None, "velocity_rules": 0.25},
    )
    assert alert["detectors"] == {"lstm": 0.6, "velocity_rules": 0.25} and alert["score"] == 0.97
    assert json.loads(json.dumps(alert, allow_nan=False)) == alert


def test_what_the_pattern_and_next_event_detectors_saw_becomes_reasons():
    from shopguard.udfs.behaviour_tokens import sequences_ending_here, window_tokens

    events = [
        Event("a", "u1", "page_view", T0, device_id="d1"),
        Event("b", "u1", "login_failed", T0 + 500, device_id="d2"),
    ]
    unmatched = sequences_ending_here(window_tokens(encode_user_events(events, 32)[-1]), 2, 2)
    alert = alert_for(events, detectors={"user_patterns": 0.8, "next_event": 0.95}, unmatched_patterns=unmatched)
    texts = {r["feature"]: r["text"] for r in alert["reasons"]}
    assert texts["user_patterns"] == (
        "not in this user's normal behaviour: page_view (first event) → login_failed after < 2 s, on a new device or IP"
    )
    assert "surprise 0.95" in texts["next_event"]


def test_the_docs_list_the_alert_fields_in_order():
    architecture = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    listed = architecture.split("A user alert's fields, in order", 1)[1].split("A ring alert's", 1)[0]
    assert tuple(re.findall(r"`(\w+)`", listed.split(": ", 1)[1])) == ALERT_FIELDS


def test_reasons_come_in_the_order_of_the_evidence_that_decided():
    """The detector that gave the most decades of rarity speaks first; without evidence the order is unchanged."""
    events = [Event(f"e{i}", "u1", "payment_failed", T0 + 60_000 * i, price=1.0) for i in range(3)]
    rare = [{"feature": "rarity:session_events", "value": 3, "text": "3 events in the visit: rarer than 99.99%"}]
    occluded = [{"event_id": "e2", "event": "payment_failed", "contribution": 0.3}]
    plain = alert_for(events, rarity_reasons=rare, contributions=occluded)
    assert [r["feature"] for r in plain["reasons"]] == ["payment_failed", "event", "rarity:session_events"]
    rarity_first = alert_for(
        events, rarity_reasons=rare, contributions=occluded, evidence={"rarity": 4.1, "velocity_rules": 0.8}
    )
    assert [r["feature"] for r in rarity_first["reasons"]] == ["rarity:session_events", "payment_failed", "event"]
    assert "raised the lstm score by 0.300" in rarity_first["reasons"][-1]["text"]


def test_the_shipped_decision_says_which_detector_drove_a_row():
    from shopguard.udfs.default_model import DEFAULT_MODEL_DIR
    from shopguard.udfs.score_combiner import ScoreCombiner

    combiner = ScoreCombiner.read(DEFAULT_MODEL_DIR)
    quiet = {name: 0.0 for name in combiner.detectors}
    evidence = combiner.evidence({**quiet, "rarity": 0.9999, "lstm": 0.99})
    assert set(evidence) == set(combiner.detectors)  # the LSTM does not decide in the shipped folder
    assert max(evidence, key=evidence.get) == "rarity" and evidence["rarity"] == 4.0


def test_a_rare_next_event_is_named_with_how_rare_it_is_whatever_its_raw_score():
    events = [
        Event("v", "u1", "page_view", T0, item_id="i1"),
        Event("c", "u1", "add_to_cart", T0 + 60_000, item_id="i1", price=20.0, quantity=1),
        Event("p", "u1", "purchase", T0 + 60_200, item_id="i1", price=20.0, quantity=1),
    ]
    detectors = {"next_event": 0.8, "rarity": 0.1}
    decided = alert_for(events, detectors=detectors, evidence={"next_event": 4.288, "rarity": 0.3})
    first = decided["reasons"][0]
    assert first["feature"] == "next_event"
    assert first["text"].startswith("the newest event (purchase 0.5 s or less after the previous event")
    assert first["text"].endswith("one normal event in 19,000 is as surprising")
    assert not [r for r in alert_for(events, detectors=detectors)["reasons"] if r["feature"] == "next_event"]
