"""Checks every detector must pass (in the spirit of River's estimator checks)."""

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest

from shopguard.config import PatternSettings
from shopguard.training import detectors as detectors_package
from shopguard.training.anomalies import AnomalyLabel
from shopguard.training.detectors.isolation_forest import IsolationForestDetector
from shopguard.training.detectors.new_account import NewAccountDetector
from shopguard.training.detectors.next_event import NextEventDetector
from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
from shopguard.training.detectors.rarity import RarityDetector
from shopguard.training.detectors.user_patterns import UserPatternDetector
from shopguard.training.detectors.velocity_rules import VelocityRules
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.next_event_model import NextEventConfig
from shopguard.training.rarity_calibration import fit_rarity
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(0)
    return [
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


@pytest.fixture(scope="module")
def traffic(events):
    return encode_traffic(LabelledTraffic(events, [AnomalyLabel("u3", "bot", False, 0, ("u3-0",))]), 16)


# One entry per module of training/detectors/ (base.py holds the contract): the checks below run over each.
DETECTORS = {
    "velocity_rules": lambda events, tmp: VelocityRules(),
    "isolation_forest": lambda events, tmp: IsolationForestDetector(trees=20, seed=1),
    "onnx_sequence": lambda events, tmp: OnnxSequenceDetector(write_placeholder_model(tmp)),
    "next_event": lambda events, tmp: FittedOnce(NextEventDetector(NextEventConfig(hidden=8, epochs=1), tmp)),
    "user_patterns": lambda events, tmp: UserPatternDetector(PatternSettings(min_idf=(0.5,)), tmp),
    "rarity": lambda events, tmp: RarityDetector(fit_rarity([events])),
    "new_account": lambda events, tmp: NewAccountDetector(),
}


def test_the_checks_run_over_every_detector_module():
    folder = Path(detectors_package.__file__).parent
    modules = {path.stem for path in folder.glob("*.py")} - {"__init__", "base"}
    assert modules == set(DETECTORS), "add the new detector module to DETECTORS, so the checks run over it"


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request, events, tmp_path_factory):
    return DETECTORS[request.param](events, tmp_path_factory.mktemp(request.param))


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
