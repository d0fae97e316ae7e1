"""The ablation: every detector alone, and their combination, per anomaly type, on one time split.

Returning shoppers (:mod:`shopguard.training.returning_data`) are the only data on which a per-user
detector can be judged: each user has a normal history (profiles are mined from it), then a validation
period (thresholds and the combiner's weights are fitted there) and a test period (figures). Every
detector's threshold is calibrated the same way, on validation normal users at the target alert rate,
and applied unchanged to test. Users abused in validation are left out of the test figures: their first
test windows still hold codes of that abuse, so they are neither clean normal users nor test abuse.

Scores are computed once per detector (:func:`score_periods`); :func:`ablation` turns them, with a
fitted or given combiner, into the figures the evaluation report shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from shopguard.training.combiner_fitting import fit_combiner
from shopguard.training.detection_metrics import (
    UserScores,
    calibrate_threshold,
    evaluate_scores,
    pr_auc_difference_interval,
    user_scores,
)
from shopguard.training.returning_data import ReturningData, validation_abused_users
from shopguard.training.verdict_refit import verdict_rows
from shopguard.udfs.score_combiner import ScoreCombiner

COMBINED = "combined"
PER_USER_TYPES = ("account_takeover", "account_sharing")
PATTERN_RECALL_TARGET = 0.90


@dataclass
class PeriodScores:
    """One detector's per-event scores in the validation and test periods."""

    validation: np.ndarray
    test: np.ndarray


def score_periods(detectors, data: ReturningData, progress: Callable[[str], None] = print) -> dict[str, PeriodScores]:
    """Fit each ``(detector, fit_on_history)`` on the history when asked, then score validation and test."""
    scores = {}
    for detector, fit_on_history in detectors:
        progress(f"scoring returning shoppers with {detector.name}")
        if fit_on_history:
            detector.fit(data.history)
        scores[detector.name] = PeriodScores(detector.score(data.validation), detector.score(data.test))
    return scores


def fit_period_combiner(
    scores: Mapping[str, PeriodScores], data: ReturningData, alert_rate: float, judged: Sequence = ()
) -> ScoreCombiner:
    """The combiner fitted on the validation period's events (as ``shopguard train`` does), and on the alerts
    analysts judged (``judged``: :class:`~shopguard.training.verdict_refit.JudgedAlert`), when there are any."""
    validation = data.validation
    columns = {name: s.validation for name, s in scores.items()}
    is_abuse, users = validation.event_is_abuse, list(validation.user_ids)
    if judged:  # real labels win: a judged user's own simulated rows, if any, give way to the verdict
        judged_users = {j.user_id for j in judged}
        keep = np.array([user not in judged_users for user in users], dtype=bool)
        extra, extra_abuse, extra_users = verdict_rows(judged, tuple(columns))
        columns = {name: np.concatenate([np.asarray(values)[keep], extra[name]]) for name, values in columns.items()}
        is_abuse = np.concatenate([np.asarray(is_abuse)[keep], extra_abuse])
        users = [u for u, k in zip(users, keep) if k] + extra_users
    return fit_combiner(columns, is_abuse, users, alert_rate)


def ablation(
    scores: Mapping[str, PeriodScores], data: ReturningData, alert_rate: float, combiner: ScoreCombiner | None = None
) -> dict:
    """Figures for every detector alone and combined, with the detection targets (docs/detection.md) checked."""
    combiner = combiner or fit_period_combiner(scores, data, alert_rate)
    combined = PeriodScores(
        *(
            combiner.combine({n: getattr(scores[n], part) for n in combiner.detectors if n in scores})
            for part in ("validation", "test")
        )
    )
    excluded = validation_abused_users(data)
    keep = np.array([user not in excluded for user in data.test.user_ids])
    test = data.test.subset(keep)
    figures, tested = {}, {}
    for name, period in {**scores, COMBINED: combined}.items():
        validation = user_scores(data.validation, period.validation)
        threshold = calibrate_threshold(validation.scores[~validation.abused], alert_rate)
        tested[name] = user_scores(test, period.test[keep])
        figures[name] = evaluate_scores(test, period.test[keep], threshold, tested[name])
    targets = _targets(figures)
    _add_difference_intervals(targets, tested)
    return {
        "figures": figures,
        "combiner": combiner.to_dict(),
        "targets": targets,
        "excluded_test_users": len(excluded),
        "test_users": len(set(test.user_ids)),
    }


def short_of_best_single(targets: Mapping) -> list[str]:
    """The anomaly types on which the combination's PR-AUC is below the best single detector's."""
    return [
        kind
        for kind, row in targets["combined_vs_best_single_pr_auc"].items()
        if (row["combined"] or 0.0) < row["best_single"]
    ]


def _add_difference_intervals(targets: dict, tested: Mapping[str, UserScores]) -> None:
    """Beside each "combination vs best single" comparison, the bootstrap interval of their PR-AUC difference.

    Per type on that type's users and every normal user, overall on every test user: whether a shortfall
    (or a lead) of a few thousandths is more than another draw of users could reverse.
    """
    combined = tested[COMBINED]
    types = np.array(combined.types)
    for kind, row in targets["combined_vs_best_single_pr_auc"].items():
        keep = (types == "") | (types == kind)
        row["difference_interval"] = pr_auc_difference_interval(
            types[keep] == kind, combined.scores[keep], tested[row["best_detector"]].scores[keep]
        )
    targets["combined_vs_best_single_interval"] = pr_auc_difference_interval(
        combined.abused, combined.scores, tested[targets["best_single_detector"]].scores
    )


def _targets(figures: Mapping[str, dict]) -> dict:
    """The three detection targets (docs/detection.md), each with what was measured."""
    singles = [name for name in figures if name != COMBINED]
    combined = figures[COMBINED]
    types = sorted(combined["per_type"])
    patterns = figures.get("user_patterns", {}).get("per_type", {})
    per_type_best = {kind: max((figures[n]["per_type"][kind]["pr_auc"] or 0.0, n) for n in singles) for kind in types}
    best_overall = max((figures[n]["pr_auc"] or 0.0, n) for n in singles)
    return {
        "pattern_recall_at_0.1pct_fpr": {
            kind: patterns.get(kind, {}).get("recall_at_0.1pct_fpr") for kind in PER_USER_TYPES
        },
        "pattern_recall_interval": {
            kind: patterns.get(kind, {}).get("recall_at_0.1pct_fpr_interval") for kind in PER_USER_TYPES
        },
        "pattern_recall_target": PATTERN_RECALL_TARGET,
        # at the detector's validation threshold: which variant the misses are (the subtle one has no device sign)
        "pattern_recall_by_variant": {
            kind: {variant: patterns.get(kind, {}).get(f"recall_{variant}") for variant in ("blunt", "subtle")}
            for kind in PER_USER_TYPES
        },
        "combined_vs_best_single_pr_auc": {
            kind: {"combined": combined["per_type"][kind]["pr_auc"], "best_single": best, "best_detector": name}
            for kind, (best, name) in per_type_best.items()
        },
        "combined_pr_auc": combined["pr_auc"],
        "best_single_pr_auc": best_overall[0],
        "best_single_detector": best_overall[1],
    }
