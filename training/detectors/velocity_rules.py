"""Velocity rules as a detector the evaluation judges beside the models.

The rules themselves are :func:`shopguard.udfs.velocity_rules.velocity_rule_scores`, the function the
job's scoring step runs; this adapter only gives them the detector contract (``fit``/``score``).

Example
-------
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> windows = encode_user_events([Event(f"e{i}", "u", "payment_failed", 1000 * i) for i in range(4)], 32)
>>> VelocityRules().score_windows(windows[-1:], 32).round(2).tolist()
[0.8]
"""

from __future__ import annotations

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.encoding import batch_features
from shopguard.udfs.velocity_rules import velocity_rule_scores


class VelocityRules:
    name = "velocity_rules"

    def fit(self, train: EncodedTraffic) -> "VelocityRules":
        return self  # hand-set levels: nothing to learn

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        return np.concatenate(
            [
                self.score_windows(traffic.windows[i : i + 4096], traffic.history_length)
                for i in range(0, len(traffic), 4096)
            ]
            or [np.zeros(0)]
        )

    def score_windows(self, windows: list[bytes], history_length: int) -> np.ndarray:
        return velocity_rule_scores(batch_features(windows, history_length))
