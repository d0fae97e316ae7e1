"""The combiner's decision fitted to real shoppers: a fixed rarity hinge and a threshold they respect."""

import numpy as np

from shopguard.training.real_calibration import (
    CLEAR_RARITY,
    RARITY_BUDGET_SHARE,
    calibrate_combiner,
    user_halves,
    with_rarity_hinge,
    with_real_threshold,
)
from shopguard.udfs.score_combiner import ScoreCombiner


def _real(n_users=2000, events=3, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), events)
    scores = {
        "lstm": rng.beta(1, 20, len(users)),
        "user_patterns": rng.random(len(users)),
        "rarity": rng.beta(2, 5, len(users)),
    }
    return scores, users


def _combiner():
    fallback = ScoreCombiner(("lstm", "rarity"), ("logit", "logit"), (1.0, 0.1), 3.0, 0.2)
    return ScoreCombiner(
        ("lstm", "user_patterns", "rarity"), ("logit", "share", "logit"), (1.0, 4.0, 0.1), -2.0, 0.3, fallback
    )


def test_the_threshold_alerts_at_most_its_share_of_real_users_and_never_drops():
    scores, users = _real()
    tuned = with_real_threshold(_combiner(), scores, users, 0.01)
    best = {u: tuned.combine(scores)[users == u].max() for u in range(2000)}
    assert np.mean(np.array(list(best.values())) >= tuned.threshold) <= 0.01 * (1 - RARITY_BUDGET_SHARE)
    assert tuned.threshold > 0.3 and tuned.fallback.threshold > 0.2
    strict = with_real_threshold(ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.999999), scores, users, 0.01)
    assert strict.threshold == 0.999999


def test_a_clear_rarity_alerts_on_its_own_whatever_the_others_say():
    scores, users = _real()
    tuned = with_real_threshold(_combiner(), scores, users, 0.01)
    hinged = with_rarity_hinge(tuned, scores["rarity"], 0.01)
    quiet = {"lstm": np.array([1e-9]), "user_patterns": np.array([0.0]), "rarity": np.array([CLEAR_RARITY])}
    assert hinged.combine(quiet)[0] >= hinged.threshold
    assert hinged.fallback.combine(quiet)[0] >= hinged.fallback.threshold
    (hinge,) = [h for h in hinged.hinges if h.detector == "rarity"]
    assert hinge.weight > 0 and hinge.knee < np.log(CLEAR_RARITY / (1 - CLEAR_RARITY))
    ordinary = {n: v[:5] for n, v in scores.items()}
    assert np.allclose(hinged.combine(ordinary), tuned.combine(ordinary))  # below the knee nothing changes


def test_calibrating_keeps_real_alerts_within_the_target_and_round_trips():
    scores, users = _real()
    tuned, summary = calibrate_combiner(_combiner(), scores, users, 0.01)
    assert summary["users"] == 1000 and summary["held_out_users"] == 1000
    assert summary["alerted_share_fitted_half"] <= 0.01 and summary["alerted_share_held_out"] <= 0.02
    assert ScoreCombiner.from_dict(tuned.to_dict()) == tuned


def test_the_calibration_is_fitted_on_one_half_and_measured_on_the_other():
    scores, users = _real()
    fitted, held = user_halves(users)
    assert not (fitted & held).any() and (fitted | held).all()
    assert not set(users[fitted]) & set(users[held]) and len(set(users[fitted])) == 1000
    outlier = int(users[held][0])  # a held-out user far above everyone: it cannot move the threshold
    loud = {n: v.copy() for n, v in scores.items()}
    loud["user_patterns"][users == outlier] = 1.0
    loud["lstm"][users == outlier] = 1 - 1e-6
    tuned, summary = calibrate_combiner(_combiner(), scores, users, 0.01)
    tuned_loud, summary_loud = calibrate_combiner(_combiner(), loud, users, 0.01)
    assert tuned_loud.threshold == tuned.threshold
    assert summary_loud["alerted_share_held_out"] >= summary["alerted_share_held_out"]


def test_a_folder_whose_combiner_has_new_account_gets_it_scored_on_real_shoppers_too(tmp_path):
    from shopguard.training.real_calibration import _more_detectors

    assert _more_detectors(tmp_path) == []
    ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.5).write(tmp_path)
    assert _more_detectors(tmp_path) == []
    ScoreCombiner(("lstm", "new_account"), ("logit", "logit"), (1.0, 1.0), 0.0, 0.5).write(tmp_path)
    assert [detector.name for detector, _ in _more_detectors(tmp_path)] == ["new_account"]


def test_a_folder_with_a_label_free_decision_is_not_calibrated_as_a_logistic_one(tmp_path):
    import pytest

    from shopguard.config import ShopguardConfig
    from shopguard.errors import ShopguardError
    from shopguard.training.real_calibration import calibrate_folder
    from shopguard.udfs.score_combiner import TailTable

    tails = (TailTable("rarity", (), (), own="p_value"),)
    ScoreCombiner(("rarity",), ("logit",), (1.0,), 0.0, 0.7, mode="fisher_min_tail", tails=tails).write(tmp_path)
    with pytest.raises(ShopguardError, match="fisher_min_tail decision, not the logistic one"):
        calibrate_folder(ShopguardConfig(), tmp_path, lambda line: None)
