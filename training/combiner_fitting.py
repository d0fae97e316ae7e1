"""Fitting the score combiner on the validation split: weights by logistic regression, threshold by alert rate.

The weights are learned on validation *events* (is this event part of abuse?) from every detector's
score, plus a hinge term for the LSTM and the pattern detector beyond the 99th percentile of normal
events; the threshold is then set, like every single detector's, so that at most the target share of
validation *normal users* would be alerted. A second combiner without the pattern detector is fitted
the same way as the fallback the job uses when no pattern store can be read.

Why hinges: a purely linear blend weighted towards the pattern detector averaged the LSTM's certainty
on bots away (bots repeat common sequences, so their pattern score is near 0), and the combination
fell below the LSTM alone on bots. The knee (``HINGE_KNEE_QUANTILE``) and the hinged detectors
(``HINGED``) were chosen on returning-shopper simulations; ``shopguard evaluate`` measures the result.

Why a refit on one row per user: the job alerts a user at their *most suspicious* event, so what
matters is how each normal user's highest event compares with each abused user's highest abuse event.
Fitted on all events, the weights learn from the bulk of ordinary events, where a high pattern score is
rare; but a normal user's highest event is exactly where their rare spike lies, and a heavy pattern
weight let a few such users outrank the slowest bots. After the event-level fit the weights are
refitted (``user_rounds`` times) on the events that decide: each normal user's highest-scoring event
and each abused user's highest-scoring abuse event, as in multiple-instance learning
(``user_rounds=0`` keeps the event-level fit alone, for comparison).

Why a label-free combiner too: the weights above are learned from the injected abuse, so they learn
the injectors (a family the fit never saw can get little weight). :func:`fit_tail_combiner` needs
normal users only: each detector's score becomes its tail share among normal validation events
(:class:`~shopguard.udfs.score_combiner.TailTable`), and the rarest tail decides (``min_tail``) or
the tails are pooled by Fisher's method (``fisher_tail``). The
leave-one-family-out evaluation (:mod:`shopguard.training.evaluation_unseen`) measures both.

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

import dataclasses
from typing import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from shopguard.training.detection_metrics import calibrate_threshold
from shopguard.udfs.score_combiner import PATTERN_DETECTOR, Hinge, ScoreCombiner, TailTable, transformed

TAIL_KNOTS = 80  # knots of a tail table, log-spaced in tail share from 1 down to one normal event
TRANSFORMS = {
    "lstm": "logit",
    "next_event": "logit",
    PATTERN_DETECTOR: "share",
    "velocity_rules": "log1p",
    "isolation_forest": "logit",
}
HINGED = ("lstm", PATTERN_DETECTOR)
HINGE_KNEE_QUANTILE = 0.99  # of validation normal events' transformed scores
USER_ROUNDS = 1  # refits on each user's deciding event; 0: the event-level fit alone


def fit_combiner(
    scores: Mapping[str, np.ndarray],
    event_is_abuse: np.ndarray,
    users: Sequence[str],
    alert_rate: float,
    with_fallback: bool = True,
    hinged: tuple[str, ...] = HINGED,
    user_rounds: int = USER_ROUNDS,
) -> ScoreCombiner:
    """Fit weights on validation events, refit them on each user's deciding event (``user_rounds`` times), and
    the threshold on validation normal users (``hinged``, ``user_rounds``: see above)."""
    names = tuple(scores)
    event_is_abuse = np.asarray(event_is_abuse, dtype=bool)
    transforms = tuple(TRANSFORMS.get(name, "logit") for name in names)
    scaled = {n: np.nan_to_num(transformed(scores[n], t)) for n, t in zip(names, transforms)}
    knees = {n: float(np.quantile(scaled[n][~event_is_abuse], HINGE_KNEE_QUANTILE)) for n in hinged if n in scaled}
    features = np.column_stack([scaled[n] for n in names] + [np.maximum(scaled[n] - k, 0.0) for n, k in knees.items()])
    combiner = _fitted(names, transforms, knees, features, event_is_abuse)
    for _ in range(user_rounds):
        rows = deciding_events(combiner.combine(scores), users, event_is_abuse)
        combiner = _fitted(names, transforms, knees, features[rows], event_is_abuse[rows])
    threshold = calibrate_threshold(normal_user_maxima(combiner.combine(scores), users, event_is_abuse), alert_rate)
    fallback = None
    if with_fallback and PATTERN_DETECTOR in names and len(names) > 1:
        fallback = fit_combiner(
            {n: s for n, s in scores.items() if n != PATTERN_DETECTOR},
            event_is_abuse,
            users,
            alert_rate,
            with_fallback=False,
            hinged=hinged,
            user_rounds=user_rounds,
        )
    return dataclasses.replace(combiner, threshold=threshold, fallback=fallback)


def _fitted(
    names: tuple[str, ...],
    transforms: tuple[str, ...],
    knees: Mapping[str, float],
    features: np.ndarray,
    is_abuse: np.ndarray,
) -> ScoreCombiner:
    """Logistic regression on ``features`` (scaled scores, then hinge terms), as a combiner (threshold unset)."""
    model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced").fit(features, is_abuse)
    weights = [float(w) for w in model.coef_[0]]
    hinges = tuple(Hinge(n, k, w) for (n, k), w in zip(knees.items(), weights[len(names) :]))
    return ScoreCombiner(
        names, transforms, tuple(weights[: len(names)]), float(model.intercept_[0]), threshold=0.5, hinges=hinges
    )


def deciding_events(combined: np.ndarray, users: Sequence[str], event_is_abuse: np.ndarray) -> np.ndarray:
    """Rows of the events an alert would be decided on: each normal user's highest-scoring event, and each
    abused user's highest-scoring abuse event (their normal events before the onset are left out).

    >>> deciding_events(np.array([0.2, 0.7, 0.1, 0.9, 0.3]), ["n", "n", "a", "a", "a"],
    ...                 np.array([False, False, False, False, True])).tolist()
    [1, 4]
    """
    abused = {user for user, is_abuse in zip(users, event_is_abuse.tolist()) if is_abuse}
    best: dict[str, int] = {}
    for row, (user, is_abuse) in enumerate(zip(users, event_is_abuse.tolist())):
        if (user in abused) != is_abuse:
            continue
        if user not in best or combined[row] > combined[best[user]]:
            best[user] = row
    return np.array(sorted(best.values()), dtype=np.int64)


def normal_user_maxima(combined: np.ndarray, users: Sequence[str], event_is_abuse: np.ndarray) -> np.ndarray:
    """Each user's highest combined score, for users none of whose events is abuse: their deciding events."""
    rows = deciding_events(combined, users, event_is_abuse)
    return combined[rows[~event_is_abuse[rows]]]


