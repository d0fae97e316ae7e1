"""The ablation report: the targets are checked in words, met or not, and the combiner is written out."""

from shopguard.training.ablation_report import ablation_markdown, write_ablation_report
from shopguard.udfs.score_combiner import Hinge, ScoreCombiner


def _figures(pr_auc: float, per_type: dict[str, float]) -> dict:
    return {
        "pr_auc": pr_auc,
        "recall_at_0.1pct_fpr": 0.5,
        "per_type": {kind: {"pr_auc": value, "recall_at_0.1pct_fpr": value} for kind, value in per_type.items()},
    }


def _result(combined_bot: float) -> dict:
    combiner = ScoreCombiner(
        ("lstm", "user_patterns"), ("logit", "share"), (0.3, 1.4), -1.0, 0.96, hinges=(Hinge("lstm", 12.3, 0.4),)
    )
    return {
        "figures": {
            "lstm": _figures(0.90, {"bot": 1.0, "account_takeover": 0.93, "account_sharing": 0.06}),
            "user_patterns": _figures(0.84, {"bot": 0.4, "account_takeover": 0.97, "account_sharing": 0.05}),
            "combined": _figures(0.91, {"bot": combined_bot, "account_takeover": 1.0, "account_sharing": 0.06}),
        },
        "targets": {
            "pattern_recall_at_0.1pct_fpr": {"account_takeover": 0.88, "account_sharing": 0.0},
            "pattern_recall_target": 0.9,
            "pattern_recall_by_variant": {
                "account_takeover": {"blunt": 1.0, "subtle": 0.75},
                "account_sharing": {"blunt": 0.0, "subtle": 0.0},
            },
            "combined_vs_best_single_pr_auc": {
                "bot": {"combined": combined_bot, "best_single": 1.0, "best_detector": "lstm"},
                "account_takeover": {"combined": 1.0, "best_single": 0.97, "best_detector": "user_patterns"},
                "account_sharing": {"combined": 0.06, "best_single": 0.06, "best_detector": "lstm"},
            },
            "combined_pr_auc": 0.91,
            "best_single_pr_auc": 0.90,
            "best_single_detector": "lstm",
        },
        "combiner": combiner.to_dict(),
        "excluded_test_users": 300,
        "test_users": 2700,
    }


def test_a_type_where_the_combination_falls_short_is_named_with_its_figures():
    text = ablation_markdown(_result(combined_bot=0.949), {})
    assert "no, short on bot (0.949 vs 1.000, lstm)." in text
    assert "account_takeover 0.880, account_sharing 0.000" in text


def test_the_report_says_yes_only_when_every_type_holds_and_writes_the_hinges(tmp_path):
    path = write_ablation_report(_result(combined_bot=1.0), tmp_path, {})
    text = path.read_text()
    assert "every type: yes." in text
    assert "(lstm: logit, user_patterns: share)" in text and "lstm beyond 12.3 +0.400" in text
    assert (tmp_path / "ablation.png").stat().st_size > 0


def test_the_pattern_target_line_says_which_variant_the_misses_are():
    text = ablation_markdown(_result(combined_bot=1.0), {})
    assert "by variant: account_takeover blunt 1.000 / subtle 0.750, account_sharing blunt 0.000" in text


def test_the_pattern_target_shows_how_far_the_recall_could_move():
    result = _result(combined_bot=1.0)
    result["targets"]["pattern_recall_interval"] = {"account_takeover": [0.72, 0.96], "account_sharing": [0.0, 0.0]}
    text = ablation_markdown(result, {})
    assert "account_takeover 0.880 [0.72–0.96], account_sharing 0.000 [0.00–0.00]" in text
    assert "90% bootstrap interval" in text


def test_a_shortfall_carries_the_interval_of_the_difference_so_a_reader_sees_whether_it_is_chance():
    result = _result(combined_bot=0.996)
    result["targets"]["combined_vs_best_single_pr_auc"]["bot"]["difference_interval"] = [-0.0123, 0.0]
    result["targets"]["combined_vs_best_single_interval"] = [0.004, 0.021]
    text = ablation_markdown(result, {})
    assert "short on bot (0.996 vs 1.000, lstm; difference [-0.012 to +0.000])." in text
    assert "PR-AUC 0.910 vs 0.900 (lstm); difference [+0.004 to +0.021]." in text
    assert "paired bootstrap interval of the PR-AUC difference" in text
    assert "paired bootstrap interval" not in ablation_markdown(_result(combined_bot=0.996), {})  # none measured
