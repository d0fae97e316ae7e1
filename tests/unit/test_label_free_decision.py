"""The label-free candidate decision: tails of normal behaviour, simulated and real, and a threshold real shoppers
respect, measured on the half of them it never saw."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from shopguard.training.label_free_decision import (
    FISHER_MODE,
    FISHER_REAL,
    LSTM_DECADES,
    MODE,
    calibrate_fisher_real,
    fit_decision,
    fit_fisher_real,
    write_fisher_real,
)
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


def _with_new_account(scores, users, fast_buyers=()):
    """``scores`` with a new_account score: 0 for everyone, 0.8 (4 decades) on the events of ``fast_buyers``."""
    return {**scores, "new_account": np.where(np.isin(users, list(fast_buyers)), 0.8, 0.0)}


def test_fisher_real_respects_the_real_budget_and_that_of_the_simulated_shoppers():
    scores, abuse, users = _validation()
    real_scores, real_users = _real()
    combiner, summary = fit_fisher_real(scores, abuse, users, 0.01, (real_scores, real_users))
    fitted, _ = user_halves(real_users)
    maxima = per_user_max(
        combiner.combine({n: v[fitted] for n, v in real_scores.items()}), np.asarray(real_users)[fitted]
    )
    assert combiner.mode == FISHER_MODE and np.mean(maxima >= combiner.threshold) <= 0.01
    assert summary["decision"] == FISHER_REAL and summary["alerted_share_fitted_half"] <= 0.01
    assert summary["users"] + summary["held_out_users"] == 2000
    assert combiner.threshold == max(summary["real_threshold"], summary["simulated_threshold"])
    scores["rarity"][:] = 0.9999  # simulated returning shoppers rarer than the real ones: they raise the threshold
    raised, summary = fit_fisher_real(scores, abuse, users, 0.01, (real_scores, real_users))
    assert raised.threshold == summary["simulated_threshold"] > summary["real_threshold"]


def test_detectors_calibrated_on_real_populations_keep_their_own_tail():
    scores, abuse, users = _validation()
    scores = _with_new_account(scores, users)  # no simulated shopper bought at signup: a table would call 0.33 rare
    real_scores, real_users = _real()
    real_scores = _with_new_account(real_scores, real_users)
    combiner, _ = fit_fisher_real(scores, abuse, users, 0.01, (real_scores, real_users))
    tails = {t.detector: t for t in combiner.tails}
    assert tails["rarity"].own == "p_value" and tails["new_account"].own == "decades"
    weeks_after_signup = {"lstm": np.array([0.01]), "rarity": np.array([0.3]), "new_account": np.array([0.33])}
    at_signup = {**weeks_after_signup, "new_account": np.array([0.8])}
    assert combiner.combine(weeks_after_signup)[0] < combiner.threshold <= combiner.combine(at_signup)[0]


def test_the_lstm_adds_evidence_but_never_decides_alone_and_can_be_left_out():
    scores, abuse, users = _validation()
    real_scores, real_users = _real()
    combiner, summary = fit_fisher_real(scores, abuse, users, 0.01, (real_scores, real_users))
    certain = {"lstm": np.array([1.0, 1.0]), "rarity": np.array([0.0, 0.995])}
    combined = combiner.combine(certain)
    assert combined[0] <= LSTM_DECADES / (1 + LSTM_DECADES) and combined[0] < combiner.threshold
    assert summary["lstm_decades"] == LSTM_DECADES
    assert combined[1] > combiner.combine({"lstm": np.array([0.01]), "rarity": np.array([0.995])})[0]
    without, _ = fit_fisher_real(scores, abuse, users, 0.01, (real_scores, real_users), with_lstm=False)
    assert without.detectors == ("rarity",) and without.combine({"rarity": np.array([0.9999])})[0] >= without.threshold


def test_fisher_real_reads_back_as_the_job_loads_it(tmp_path):
    scores, abuse, users = _validation()
    combiner, _ = fit_fisher_real(scores, abuse, users, 0.01, _real())
    combiner.write(tmp_path)
    assert ScoreCombiner.read(tmp_path) == combiner


def test_calibrate_writes_fisher_real_without_the_lstm_over_the_folders_combiner(tmp_path):
    ScoreCombiner(("lstm", "rarity"), ("logit", "logit"), (1.0, 1.0), 0.0, 0.5).write(tmp_path)  # as trained
    scores, abuse, users = _validation()
    combiner, summary = write_fisher_real(tmp_path, scores, abuse, users, 0.01, _real())
    assert combiner.mode == FISHER_MODE and combiner.detectors == ("rarity",)
    assert ScoreCombiner.read(tmp_path) == combiner
    recorded = json.loads((tmp_path / "combiner.json").read_text())["real_shoppers"]
    assert recorded == summary and recorded["decision"] == FISHER_REAL and recorded["with_lstm"] is False
    assert 0.0 <= recorded["alerted_share_simulated_normal"] <= 0.01


def test_calibrate_fits_on_the_folders_validation_scores_and_real_shoppers_with_new_account(tmp_path, monkeypatch):
    from shopguard.config import ShopguardConfig
    from shopguard.training import ensemble_training, real_calibration, returning_data
    from shopguard.training.ablation import PeriodScores

    scores, abuse, users = _validation()
    validation = SimpleNamespace(event_is_abuse=abuse, user_ids=users)
    asked = {}

    def real_shopper_scores(cfg, folder, progress, new_account=False):
        asked["new_account"] = new_account
        return _real()

    monkeypatch.setattr(
        returning_data, "build_returning_data", lambda cfg, progress: SimpleNamespace(validation=validation)
    )
    monkeypatch.setattr(
        ensemble_training,
        "score_with_folder",
        lambda cfg, returning, folder, progress: {n: PeriodScores(v, v[:0]) for n, v in scores.items()},
    )
    monkeypatch.setattr(ensemble_training, "with_new_account", lambda periods, folder, returning: periods)
    monkeypatch.setattr(real_calibration, "real_shopper_scores", real_shopper_scores)
    lines = []
    summary = calibrate_fisher_real(ShopguardConfig(), tmp_path, lines.append)
    assert asked == {"new_account": True} and summary["with_lstm"] is False
    assert ScoreCombiner.read(tmp_path).detectors == ("rarity",) and "fisher_real" in lines[-1]


def test_the_calibrate_command_follows_the_training_decision_unless_told_otherwise():
    from shopguard.cli import build_parser

    assert build_parser().parse_args(["calibrate", "--model", "M"]).decision == ""
    assert build_parser().parse_args(["calibrate", "--model", "M", "--decision", "fisher_real"]).decision == FISHER_REAL
    assert build_parser().parse_args(["calibrate", "--model", "M", "--decision", "logistic"]).decision == "logistic"


@pytest.mark.parametrize(
    "setting, flag, fitted",
    [
        ("fisher_real", "", "fisher_real"),
        ("logistic", "", "logistic"),
        ("logistic", "fisher_real", "fisher_real"),
        ("fisher_real", "logistic", "logistic"),
    ],
)
def test_a_folder_is_decided_as_training_decision_says_and_the_flag_overrides_it(
    monkeypatch, tmp_path, setting, flag, fitted
):
    import shopguard.training.ensemble_training as ensemble_training
    import shopguard.training.label_free_decision as label_free_decision
    from shopguard.config import ShopguardConfig, TrainingSettings

    calls = []
    monkeypatch.setattr(label_free_decision, "calibrate_fisher_real", lambda *a: calls.append("fisher_real"))
    monkeypatch.setattr(ensemble_training, "calibrate_folder", lambda *a: calls.append("logistic"))
    monkeypatch.setattr(ensemble_training, "add_new_account", lambda folder: calls.append("new_account"))
    cfg = ShopguardConfig(training=TrainingSettings(decision=setting))
    ensemble_training.decide(cfg, tmp_path, lambda message: None, flag)
    assert calls == [fitted, "new_account"]


def test_the_shipped_setting_decides_with_fisher_real():
    from shopguard.config import ShopguardConfig

    assert ShopguardConfig().training.decision == FISHER_REAL
