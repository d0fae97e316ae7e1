"""What a model folder serves: alone, with a combiner, with a pattern store, or refused."""

import numpy as np
import pytest

from shopguard.config import PatternSettings
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features, encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.pattern_store import PATTERNS_FILE
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.score_combiner import ScoreCombiner
from shopguard.udfs.scoring import ModelRefused
from shopguard.udfs.served_patterns import ServedPatterns

WINDOWS = [
    encode_user_events([Event(f"e{i}", "u", "payment_failed", 1000 * i) for i in range(n)], 32)[-1] for n in (1, 6)
]


def test_a_folder_without_a_combiner_decides_on_the_abuse_model_alone(tmp_path):
    ensemble = DetectorEnsemble.load(write_placeholder_model(tmp_path, threshold=0.7))
    result = ensemble.score_batch(batch_features(WINDOWS, 32), np.full(2, np.nan))
    np.testing.assert_array_equal(result.score, result.lstm)
    assert result.threshold.tolist() == [0.7, 0.7] and np.isnan(result.next_event).all()
    assert result.velocity_rules[1] > result.velocity_rules[0]


def test_a_folder_with_a_combiner_decides_on_the_combination(tmp_path):
    folder = write_placeholder_model(tmp_path)
    ScoreCombiner(("lstm", "velocity_rules"), ("logit", "log1p"), (0.0, 3.0), -2.0, 0.4).write(folder)
    ensemble = DetectorEnsemble.load(folder)
    result = ensemble.score_batch(batch_features(WINDOWS, 32), np.full(2, np.nan))
    expected = 1 / (1 + np.exp(-(-2.0 + 3.0 * np.log1p(result.velocity_rules))))
    np.testing.assert_allclose(result.score, expected)
    assert ensemble.threshold == 0.4 and ensemble.detectors == ("lstm", "velocity_rules")


def test_a_combiner_naming_a_detector_the_folder_lacks_is_refused(tmp_path):
    folder = write_placeholder_model(tmp_path)
    ScoreCombiner(("lstm", "next_event"), ("logit", "logit"), (1.0, 1.0), 0.0, 0.5).write(folder)
    with pytest.raises(ModelRefused, match="next_event"):
        DetectorEnsemble.load(folder)


def test_a_version_without_a_pattern_store_is_served_without_the_pattern_detector(tmp_path):
    folder = write_placeholder_model(tmp_path)
    served = ServedPatterns.load(ModelSource(fixed_dir=str(folder)), None, PatternSettings())
    assert served.matcher is None and PATTERNS_FILE in served.problem


def test_a_corrupt_pattern_store_does_not_stop_the_model_from_serving(tmp_path):
    folder = write_placeholder_model(tmp_path)
    (folder / PATTERNS_FILE).write_bytes(b"garbage" * 1000)
    served = ServedPatterns.load(ModelSource(fixed_dir=str(folder)), None, PatternSettings())
    assert served.matcher is None and "cannot read" in served.problem
    assert DetectorEnsemble.load(folder).card.model_version == served.card.model_version


def test_switching_the_pattern_detector_off_is_honoured(tmp_path):
    folder = write_placeholder_model(tmp_path)
    served = ServedPatterns.load(ModelSource(fixed_dir=str(folder)), None, PatternSettings(enabled=False))
    assert served.matcher is None and served.problem == "patterns.enabled = false"
