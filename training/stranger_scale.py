"""The pattern score of strangers fitted on real shoppers: a score that means the same for them and known users.

The pattern detector compares a user without a profile (a stranger) with the population the store was
mined from. That population is simulated returning shoppers, so a real stranger's ordinary two-event visit
is often a sequence none of them performed and scores as high as an account takeover of a known user.
:func:`fit_stranger_scale` maps a stranger's score to the known users' score that is as rare: the real
strangers' per-user highest scores and the known normal users' are matched by tail share (a quantile map,
monotone), and :func:`write_stranger_scale` puts the map into the store, where
:class:`~shopguard.udfs.pattern_matching.PatternMatcher` applies it to strangers only. No abuse label is
used. Where many real strangers share one score (every sequence unseen: the highest), they all map to the
lowest known score as rare as that whole group, so the detector cannot single out a stranger more than the
real data allows.

Example
-------
>>> rng = np.random.default_rng(0)
>>> strangers, known = np.r_[np.zeros(800), rng.random(150), np.ones(50)], rng.beta(2, 8, 1000)
>>> scale = fit_stranger_scale(strangers, known)
>>> scale.apply(1.0) == float(np.quantile(known, 0.95, method="inverted_cdf")), scale.apply(0.0)
(True, 0.0)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from shopguard.udfs.pattern_matching import STRANGER_SCALE_KEY, StrangerScale

SCALE_KNOTS = 60  # tail shares, log-spaced from every user down to one real stranger


def fit_stranger_scale(
    stranger_maxima: np.ndarray, known_maxima: np.ndarray, knots: int = SCALE_KNOTS
) -> StrangerScale:
    """The quantile map from real strangers' per-user highest pattern score to known normal users'."""
    strangers = np.asarray(stranger_maxima, dtype=np.float64)
    known = np.asarray(known_maxima, dtype=np.float64)
    if not len(strangers) or not len(known):
        raise ValueError("a stranger scale needs real strangers' and known users' pattern scores")
    grid = np.logspace(0, -np.log10(len(strangers)), knots)
    raw = np.unique(np.quantile(strangers, 1 - grid, method="inverted_cdf"))
    ordered = np.sort(strangers)
    tails = (len(ordered) - np.searchsorted(ordered, raw, side="left")) / len(ordered)  # share at or above each
    scaled = np.where(raw > 0, np.quantile(known, 1 - tails, method="inverted_cdf"), 0.0)  # nothing unmatched: 0
    return StrangerScale(tuple(map(float, raw)), tuple(map(float, np.maximum.accumulate(scaled))))


def write_stranger_scale(store_path: str | Path, scale: StrangerScale) -> None:
    """Put ``scale`` into the pattern store's meta table (replacing any earlier one)."""
    with sqlite3.connect(store_path) as db:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (STRANGER_SCALE_KEY, scale.to_json()))
    db.close()