def normal_user_events(users: Sequence[str], event_is_abuse: np.ndarray) -> np.ndarray:
    """Mask of the events of normal users (users none of whose events is abuse).

    >>> normal_user_events(["n", "a", "a"], np.array([False, False, True])).tolist()
    [True, False, False]
    """
    abused = {user for user, is_abuse in zip(users, np.asarray(event_is_abuse, dtype=bool).tolist()) if is_abuse}
    return np.array([user not in abused for user in users], dtype=bool)


def tail_table(detector: str, normal_scaled: np.ndarray, knots: int = TAIL_KNOTS) -> TailTable:
    """Where a detector's scaled score lies among ``normal_scaled`` (normal events' scaled scores).

    >>> table = tail_table("velocity_rules", np.random.default_rng(0).exponential(1.0, 100_000))
    >>> [round(float(v), 1) for v in table.log_tail(np.array([0.0, np.log(10), np.log(1000), np.log(10**7)]))]
    [0.0, -1.0, -3.0, -6.8]
    """
    ordered = np.sort(np.asarray(normal_scaled, dtype=np.float64)[~np.isnan(normal_scaled)])
    n = len(ordered)
    if not n:
        raise ValueError(f"no normal scores to put {detector}'s tail on")
    counts = np.unique(np.round(np.logspace(0, np.log10(n), knots)).astype(np.int64))  # events at or above a knot
    values = np.unique(ordered[n - counts])
    shares = (n - np.searchsorted(ordered, values, side="left")) / n
    return TailTable(detector, tuple(float(v) for v in values), tuple(float(v) for v in np.log10(shares)))


def fit_tail_combiner(
    scores: Mapping[str, np.ndarray],
    event_is_abuse: np.ndarray,
    users: Sequence[str],
    alert_rate: float,
    mode: str = "min_tail",
    extra_normal: Mapping[str, np.ndarray] | None = None,
) -> ScoreCombiner:
    """A label-free combiner (``mode`` ``min_tail`` or ``fisher_tail``): tail tables from normal users'
    validation events, the threshold on their per-user maxima (``event_is_abuse`` only tells which users
    are normal; no weight is learned). ``extra_normal``: more normal events' scores per detector for its
    tail table, such as real shoppers' (the simulated normal users alone can make a real stranger look rare)."""
    names = tuple(scores)
    event_is_abuse = np.asarray(event_is_abuse, dtype=bool)
    normal = normal_user_events(users, event_is_abuse)
    transforms = tuple(TRANSFORMS.get(name, "logit") for name in names)
    extra_normal = extra_normal or {}
    tails = tuple(
        tail_table(n, transformed(np.r_[np.asarray(scores[n])[normal], np.asarray(extra_normal.get(n, []))], t))
        for n, t in zip(names, transforms)
    )
    combiner = ScoreCombiner(names, transforms, (1.0,) * len(names), 0.0, 0.5, mode=mode, tails=tails)
    threshold = calibrate_threshold(normal_user_maxima(combiner.combine(scores), users, event_is_abuse), alert_rate)
    return dataclasses.replace(combiner, threshold=threshold)
