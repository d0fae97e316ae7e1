"""Detection figures on hand-made scores whose right answers are known."""

import numpy as np
import pytest

from shopguard.training.anomalies import AnomalyLabel
from shopguard.training.detection_metrics import (
    TARGET_FPR,
    calibrate_threshold,
    detection_delays,
    evaluate_scores,
    pr_auc_difference_interval,
    recall_interval_at_fpr,
    user_scores,
)
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.udfs.events import Event


@pytest.fixture
def traffic():
    """Four normal users (two events each) and one card tester whose abuse starts at his third event."""
    events = [Event(f"n{u}-{i}", f"n{u}", "page_view", 1000 * i) for u in range(4) for i in range(2)]
    events += [Event(f"c-{i}", "c", "payment_failed" if i >= 2 else "page_view", 10_000 * i) for i in range(5)]
    label = AnomalyLabel("c", "card_testing", True, 20_000, ("c-2", "c-3", "c-4"))
    return encode_traffic(LabelledTraffic(events, [label]), 8)


def scores_for(traffic, by_event):
    return np.array([by_event.get(e, 0.1) for e in traffic.event_ids])


def test_a_user_scores_their_worst_event(traffic):
    users = user_scores(traffic, scores_for(traffic, {"c-3": 0.9, "n1-1": 0.4}))
    by_user = dict(zip(users.users, users.scores))
    assert by_user == {"c": 0.9, "n0": 0.1, "n1": 0.4, "n2": 0.1, "n3": 0.1}
    assert users.abused.sum() == 1 and users.types[users.users.index("c")] == "card_testing"


def test_the_threshold_flags_at_most_the_target_share_of_normal_users():
    normal = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    for rate, flagged in [(0.0, 0), (0.1, 1), (0.25, 2), (0.5, 5)]:
        assert int((normal >= calibrate_threshold(normal, rate)).sum()) == flagged


def test_delay_counts_events_and_seconds_from_the_onset(traffic):
    delays = detection_delays(traffic, scores_for(traffic, {"c-3": 0.9, "c-4": 0.95}), threshold=0.5)
    assert delays == {"c": (2, 10.0)}  # c-2 (at the onset) was missed, c-3 ten seconds later was not


def test_perfect_scores_give_perfect_figures_and_a_missed_user_shows(traffic):
    perfect = evaluate_scores(traffic, scores_for(traffic, {"c-2": 0.9}), threshold=0.5)
    assert perfect["pr_auc"] == 1.0 and perfect["roc_auc"] == 1.0 and perfect["recall"] == 1.0
    assert perfect["precision"] == 1.0 and perfect["fpr"] == 0.0 and perfect["median_delay_events"] == 1.0
    assert perfect["per_type"]["card_testing"]["recall_subtle"] == 1.0
    assert perfect["per_type"]["card_testing"]["recall_blunt"] is None
    missed = evaluate_scores(traffic, scores_for(traffic, {"n0-0": 0.9}), threshold=0.5)
    assert missed["recall"] == 0.0 and missed["fpr"] == 0.25 and missed["median_delay_events"] is None


def _recall_at_target(normal, abused):
    return float(np.mean(abused >= calibrate_threshold(normal, TARGET_FPR)))


def test_the_recall_interval_holds_the_point_figure_and_is_the_same_on_every_run():
    rng = np.random.default_rng(5)
    normal, abused = rng.normal(0.0, 1.0, 2500), rng.normal(3.2, 0.6, 50)
    interval = recall_interval_at_fpr(normal, abused)
    assert interval == recall_interval_at_fpr(normal, abused)
    assert interval[0] <= _recall_at_target(normal, abused) <= interval[1] and interval[0] < interval[1]


def test_a_recall_resting_on_a_few_normal_users_gets_a_wide_interval():
    rng = np.random.default_rng(6)
    abused = rng.normal(3.2, 0.6, 50)
    few, many = rng.normal(0.0, 1.0, 2500), rng.normal(0.0, 1.0, 250_000)
    width = {
        n: np.subtract(*recall_interval_at_fpr(normal, abused, resamples=200)[::-1])
        for n, normal in (("few", few), ("many", many))
    }
    assert width["few"] > 0.2 and width["few"] > width["many"]


def test_no_interval_without_users_of_either_kind():
    assert recall_interval_at_fpr(np.array([]), np.array([1.0])) is None
    assert recall_interval_at_fpr(np.array([1.0]), np.array([])) is None


def test_a_one_user_gap_in_pr_auc_gets_an_interval_that_holds_zero():
    rng = np.random.default_rng(7)
    abused = np.r_[np.zeros(2400, bool), np.ones(25, bool)]
    perfect = np.r_[rng.normal(0.0, 1.0, 2400), rng.normal(6.0, 0.5, 25)]
    one_slower_bot = perfect.copy()
    one_slower_bot[-1] = np.sort(perfect[:2400])[-2]  # one abused user below the highest normal one
    low, high = pr_auc_difference_interval(abused, one_slower_bot, perfect)
    assert low < 0.0 and high == 0.0
    assert pr_auc_difference_interval(abused, one_slower_bot, perfect) == [low, high]


def test_a_detector_that_misses_half_the_abused_users_is_clearly_behind():
    rng = np.random.default_rng(8)
    abused = np.r_[np.zeros(2400, bool), np.ones(50, bool)]
    normal = rng.normal(0.0, 1.0, 2400)
    good, half = np.r_[normal, rng.normal(6.0, 0.5, 50)], np.r_[normal, rng.normal(6.0, 0.5, 25), rng.normal(0, 1, 25)]
    low, high = pr_auc_difference_interval(abused, half, good)
    assert low <= high < -0.2


def test_no_difference_interval_without_users_of_either_kind():
    assert pr_auc_difference_interval(np.zeros(3, bool), np.ones(3), np.ones(3)) is None
    assert pr_auc_difference_interval(np.ones(3, bool), np.ones(3), np.ones(3)) is None
