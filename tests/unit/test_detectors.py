"""Checks every detector must pass (in the spirit of River's estimator checks)."""

import copy
import pickle

import numpy as np
import pytest

from shopguard.config import PatternSettings
from shopguard.training.anomalies import AnomalyLabel
from shopguard.training.detectors.isolation_forest import IsolationForestDetector
from shopguard.training.detectors.next_event import NextEventDetector
from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
from shopguard.training.detectors.user_patterns import UserPatternDetector
from shopguard.training.detectors.velocity_rules import VelocityRules
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.next_event_model import NextEventConfig
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model


@pytest.fixture(scope="module")
def traffic():
    rng = np.random.default_rng(0)
    events = [
        Event(
            f"u{u}-{i}",
            f"u{u}",
            str(rng.choice(["page_view", "add_to_cart", "payment_failed"])),
            1000 * i + int(rng.integers(0, 900)),
            quantity=int(rng.integers(1, 9)),
        )
        for u in range(30)
        for i in range(int(rng.integers(1, 12)))
    ]
    return encode_traffic(LabelledTraffic(events, [AnomalyLabel("u3", "bot", False, 0, ("u3-0",))]), 16)


@pytest.fixture(
    scope="module", params=["velocity_rules", "isolation_forest", "onnx_placeholder", "next_event", "user_patterns"]
)
def detector(request, tmp_path_factory):
    if request.param == "velocity_rules":
        return VelocityRules()
    if request.param == "next_event":
        return FittedOnce(NextEventDetector(NextEventConfig(hidden=8, epochs=1), tmp_path_factory.mktemp("ne")))
    if request.param == "user_patterns":
        return UserPatternDetector(PatternSettings(min_idf=(0.5,)), tmp_path_factory.mktemp("patterns"))
    if request.param == "isolation_forest":
        return IsolationForestDetector(trees=20, seed=1)
    return OnnxSequenceDetector(write_placeholder_model(tmp_path_factory.mktemp("m")))


class FittedOnce:
    """Trains a slow detector once for the module; ``fit`` again returns the same trained detector."""

    def __init__(self, detector):
        self.detector, self.fitted = detector, None
        self.name = detector.name

    def fit(self, traffic):
        self.fitted = self.fitted or self.detector.fit(traffic)
        return self.fitted


def test_one_finite_score_per_event(detector, traffic):
    scores = detector.fit(traffic).score(traffic)
    assert scores.shape == (len(traffic),) and np.all(np.isfinite(scores))


def test_scoring_is_deterministic_and_leaves_the_traffic_untouched(detector, traffic):
    before = copy.deepcopy(traffic)
    fitted = detector.fit(traffic)
    first = fitted.score(traffic)
    np.testing.assert_array_equal(first, fitted.score(traffic))
    assert traffic.windows == before.windows and traffic.event_ids == before.event_ids


def test_a_fitted_detector_pickles_and_scores_the_same_after(detector, traffic):
    fitted = detector.fit(traffic)
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(clone.score(traffic), fitted.score(traffic))


def test_the_next_event_score_is_a_probability_of_surprise(traffic, tmp_path):
    detector = NextEventDetector(NextEventConfig(hidden=8, epochs=2), tmp_path).fit(traffic)
    scores = detector.score(traffic)
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores.std() > 0  # it tells events apart
