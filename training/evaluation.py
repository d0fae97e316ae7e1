"""Judging detectors side by side on the same time-split data.

For each detector: fit on train, calibrate the threshold on validation normal users to the target
alert rate, then measure on the test users (simulated, unseen, later in time), on real Taobao shoppers
(false-positive rate) and on real Taobao timelines with injected abuse.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from shopguard.training.detection_metrics import calibrate_threshold, evaluate_scores, user_scores
from shopguard.training.detectors.base import Detector
from shopguard.training.evaluation_data import EvaluationData


def evaluate_detector(detector: Detector, data: EvaluationData, alert_rate: float, fit: bool = True) -> dict:
    """Every figure for one detector; ``fit=False`` for a detector that arrives trained."""
    if fit:
        detector.fit(data.train)
    validation = user_scores(data.validation, detector.score(data.validation))
    threshold = calibrate_threshold(validation.scores[~validation.abused], alert_rate)
    test_scores = detector.score(data.test)
    figures = evaluate_scores(data.test, test_scores, threshold)
    real = user_scores(data.real_normal, detector.score(data.real_normal))
    figures["real_normal_fpr"] = float(np.mean(real.scores >= threshold))
    real_injected = evaluate_scores(data.real_injected, detector.score(data.real_injected), threshold)
    figures["real_injected"] = {
        k: real_injected[k]
        for k in ("pr_auc", "roc_auc", "recall", "fpr", "recall_at_0.1pct_fpr", "median_delay_events")
    }
    figures["test_scores"] = test_scores
    return figures


def evaluate_all(
    detectors: Sequence[tuple[Detector, bool]],
    data: EvaluationData,
    alert_rate: float,
    progress: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Figures for every ``(detector, needs_fit)`` pair, by detector name."""
    results = {}
    for detector, needs_fit in detectors:
        progress(f"evaluating {detector.name}")
        results[detector.name] = evaluate_detector(detector, data, alert_rate, fit=needs_fit)
    return results
