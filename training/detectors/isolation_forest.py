"""IsolationForest on per-window features: the unsupervised baseline.

Each window is summarised by the count and the mean of every feature over its events (so the
forest sees how many failed payments, how fast, how many changes), and scored by how easily it is
isolated from the training windows. It learns without labels.
"""

from __future__ import annotations

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.encoding import FEATURE_NAMES


def window_summary(traffic: EncodedTraffic, chunk: int = 8192) -> np.ndarray:
    """``[events, 2 * features]``: feature sums and means over each window's present events."""
    present = FEATURE_NAMES.index("present")
    parts = []
    for start in range(0, len(traffic), chunk):
        x = traffic.features(start, start + chunk)
        sums = x.sum(axis=1)
        parts.append(np.hstack([sums, sums / np.maximum(sums[:, [present]], 1.0)]))
    return np.vstack(parts) if parts else np.zeros((0, 2 * len(FEATURE_NAMES)))


class IsolationForestDetector:
    name = "isolation_forest"

    def __init__(self, trees: int = 200, max_samples: int = 4096, seed: int = 0):
        self.trees, self.max_samples, self.seed = trees, max_samples, seed
        self.forest = None

    def fit(self, train: EncodedTraffic) -> "IsolationForestDetector":
        from sklearn.ensemble import IsolationForest

        self.forest = IsolationForest(
            n_estimators=self.trees, max_samples=min(self.max_samples, len(train)), random_state=self.seed, n_jobs=1
        ).fit(window_summary(train))
        return self

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        return -self.forest.score_samples(window_summary(traffic))
