"""Churn written into returning shoppers, and the figures the churn section reports."""

import numpy as np

from shopguard.config import ChurnSettings
from shopguard.training.behaviour_stats import by_user, measure_behaviour, sessions
from shopguard.training.churn_evaluation import FIXED_SILENCE_RULE, CustomerOutcome, figures, outcomes
from shopguard.training.churn_report import terminal_lines, write_churn_report
from shopguard.training.churn_simulation import ChurnAssumptions, ChurnTruth, simulate_churn
from shopguard.training.returning_shoppers import DAY_MS, ReturningShopperSimulator
from shopguard.udfs.events import Event

KINDS = ("page_view", "add_to_cart", "purchase", "page_view")
REAL = [Event(f"e{i}", f"u{i % 5}", KINDS[i // 5 % 4], 60_000 * i, item_id=str(i), category_id="c") for i in range(80)]


def _simulate(users=80, days=84.0, seed=3):
    simulator = ReturningShopperSimulator(measure_behaviour(REAL))
    return simulate_churn(simulator, users, 0, days, seed, ChurnAssumptions())


def test_churners_leave_for_good_and_everyone_else_is_still_there_at_the_end():
    events, truth = _simulate()
    histories = by_user(events)
    end = 84 * DAY_MS
    churners = [t for t in truth.values() if t.churned]
    assert churners and len(churners) < len(truth)
    for t in truth.values():
        last = sessions(histories[t.user_id])[-1][0].ts_ms
        assert last == t.last_visit_ms
        if t.churned:
            assert end - last >= 28 * DAY_MS and t.kind in ("stops", "slows_down", "slows_down_with_refunds")
    pausers = [t for t in truth.values() if t.kind == "pauses"]
    assert pausers and not any(t.churned for t in pausers)
    assert _simulate() == (events, truth)  # deterministic for a seed


def test_refund_churners_ask_refunds_for_purchases_before_they_go():
    events, truth = _simulate(users=200)
    refunding = {t.user_id for t in truth.values() if t.kind == "slows_down_with_refunds"}
    asked = {e.user_id for e in events if e.event_type == "refund_request" and e.event_id.endswith("-refund")}
    assert asked and asked <= refunding


def test_precision_recall_and_lead_are_counted_per_customer_at_each_score():
    day = DAY_MS
    results = [
        CustomerOutcome(ChurnTruth("a", True, "slows_down", 50 * day), ((40 * day, 0.5), (60 * day, 0.75))),
        CustomerOutcome(ChurnTruth("b", True, "stops", 50 * day), ((59 * day, 0.5),)),
        CustomerOutcome(ChurnTruth("c", False, "pauses", 90 * day), ((30 * day, 0.5),)),
        CustomerOutcome(ChurnTruth("d", False, "stays", 90 * day), ()),
    ]
    body = figures(results, lost_after_days=28.0, seed=1)
    at_open = body["at_open"]
    assert at_open["flagged"] == 3 and at_open["precision"] == 2 / 3 and at_open["recall"] == 1.0
    assert at_open["median_lead_days"] == np.median([10.0, -9.0]) and at_open["share_before_last_visit"] == 0.5
    strict = next(row for row in body["at_score"] if row["min_score"] == 0.75)
    assert strict["flagged"] == 1 and strict["precision"] == 1.0 and strict["median_lead_days"] == -10.0
    assert body["at_target_recall"]["min_score"] == 0.75  # the highest score still reaching recall 0.5
    assert body["at_target"]["min_score"] == 0.5  # the lowest score with precision >= 0.6 and recall >= 0.5
    another_pause = CustomerOutcome(ChurnTruth("e", False, "pauses", 90 * day), ((30 * day, 0.5),))
    assert figures([*results, another_pause], lost_after_days=28.0, seed=1)["at_target"]["min_score"] == 0.6  # a alone
    assert figures(results[2:], lost_after_days=28.0, seed=1)["at_target"] is None  # no churner at all
    low, high = body["at_open_intervals"]["precision"]
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0


def test_the_rule_runs_over_simulated_customers_as_the_job_does_and_flags_every_stopped_regular():
    events, truth = _simulate(users=60)
    results = outcomes(ChurnSettings(), events, truth, 84 * DAY_MS, min_gain=0.05)
    stopped = [r for r in results if r.truth.kind == "stops"]
    assert stopped and all(r.max_score >= 0.5 for r in stopped)
    baseline = outcomes(FIXED_SILENCE_RULE, events, truth, 84 * DAY_MS, min_gain=0.05)
    assert all(r.truth.last_visit_ms + 14 * DAY_MS == r.first_at(0.5) for r in baseline if r.truth.kind == "stops")


def test_the_report_names_the_target_point_and_the_other_paces(tmp_path):
    day = DAY_MS
    results = [
        CustomerOutcome(ChurnTruth("a", True, "slows_down", 50 * day), ((40 * day, 0.5), (60 * day, 0.75))),
        CustomerOutcome(ChurnTruth("b", True, "stops", 50 * day), ((59 * day, 0.5),)),
        CustomerOutcome(ChurnTruth("c", False, "stays", 90 * day), ((30 * day, 0.5), (31 * day, 0.5))),
        CustomerOutcome(ChurnTruth("d", False, "pauses", 90 * day), ((30 * day, 0.5),)),
    ]
    rule = figures(results, lost_after_days=28.0, seed=1)
    points = {point: rule[point] for point in ("at_open", "at_target")}
    body = {
        "data": "four customers",
        "target_recall": 0.5,
        "target_precision": 0.6,
        "rule": rule,
        "baseline_fixed_14_days": rule,
        "pace": {"slower": {"habits": "slow", "rule": points, "baseline_fixed_14_days": points}},
    }
    text = write_churn_report(body, tmp_path).read_text()
    assert "- rule at_target (score >= 0.6): precision 1.000" in text  # a alone: 0.5 flags a pause and a stayer
    assert "| slower | rule | 1.000 | 0.500 | 1.000 |" in text  # the one customer who stays is flagged at open
    assert any(line.startswith("churn rule at_target (score >= 0.600)") for line in terminal_lines(body))
