"""The cool-down: one alert per abnormal episode, updated when it gets worse, reopened after a quiet gap."""

from shopguard.udfs.cool_down import OpenAlert, decide

MINUTE = 60_000
SETTINGS = dict(cooldown_ms=30 * MINUTE, min_gain=0.05)


def crossing(alert, ts, score, kind="bot", new_id="new"):
    return decide(alert, event_ts=ts, score=score, anomaly_type=kind, new_alert_id=new_id, **SETTINGS)


def test_a_burst_of_crossings_gives_one_alert_and_suppresses_the_rest():
    decision = crossing(None, 0, 0.95, new_id="a1")
    actions = [decision.action]
    for i in range(1, 50):
        decision = crossing(decision.alert, i * 1000, 0.95 + (i % 3) * 0.01, new_id=f"a{i}")
        actions.append(decision.action)
    assert actions[0] == "open" and set(actions[1:]) == {"suppress"}
    assert decision.alert.alert_id == "a1"


def test_a_rising_score_or_a_new_type_updates_the_same_alert_with_the_next_revision():
    opened = crossing(None, 0, 0.90, new_id="a1").alert
    worse = crossing(opened, 1000, 0.96)
    assert (worse.action, worse.alert.alert_id, worse.alert.revision, worse.alert.score) == ("update", "a1", 1, 0.96)
    retyped = crossing(worse.alert, 2000, 0.96, kind="card_testing")
    assert (retyped.action, retyped.alert.revision, retyped.alert.anomaly_type) == ("update", 2, "card_testing")


def test_a_crossing_after_a_quiet_gap_longer_than_the_cool_down_opens_a_new_alert():
    opened = crossing(None, 0, 0.95, new_id="a1").alert
    kept_open = crossing(opened, 29 * MINUTE, 0.95)
    assert kept_open.action == "suppress"
    # the gap counts from the last crossing, not from when the alert opened
    still_open = crossing(kept_open.alert, 58 * MINUTE, 0.95)
    assert still_open.action == "suppress"
    reopened = crossing(still_open.alert, 89 * MINUTE, 0.95, new_id="a2")
    assert (reopened.action, reopened.alert.alert_id, reopened.alert.revision) == ("open", "a2", 0)


def test_an_out_of_order_crossing_does_not_move_the_episode_back_in_time():
    opened = crossing(None, 10 * MINUTE, 0.95, new_id="a1").alert
    assert crossing(opened, 9 * MINUTE, 0.95).alert.last_crossing_ts == 10 * MINUTE


def test_the_open_alert_survives_its_json_round_trip_in_state():
    alert = OpenAlert("a1", 1, 2, 0.93, "scalping", 3)
    assert OpenAlert.from_json(alert.to_json()) == alert
    assert OpenAlert.from_json(None) is None


def test_the_open_alert_is_stored_as_the_same_json_as_its_fields_in_order():
    import dataclasses
    import json

    alert = OpenAlert("a1", 1, 2, 0.93, "scalping", 3)
    assert alert.to_json() == json.dumps(dataclasses.asdict(alert), separators=(",", ":"))
