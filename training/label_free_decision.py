"""A candidate decision learned from no abuse label, with a threshold real shoppers respect: ``min_tail_real``.

The label-free ``min_tail`` combination (:mod:`shopguard.udfs.score_combiner`) ranks the families that the
unseen-family evaluation leaves out better than the logistic fits do (docs/detection.md, "Unseen families"),
so it is judged there beside the shipped decision as the operating point it would ship at:

- **Tails.** Every detector given, ``new_account`` included: the normal events of the validation period
  (simulated returning shoppers) and the real Taobao shoppers of the calibration half
  (:func:`~shopguard.training.real_calibration.user_halves`), so that what is common among real shoppers is
  not rare.
- **Threshold.** The one that alerts ``alert_rate`` of the validation period's normal users, raised if needed
  so that at most ``alert_rate`` of the calibration half of real shoppers reach it with their highest event.
- **Measured.** The share of the other half of real shoppers, which the fit never saw, that it alerts
  (``alerted_share_held_out``), beside the fitted half's.

It is not what ``shopguard train`` ships (:mod:`shopguard.training.real_calibration` is): docs/detection.md,
"One decision", says why.

Example
-------
>>> rng = np.random.default_rng(0)
>>> scores = {"velocity_rules": rng.exponential(size=400)}
>>> users = [f"u{i % 200}" for i in range(400)]
>>> real = ({"velocity_rules": rng.exponential(size=300)}, [f"r{i % 100}" for i in range(300)])
>>> combiner, summary = fit_decision(scores, np.zeros(400, dtype=bool), users, 0.01, real)
>>> combiner.mode, summary["users"], summary["held_out_users"], summary["alerted_share_fitted_half"] <= 0.01
('min_tail', 50, 50, True)
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from shopguard.training.combiner_fitting import fit_tail_combiner
from shopguard.training.real_calibration import alerted_share, per_user_max, threshold_for_share, user_halves
from shopguard.udfs.score_combiner import PATTERN_DETECTOR, ScoreCombiner

MODE = "min_tail"


def fit_decision(
    scores: Mapping[str, np.ndarray],
    event_is_abuse: np.ndarray,
    users: Sequence,
    alert_rate: float,
    real: tuple[Mapping[str, np.ndarray], Sequence] | None = None,
) -> tuple[ScoreCombiner, dict]:
    """The decision from the validation period's ``scores`` (per detector, per event; ``event_is_abuse``
    tells only which users are normal) and ``real`` shoppers' scores and users (see the module docstring);
    what was fitted on and the real shares alerted (empty without ``real``)."""
    if real is None:
        return fit_tail_combiner(scores, event_is_abuse, users, alert_rate, mode=MODE), {}
    real_scores, real_users = real
    fitted_half, held_half = user_halves(real_users)
    fit_scores, fit_users = _part(real_scores, real_users, fitted_half, scores)
    held_scores, held_users = _part(real_scores, real_users, held_half, scores)
    combiner = fit_tail_combiner(scores, event_is_abuse, users, alert_rate, mode=MODE, extra_normal=fit_scores)
    real_threshold = threshold_for_share(per_user_max(combiner.combine(fit_scores), fit_users), alert_rate)
    combiner = dataclasses.replace(combiner, threshold=max(combiner.threshold, real_threshold))
    summary = {
        "decision": MODE,
        "users": int(len(np.unique(fit_users))),
        "events": int(len(fit_users)),
        "held_out_users": int(len(np.unique(held_users))),
        "target_alert_rate": alert_rate,
        "alerted_share_held_out": _alerted(combiner, held_scores, held_users),
        "alerted_share_fitted_half": _alerted(combiner, fit_scores, fit_users),
    }
    return combiner, summary


def _part(
    scores: Mapping[str, np.ndarray], users: Sequence, mask: np.ndarray, names: Mapping[str, np.ndarray]
) -> tuple[dict, np.ndarray]:
    return {n: np.asarray(scores[n])[mask] for n in names}, np.asarray(users)[mask]


def _alerted(combiner: ScoreCombiner, scores: Mapping[str, np.ndarray], users: np.ndarray) -> float:
    return alerted_share(combiner, scores, users, scores.get(PATTERN_DETECTOR, np.zeros(len(users))))
