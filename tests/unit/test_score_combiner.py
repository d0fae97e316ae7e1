"""The combiner: the formula the job applies, its fallback without patterns, and files it refuses."""

import json

import numpy as np
import pytest

from shopguard.training.combiner_fitting import fit_combiner
from shopguard.udfs.score_combiner import CombinerError, ScoreCombiner

FALLBACK = ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.6)
COMBINER = ScoreCombiner(("lstm", "user_patterns"), ("logit", "logit"), (1.0, 2.0), -1.0, 0.8, fallback=FALLBACK)


def test_the_combined_score_is_the_logistic_of_the_weighted_transformed_scores():
    combined = COMBINER.combine({"lstm": np.array([0.5]), "user_patterns": np.array([0.9])})
    expected = 1 / (1 + np.exp(-(-1.0 + 0.0 + 2.0 * np.log(0.9 / 0.1))))
    assert combined[0] == pytest.approx(expected)


def test_rows_without_a_pattern_score_use_the_fallback_and_its_threshold():
    scores = {"lstm": np.array([0.7, 0.7]), "user_patterns": np.array([np.nan, 0.9])}
    combined = COMBINER.combine(scores)
    assert combined[0] == pytest.approx(0.7) and combined[1] != pytest.approx(0.7)
    assert COMBINER.threshold_for(scores["user_patterns"]).tolist() == [0.6, 0.8]


def test_a_combiner_survives_its_file(tmp_path):
    COMBINER.write(tmp_path)
    assert ScoreCombiner.read(tmp_path) == COMBINER
    assert ScoreCombiner.read(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("body", [{"detectors": ["lstm"]}, "not json",
                                  {**COMBINER.to_dict(), "transforms": ["sqrt", "logit"]},
                                  {**COMBINER.to_dict(), "weights": [1.0]}])
def test_a_broken_combiner_file_is_refused_with_its_path(tmp_path, body):
    (tmp_path / "combiner.json").write_text(body if isinstance(body, str) else json.dumps(body))
    with pytest.raises(CombinerError, match="combiner.json"):
        ScoreCombiner.read(tmp_path)


def test_the_combiner_needs_every_detector_it_names():
    with pytest.raises(CombinerError, match="user_patterns"):
        COMBINER.combine({"lstm": np.array([0.5])})


def test_fitting_weighs_the_informative_detector_and_keeps_a_fallback():
    rng = np.random.default_rng(1)
    abuse = rng.random(2000) < 0.1
    scores = {"lstm": rng.random(2000), "user_patterns": np.where(abuse, 0.9, 0.1) + rng.normal(0, 0.05, 2000)}
    scores["user_patterns"] = scores["user_patterns"].clip(0, 1)
    combiner = fit_combiner(scores, abuse, [f"u{i}" for i in range(2000)], alert_rate=0.01)
    assert combiner.weights[1] > 10 * abs(combiner.weights[0])
    assert combiner.fallback is not None and combiner.fallback.detectors == ("lstm",)
    normal_flagged = np.mean(combiner.combine(scores)[~abuse] >= combiner.threshold)
    assert normal_flagged <= 0.01
