"""Fitting the score combiner on the validation split: weights by logistic regression, threshold by alert rate.

The weights are learned on validation *events* (is this event part of abuse?) from every detector's
score, plus a hinge term for the LSTM and the pattern detector beyond the 99th percentile of normal
events; the threshold is then set, like every single detector's, so that at most the target share of
validation *normal users* would be alerted. A second combiner without the pattern detector is fitted
the same way as the fallback the job uses when no pattern store can be read.

Why hinges: a purely linear blend weighted towards the pattern detector averaged the LSTM's certainty
on bots away (bots repeat common sequences, so their pattern score is near 0), and the combination
fell below the LSTM alone on bots. Three returning-shopper simulations (seeds 7, 11, 12) chose the
knee at the 99th percentile and hinges on the LSTM and the patterns only (see issue 5's note).

Example
-------
>>> rng = np.random.default_rng(0)
>>> abuse = rng.random(400) < 0.2
>>> scores = {"lstm": np.where(abuse, 0.8, 0.2) + rng.normal(0, 0.1, 400).clip(-0.15, 0.15),
...           "velocity_rules": rng.random(400)}
>>> combiner = fit_combiner(scores, abuse, users=[f"u{i}" for i in range(400)], alert_rate=0.01)
>>> combiner.detectors, combiner.weights[0] > 5 * abs(combiner.weights[1])
(('lstm', 'velocity_rules'), True)
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from shopguard.training.detection_metrics import calibrate_threshold
from shopguard.udfs.score_combiner import PATTERN_DETECTOR, Hinge, ScoreCombiner, transformed

TRANSFORMS = {"lstm": "logit", "next_event": "logit", PATTERN_DETECTOR: "share", "velocity_rules": "log1p",
              "isolation_forest": "logit"}
HINGED = ("lstm", PATTERN_DETECTOR)
HINGE_KNEE_QUANTILE = 0.99  # of validation normal events' transformed scores


def fit_combiner(scores: Mapping[str, np.ndarray], event_is_abuse: np.ndarray, users: Sequence[str],
                 alert_rate: float, with_fallback: bool = True, hinged: tuple[str, ...] = HINGED) -> ScoreCombiner:
    """Fit weights on validation events and the threshold on validation normal users (``hinged``: see above)."""
    names = tuple(scores)
    event_is_abuse = np.asarray(event_is_abuse, dtype=bool)
    transforms = tuple(TRANSFORMS.get(name, "logit") for name in names)
    scaled = {n: np.nan_to_num(transformed(scores[n], t)) for n, t in zip(names, transforms)}
    knees = {n: float(np.quantile(scaled[n][~event_is_abuse], HINGE_KNEE_QUANTILE)) for n in hinged if n in scaled}
    features = np.column_stack([scaled[n] for n in names] + [np.maximum(scaled[n] - k, 0.0) for n, k in knees.items()])
    model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(features, event_is_abuse)
    weights = [float(w) for w in model.coef_[0]]
    hinges = tuple(Hinge(n, k, w) for (n, k), w in zip(knees.items(), weights[len(names):]))
    combiner = ScoreCombiner(names, transforms, tuple(weights[:len(names)]), float(model.intercept_[0]),
                             threshold=0.5, hinges=hinges)
    threshold = calibrate_threshold(_normal_user_maxima(combiner.combine(scores), users, event_is_abuse), alert_rate)
    fallback = None
    if with_fallback and PATTERN_DETECTOR in names and len(names) > 1:
        fallback = fit_combiner({n: s for n, s in scores.items() if n != PATTERN_DETECTOR}, event_is_abuse, users,
                                alert_rate, with_fallback=False, hinged=hinged)
    return ScoreCombiner(names, transforms, combiner.weights, combiner.intercept, threshold, fallback, hinges)


def _normal_user_maxima(combined: np.ndarray, users: Sequence[str], event_is_abuse: np.ndarray) -> np.ndarray:
    """Each user's highest combined score, for users none of whose events is abuse."""
    best: dict[str, float] = {}
    abused: set[str] = set()
    for user, score, is_abuse in zip(users, combined.tolist(), event_is_abuse.tolist()):
        best[user] = max(best.get(user, 0.0), score)
        if is_abuse:
            abused.add(user)
    return np.array([score for user, score in best.items() if user not in abused])
