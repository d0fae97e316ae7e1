"""Velocity rules: the baseline a risk team writes first, run by the scoring step beside the models.

Counts in the user's last L events (the same window the models see): failed payments, failed logins,
events less than two seconds apart, device and IP changes, carts of five or more units, refund requests, and
reviews beyond the purchases in the window (a shopper reviews what they bought; a paid reviewer or a rival
reviews what they never bought, whatever their pace or the order of their items). Each count is
divided by the level a rule writer would alert at; the score is the strongest rule, so it crosses 1.0
exactly when some rule fires. Training judges the same function through
:class:`shopguard.training.detectors.velocity_rules.VelocityRules`.

Example
-------
>>> from shopguard.udfs.encoding import batch_features, encode_user_events
>>> from shopguard.udfs.events import Event
>>> windows = encode_user_events([Event(f"e{i}", "u", "payment_failed", 1000 * i) for i in range(4)], 32)
>>> velocity_rule_scores(batch_features(windows[-1:], 32)).round(2).tolist()
[0.8]
"""

from __future__ import annotations

import numpy as np

from shopguard.udfs.encoding import FEATURE_NAMES

ALERT_LEVELS: dict[str, float] = {
    "type=payment_failed": 5,
    "type=login_failed": 5,
    "fast_gap": 20,
    "new_device": 3,
    "new_ip": 3,
    "type=refund_request": 4,
}
"""Count in the window at which each rule fires."""
BIG_CART_QUANTITY = 4 / 6  # quantity bucket 4 and up: five units or more
BIG_CARTS_ALERT_LEVEL = 3  # big carts in the window at which the rule fires
UNBOUGHT_REVIEWS_ALERT_LEVEL = 4  # reviews in the window beyond its purchases at which the rule fires


def velocity_rule_scores(features: np.ndarray) -> np.ndarray:
    """The strongest rule's count over its alert level, per window of model inputs ``[batch, L, features]``.

    The scoring step passes the array it built for the models, so the rules cost no second encoding.
    """
    counts = features.sum(axis=1)
    ratios = [counts[:, FEATURE_NAMES.index(name)] / level for name, level in ALERT_LEVELS.items()]
    carts = features[:, :, FEATURE_NAMES.index("type=add_to_cart")]
    big = features[:, :, FEATURE_NAMES.index("quantity_bucket")] >= BIG_CART_QUANTITY - 1e-6
    ratios.append((carts * big).sum(axis=1) / BIG_CARTS_ALERT_LEVEL)
    ratios.append(unbought_reviews(counts) / UNBOUGHT_REVIEWS_ALERT_LEVEL)
    return np.max(np.stack(ratios, axis=1), axis=1).astype(np.float64)


def unbought_reviews(counts: np.ndarray) -> np.ndarray:
    """Reviews in each window beyond its purchases, from the per-window feature sums ``[batch, features]``.

    >>> counts = np.zeros((3, len(FEATURE_NAMES)))
    >>> counts[:, FEATURE_NAMES.index("type=review")] = (6, 3, 2)
    >>> counts[:, FEATURE_NAMES.index("type=purchase")] = (0, 3, 5)
    >>> unbought_reviews(counts).tolist()
    [6.0, 0.0, 0.0]
    """
    reviews = counts[:, FEATURE_NAMES.index("type=review")]
    return np.maximum(reviews - counts[:, FEATURE_NAMES.index("type=purchase")], 0.0)
