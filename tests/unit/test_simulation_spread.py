"""The ablation's targets on other simulations: one row per seed, each its own simulation, deterministic."""

import argparse
import shutil

import pytest

from shopguard.cli import _seed_list
from shopguard.config import ShopguardConfig
from shopguard.training.ablation_report import ablation_markdown
from shopguard.training.simulation_spread import spread_markdown, targets_across_seeds
from shopguard.udfs.detector_ensemble import NEXT_EVENT_FOLDER
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.unit.test_ablation_report import _result


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A model folder with an LSTM and a next-event model (the placeholder LSTM serves as both: real ONNX)."""
    model = write_placeholder_model(tmp_path_factory.mktemp("models"))
    shutil.copytree(model, model / NEXT_EVENT_FOLDER, ignore=shutil.ignore_patterns(NEXT_EVENT_FOLDER))
    return model


@pytest.fixture(scope="module")
def cfg():
    return ShopguardConfig().with_overrides(["training.returning_users=200"])


def test_each_seed_is_its_own_simulation_and_the_same_seed_gives_the_same_row(cfg, folder):
    rows = targets_across_seeds(cfg, folder, [11, 12, 11], progress=lambda message: None)
    assert [row["seed"] for row in rows] == [11, 12, 11]
    assert rows[0] == rows[2] and rows[0] != rows[1]
    for row in rows:
        assert set(row["pattern_recall_at_0.1pct_fpr"]) == {"account_takeover", "account_sharing"}
        assert 0.0 <= row["combined_pr_auc"] <= 1.0 and row["best_single_detector"]
    table = spread_markdown(rows)
    assert len(table) == 2 + 3 and table[2].startswith("| 11 | ")
    for row in rows:
        for combined, best, _name, interval in row["combined_short_of_best_single"].values():
            assert combined < best and (interval is None or interval[0] <= interval[1])


def test_a_folder_without_a_next_event_model_is_refused_with_what_to_do(cfg, tmp_path):
    model = write_placeholder_model(tmp_path / "models")
    with pytest.raises(ValueError, match="shopguard train"):
        targets_across_seeds(cfg, model, [11], progress=lambda message: None)


def test_the_report_adds_the_other_simulations_only_when_they_were_measured():
    row = {
        "seed": 13,
        "combined_pr_auc": 0.894,
        "best_single_pr_auc": 0.881,
        "best_single_detector": "lstm",
        "pattern_recall_at_0.1pct_fpr": {"account_takeover": 0.66, "account_sharing": 0.0},
        "pattern_recall_interval": {"account_takeover": [0.46, 1.0], "account_sharing": None},
        "combined_short_of_best_single": {},
    }
    assert "other simulations" not in ablation_markdown(_result(combined_bot=1.0), {})
    text = ablation_markdown(_result(combined_bot=1.0), {}, [row])
    assert "## The same targets on other simulations" in text
    assert "| 13 | 0.894 | 0.881 (lstm) | 0.660 [0.46–1.00] | 0.000 | none |" in text


def test_seeds_are_read_from_a_comma_separated_list_and_a_typo_is_named():
    assert _seed_list("11,12, 13") == (11, 12, 13)
    with pytest.raises(argparse.ArgumentTypeError, match="11,12,13"):
        _seed_list("11;12")
