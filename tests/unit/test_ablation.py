"""The ablation's figures: every comparison of the combination with the best single detector carries its interval."""

import numpy as np
import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.ablation import PeriodScores, ablation
from shopguard.training.returning_data import build_returning_data


@pytest.fixture(scope="module")
def data():
    cfg = ShopguardConfig().with_overrides(["training.returning_users=200"])
    return build_returning_data(cfg, progress=lambda message: None)


def _scores(data, seed: int) -> dict[str, PeriodScores]:
    """A detector that sees abuse through noise, and one that sees nothing."""
    rng = np.random.default_rng(seed)
    sees = {
        part: np.clip(
            0.2 + 0.6 * getattr(data, part).event_is_abuse + rng.normal(0, 0.15, len(getattr(data, part))), 0.01, 0.99
        )
        for part in ("validation", "test")
    }
    blind = {part: rng.random(len(getattr(data, part))) for part in ("validation", "test")}
    return {
        "lstm": PeriodScores(sees["validation"], sees["test"]),
        "next_event": PeriodScores(blind["validation"], blind["test"]),
    }


def test_every_type_compares_the_combination_with_the_best_single_detector_with_an_interval(data):
    targets = ablation(_scores(data, 1), data, alert_rate=0.01)["targets"]
    rows = targets["combined_vs_best_single_pr_auc"]
    assert rows and all(row["best_detector"] == "lstm" for row in rows.values())
    for row in rows.values():
        low, high = row["difference_interval"]
        assert -1.0 <= low <= high <= 1.0
    low, high = targets["combined_vs_best_single_interval"]
    assert low <= targets["combined_pr_auc"] - targets["best_single_pr_auc"] + 1e-9 and low <= high


def test_the_intervals_are_the_same_on_every_run(data):
    first = ablation(_scores(data, 2), data, alert_rate=0.01)["targets"]
    second = ablation(_scores(data, 2), data, alert_rate=0.01)["targets"]
    assert first["combined_vs_best_single_pr_auc"] == second["combined_vs_best_single_pr_auc"]
