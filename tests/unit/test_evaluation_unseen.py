"""Leave one family out on tiny data: every family judged after a fit without it, the report's section first."""

import json

import numpy as np
import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.ablation import PeriodScores
from shopguard.training.detectors.velocity_rules import VelocityRules
from shopguard.training.evaluation_unseen import (
    COMBINERS,
    RealShoppers,
    UnseenPlan,
    _fold_combiners,
    _without,
    family_figures,
    leave_one_family_out,
)
from shopguard.training.evaluation_unseen_report import SECTION_TITLE, write_unseen_report
from shopguard.training.real_calibration import calibrate_combiner
from shopguard.training.returning_data import build_returning_data
from tests.unit.stand_in_taobao import write_stand_in_taobao

T0_S = 1_511_658_000
FAMILIES = ("bot", "card_testing")


@pytest.fixture(scope="module")
def returning(tmp_path_factory):
    taobao = write_stand_in_taobao(tmp_path_factory.mktemp("data") / "slice.csv", users=200)
    cfg = ShopguardConfig().with_overrides(
        [f"data.taobao_csv={taobao}", "training.returning_users=120", "training.returning_abused_share=0.2"]
    )
    return build_returning_data(cfg, progress=lambda message: None)


@pytest.fixture(scope="module")
def unseen(returning):
    rules = VelocityRules()
    label_free = {"velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test))}
    messages = []
    result = leave_one_family_out(
        returning.validation,
        returning.validation,
        returning,
        label_free,
        alert_rate=0.01,
        plan=UnseenPlan(families=FAMILIES, epochs=1, hidden=4, resamples=20),
        progress=messages.append,
        real=RealShoppers(
            returning.history,
            {"velocity_rules": rules.score(returning.history), "lstm": np.zeros(len(returning.history))},
        ),
    )
    return result, messages


def test_every_family_is_judged_left_out_and_seen_with_every_combiner(unseen):
    result, messages = unseen
    assert list(result["families"]) == list(FAMILIES) and result["combiner"] in COMBINERS
    for row in result["families"].values():
        assert row["abused_users"] > 0 and set(row["combiners"]) == set(row["seen"]) == set(COMBINERS)
        assert 0.0 <= row["recall_at_0.1pct_fpr"] <= 1.0 and row["pr_auc"] is not None
        assert set(row["detectors"]) == {"lstm", "velocity_rules"}
    assert result["unseen_min_recall"] == min(r["recall_at_0.1pct_fpr"] for r in result["families"].values())
    assert [m for m in messages if "fold" in m and "left out" in m] == [
        "unseen families: fold 1/3, left out: none (seen)",
        "unseen families: fold 2/3, left out: bot",
        "unseen families: fold 3/3, left out: card_testing",
    ]
    assert "account_sharing" in result["not_measurable"]
    assert result["normal_users_past_rarity_knee"] is None  # no rarity detector in this test
    assert all(0 <= row["blunt_met"] <= len(FAMILIES) for row in result["by_combiner"].values())
    shares = [row["real_alert_share"] for row in result["by_combiner"].values()]
    assert all(0.0 <= share <= 1.0 for share in shares) and result["real_alert_share"] is not None
    json.dumps(result)


def test_a_fold_fits_nothing_on_the_family_it_leaves_out(returning):
    rules = VelocityRules()
    scores = {"velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test))}
    assert "bot" in returning.validation.user_types and "bot" not in _without(returning.validation, "bot").user_types
    left_out = _fold_combiners(scores, returning.validation, "bot", alert_rate=0.01)
    keep = np.array([kind != "bot" for kind in returning.validation.user_types])
    without = returning.validation.subset(keep)
    refit = _fold_combiners(
        {"velocity_rules": PeriodScores(scores["velocity_rules"].validation[keep], scores["velocity_rules"].test)},
        without,
        None,
        alert_rate=0.01,
    )
    assert left_out == refit


def test_family_figures_judge_the_family_against_normal_users_only(returning):
    scores = np.array([1.0 if kind == "bot" else 0.5 if kind else 0.0 for kind in returning.test.user_types])
    figures = family_figures(returning.test, scores, "bot", threshold=0.9)
    assert figures["pr_auc"] == 1.0 and figures["recall_at_0.1pct_fpr"] == 1.0 and figures["fpr_at_threshold"] == 0
    assert figures["normal_users"] == len(
        {u for u, k in zip(returning.test.user_ids, returning.test.user_types) if not k}
    )


def test_the_report_puts_the_unseen_section_first(unseen, tmp_path):
    (tmp_path / "evaluation.md").write_text("# Detection evaluation\n\n## Test users\n")
    write_unseen_report(unseen[0], tmp_path)
    text = (tmp_path / "evaluation.md").read_text()
    assert text.index(SECTION_TITLE) < text.index("## Test users")
    assert (tmp_path / "unseen_families.png").stat().st_size > 0 and "| bot |" in (tmp_path / "unseen.md").read_text()


def test_evaluate_takes_the_full_size_unseen_flag():
    from shopguard.cli import build_parser

    args = build_parser().parse_args(["evaluate", "--unseen-full-size"])
    assert args.unseen_full_size and not args.skip_unseen


def test_logistic_real_is_the_logistic_fit_fitted_to_the_calibration_half_of_real_shoppers(returning):
    rules = VelocityRules()
    scores = {"velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test))}
    real_scores = {"velocity_rules": rules.score(returning.history)}
    real_users = returning.history.user_ids
    bare = _fold_combiners(scores, returning.validation, None, alert_rate=0.01)
    fitted = _fold_combiners(scores, returning.validation, None, 0.01, real_fit=(real_scores, real_users))
    assert bare["logistic_real"] == bare["logistic"] and fitted["logistic"] == bare["logistic"]
    expected, _ = calibrate_combiner(bare["logistic"], real_scores, real_users, 0.01)
    assert fitted["logistic_real"] == expected and fitted["logistic_real"].threshold >= bare["logistic"].threshold


def test_the_label_free_candidate_is_fitted_with_its_real_shopper_threshold(returning):
    from shopguard.training.label_free_decision import MODE, fit_decision

    rules = VelocityRules()
    scores = {"velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test))}
    real = ({"velocity_rules": rules.score(returning.history)}, returning.history.user_ids)
    fitted = _fold_combiners(scores, returning.validation, None, 0.01, real_fit=real)
    validation = returning.validation
    expected, _ = fit_decision(
        {"velocity_rules": scores["velocity_rules"].validation},
        validation.event_is_abuse,
        validation.user_ids,
        0.01,
        real,
    )
    assert fitted["min_tail_real"] == expected and expected.mode == MODE


def test_fisher_real_is_fitted_with_and_without_the_lstm_on_the_real_shoppers_anchor(returning):
    from shopguard.training.label_free_decision import fit_fisher_real

    rules = VelocityRules()
    scores = {
        "velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test)),
        "lstm": PeriodScores(np.linspace(0, 1, len(returning.validation)), np.linspace(0, 1, len(returning.test))),
    }
    real = (
        {"velocity_rules": rules.score(returning.history), "lstm": np.linspace(0, 1, len(returning.history))},
        returning.history.user_ids,
    )
    fitted = _fold_combiners(scores, returning.validation, None, 0.01, real_fit=real)
    validation = returning.validation
    period = {name: s.validation for name, s in scores.items()}
    for name, with_lstm in (("fisher_real", True), ("fisher_real_no_lstm", False)):
        expected, _ = fit_fisher_real(
            period, validation.event_is_abuse, validation.user_ids, 0.01, real, with_lstm=with_lstm
        )
        assert fitted[name] == expected and ("lstm" in expected.detectors) == with_lstm


def test_the_share_of_normal_users_past_the_rarity_knee_counts_users_not_events(returning):
    from shopguard.training.evaluation_unseen import _past_rarity_knee
    from shopguard.udfs.score_combiner import Hinge, ScoreCombiner

    test = returning.test
    keep = np.ones(len(test), dtype=bool)
    normal_users = sorted({u for u, k in zip(test.user_ids, test.user_types) if not k})
    loud = set(normal_users[: len(normal_users) // 4])
    rarity = np.array([0.9999 if u in loud else 0.5 for u in test.user_ids])
    shipped = ScoreCombiner(("rarity",), ("logit",), (0.0,), 0.0, 0.5, hinges=(Hinge("rarity", 5.0, 1.0),))
    share = _past_rarity_knee(test, keep, {"rarity": PeriodScores(rarity, rarity)}, shipped)
    assert share == len(loud) / len(normal_users)


def test_new_account_joins_every_fold_s_combiners_learned_from_no_label(returning):
    from shopguard.training.ensemble_training import NEW_ACCOUNT, with_new_account
    from shopguard.training.new_account_calibration import with_new_account_hinge

    rules = VelocityRules()
    plain = {"velocity_rules": PeriodScores(rules.score(returning.validation), rules.score(returning.test))}
    scores = with_new_account(plain, "/nonexistent-folder-serves-the-shipped-tables", returning)
    assert set(scores) == {"velocity_rules", NEW_ACCOUNT}
    assert len(scores[NEW_ACCOUNT].test) == len(returning.test)
    combiners = _fold_combiners(scores, returning.validation, "bot", alert_rate=0.01)
    without = _fold_combiners(plain, returning.validation, "bot", alert_rate=0.01)
    assert combiners["logistic"] == with_new_account_hinge(without["logistic"])  # a fixed hinge, no learned weight
    assert combiners["logistic_real"].hinge_only(NEW_ACCOUNT)
    for name in ("min_tail", "min_tail_real", "fisher_tail"):
        assert NEW_ACCOUNT in {table.detector for table in combiners[name].tails}
