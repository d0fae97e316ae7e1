"""The label-free candidate decision: tails of normal behaviour, simulated and real, and a threshold real shoppers
respect, measured on the half of them it never saw."""

import numpy as np

from shopguard.training.label_free_decision import MODE, fit_decision
from shopguard.training.real_calibration import per_user_max, user_halves
from shopguard.udfs.score_combiner import ScoreCombiner


def _validation(n_users=500, events=4, seed=0):
    rng = np.random.default_rng(seed)
    users = [f"v{i}" for i in np.repeat(np.arange(n_users), events)]
    abuse = np.array([u in {"v0", "v1", "v2"} for u in users])
    scores = {"lstm": rng.beta(1, 20, len(users)), "rarity": rng.beta(2, 5, len(users))}
    scores["lstm"][abuse] = 0.999
    return scores, abuse, users


def _real(n_users=2000, events=3, seed=1, rarity_shift=0.0):
    rng = np.random.default_rng(seed)
    users = [f"r{i:05d}" for i in np.repeat(np.arange(n_users), events)]
    return {
        "lstm": rng.beta(1, 20, len(users)),
        "rarity": np.clip(rng.beta(2, 5, len(users)) + rarity_shift, 0, 1),
    }, users


def test_the_threshold_alerts_at_most_the_budget_of_the_real_half_it_was_fitted_on():
    scores, abuse, users = _validation()
    real_scores, real_users = _real(rarity_shift=0.3)  # real shoppers rarer than the simulated ones on rarity
    combiner, summary = fit_decision(scores, abuse, users, 0.01, (real_scores, real_users))
    fitted, _ = user_halves(real_users)
    maxima = per_user_max(
        combiner.combine({n: v[fitted] for n, v in real_scores.items()}), np.asarray(real_users)[fitted]
    )
    assert combiner.mode == MODE and np.mean(maxima >= combiner.threshold) <= 0.01
    assert summary["alerted_share_fitted_half"] <= 0.01 and 0.0 <= summary["alerted_share_held_out"] <= 0.05
    assert summary["users"] + summary["held_out_users"] == 2000


def test_real_shoppers_join_the_tails_so_what_is_common_among_them_is_not_rare():
    scores, abuse, users = _validation()
    real_scores, real_users = _real(rarity_shift=0.3)
    alone, _ = fit_decision(scores, abuse, users, 0.01)
    with_real, _ = fit_decision(scores, abuse, users, 0.01, (real_scores, real_users))
    common_among_real = {"lstm": np.array([0.01]), "rarity": np.array([0.9])}
    assert with_real.combine(common_among_real)[0] < alone.combine(common_among_real)[0]


def test_the_decision_reads_back_as_the_job_loads_it(tmp_path):
    scores, abuse, users = _validation()
    combiner, _ = fit_decision(scores, abuse, users, 0.01, _real())
    combiner.write(tmp_path)
    assert ScoreCombiner.read(tmp_path) == combiner
