"""Velocity rules: the baseline a risk team writes first.

Counts in the user's last L events (the same window the models see): failed payments, failed logins,
events less than two seconds apart, device and IP changes, carts of five or more units. Each count is
divided by the level a rule writer would alert at; the score is the strongest rule, so it crosses 1.0
exactly when some rule fires.

Example
-------
>>> from shopguard.training.encoded_traffic import EncodedTraffic
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> windows = encode_user_events([Event(f"e{i}", "u", "payment_failed", 1000 * i) for i in range(4)], 32)
>>> VelocityRules().score_windows(windows[-1:], 32).round(2).tolist()
[0.8]
"""

from __future__ import annotations

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.encoding import FEATURE_NAMES, batch_features

ALERT_LEVELS: dict[str, float] = {
    "type=payment_failed": 5, "type=login_failed": 5, "fast_gap": 20, "new_device": 3, "new_ip": 3,
}
"""Count in the window at which each rule fires."""
BIG_CART_QUANTITY = 4 / 6  # quantity bucket 4 and up: five units or more


class VelocityRules:
    name = "velocity_rules"

    def fit(self, train: EncodedTraffic) -> "VelocityRules":
        return self  # hand-set levels: nothing to learn

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        return np.concatenate([self.score_windows(traffic.windows[i:i + 4096], traffic.history_length)
                               for i in range(0, len(traffic), 4096)] or [np.zeros(0)])

    def score_windows(self, windows: list[bytes], history_length: int) -> np.ndarray:
        return self.score_features(batch_features(windows, history_length))

    def score_features(self, x: np.ndarray) -> np.ndarray:
        """Scores of model inputs ``[batch, L, features]`` (the job reuses the array it built for the model)."""
        counts = x.sum(axis=1)
        ratios = [counts[:, FEATURE_NAMES.index(name)] / level for name, level in ALERT_LEVELS.items()]
        carts = x[:, :, FEATURE_NAMES.index("type=add_to_cart")]
        big_carts = (carts * (x[:, :, FEATURE_NAMES.index("quantity_bucket")] >= BIG_CART_QUANTITY - 1e-6)).sum(axis=1)
        ratios.append(big_carts / 3)
        return np.max(np.stack(ratios, axis=1), axis=1).astype(np.float64)
