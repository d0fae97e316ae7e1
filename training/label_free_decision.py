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
"One decision", says why: the LSTM's tail, fitted where simulated normal users also reach its top scores, says
too little, and detectors already calibrated on real populations were re-tailed on simulated events.

``fisher_real`` (:func:`fit_fisher_real`) is the candidate that answers both: Fisher's method over tails
anchored on real populations, or the rarest detector's tail where that is stronger (mode ``fisher_min_tail``:
pooled alone, one detector's certainty is diluted by the others), at the same kind of threshold.
``shopguard calibrate --model DIR --decision fisher_real`` writes it without the LSTM into a model folder
(:func:`calibrate_fisher_real`).

- **Own tails** for the detectors whose score already is a tail among real populations: ``rarity`` (a
  p-value among real shoppers, :data:`OWN_TAILS`) and ``new_account`` (decades among Fraud_Data's real
  accounts); no table fitted on simulated events re-tails them.
- **The LSTM, capped.** Learned from the injectors, it may add evidence but not decide: its tail table is
  fitted on the calibration half of real shoppers only (so simulated normal users at its top do not flatten
  it) and floored at :data:`LSTM_DECADES` decades. ``with_lstm=False`` leaves it out altogether.
- **The rest** (next_event, user_patterns, velocity_rules: they learn no label, but their scales are not
  calibrated): tail tables of the validation period's normal events and the calibration half of real shoppers.
- **Threshold.** The one that at most ``alert_rate`` of the calibration half of real shoppers reach with their
  highest event, raised if needed to the one at ``alert_rate`` of the validation period's normal users: the
  real Taobao slice holds two hours (one or two events a user), and a threshold set on it alone alerts
  returning shoppers with longer histories far more often (they have more events to be rare at).

Example
-------
>>> rng = np.random.default_rng(0)
>>> scores = {"velocity_rules": rng.exponential(size=400)}
>>> users = [f"u{i % 200}" for i in range(400)]
>>> real = ({"velocity_rules": rng.exponential(size=300)}, [f"r{i % 100}" for i in range(300)])
>>> combiner, summary = fit_decision(scores, np.zeros(400, dtype=bool), users, 0.01, real)
>>> combiner.mode, summary["users"], summary["held_out_users"], summary["alerted_share_fitted_half"] <= 0.01
('min_tail', 50, 50, True)
>>> fisher, summary = fit_fisher_real(scores, np.zeros(400, dtype=bool), users, 0.01, real)
>>> fisher.mode, summary["decision"], summary["alerted_share_fitted_half"] <= 0.01
('fisher_min_tail', 'fisher_real', True)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from shopguard.training.combiner_fitting import (
    TRANSFORMS,
    fit_tail_combiner,
    normal_user_events,
    normal_user_maxima,
    tail_table,
)
from shopguard.training.detection_metrics import calibrate_threshold
from shopguard.training.real_calibration import per_user_max, real_halves, real_summary, threshold_for_share
from shopguard.training.returning_data import ReturningData
from shopguard.udfs.score_combiner import COMBINER_FILE, ScoreCombiner, TailTable, transformed

MODE = "min_tail"
FISHER_REAL = "fisher_real"
FISHER_MODE = "fisher_min_tail"  # Fisher's pooled tail or the rarest detector's, whichever is stronger
OWN_TAILS = {"rarity": "p_value", "new_account": "decades"}  # scores that already are tails among real populations
LSTM = "lstm"
LSTM_DECADES = 2.0  # the most the LSTM (learned from the injectors) may say alone: one real event in a hundred


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
    fitted, held = real_halves(*real, scores)
    combiner = fit_tail_combiner(scores, event_is_abuse, users, alert_rate, mode=MODE, extra_normal=fitted[0])
    real_threshold = threshold_for_share(per_user_max(combiner.combine(fitted[0]), fitted[1]), alert_rate)
    combiner = dataclasses.replace(combiner, threshold=max(combiner.threshold, real_threshold))
    return combiner, {"decision": MODE} | real_summary(combiner, fitted, held, alert_rate)


def fit_fisher_real(
    scores: Mapping[str, np.ndarray],
    event_is_abuse: np.ndarray,
    users: Sequence,
    alert_rate: float,
    real: tuple[Mapping[str, np.ndarray], Sequence],
    with_lstm: bool = True,
    lstm_decades: float = LSTM_DECADES,
) -> tuple[ScoreCombiner, dict]:
    """``fisher_real`` (see the module docstring) from the validation period's ``scores`` (per detector, per
    event; ``event_is_abuse`` tells only which users are normal) and ``real`` shoppers' scores and users (the
    LSTM's among them, when it is combined); what it was fitted on and the real shares alerted."""
    names = tuple(n for n in scores if with_lstm or n != LSTM)
    fitted, held = real_halves(*real, names)
    fit_scores, fit_users = fitted
    normal = normal_user_events(users, event_is_abuse)
    transforms = tuple(TRANSFORMS.get(n, "logit") for n in names)
    tails = []
    for name, transform in zip(names, transforms):
        if name in OWN_TAILS:
            tails.append(TailTable(name, (), (), own=OWN_TAILS[name]))
        elif name == LSTM:
            table = tail_table(name, transformed(fit_scores[name], transform))
            tails.append(dataclasses.replace(table, floor=-lstm_decades))
        else:
            pooled = np.r_[np.asarray(scores[name])[normal], fit_scores[name]]
            tails.append(tail_table(name, transformed(pooled, transform)))
    combiner = ScoreCombiner(names, transforms, (1.0,) * len(names), 0.0, 0.5, mode=FISHER_MODE, tails=tuple(tails))
    real_threshold = threshold_for_share(per_user_max(combiner.combine(fit_scores), fit_users), alert_rate)
    simulated_maxima = normal_user_maxima(combiner.combine(scores), users, event_is_abuse)
    simulated = calibrate_threshold(simulated_maxima, alert_rate)
    combiner = dataclasses.replace(combiner, threshold=max(real_threshold, simulated))
    summary = {
        "decision": FISHER_REAL,
        "real_threshold": real_threshold,
        "simulated_threshold": simulated,
        "with_lstm": with_lstm,
        "lstm_decades": lstm_decades if with_lstm else None,
    } | real_summary(combiner, fitted, held, alert_rate)
    summary["alerted_share_simulated_normal"] = float(np.mean(simulated_maxima >= combiner.threshold))
    return combiner, summary


def write_fisher_real(
    folder: str | Path,
    scores: Mapping[str, np.ndarray],
    event_is_abuse: np.ndarray,
    users: Sequence,
    alert_rate: float,
    real: tuple[Mapping[str, np.ndarray], Sequence],
    with_lstm: bool = False,
) -> tuple[ScoreCombiner, dict]:
    """:func:`fit_fisher_real` written into ``folder``'s ``combiner.json``, what it was fitted on under
    ``real_shoppers`` (as :func:`~shopguard.training.real_calibration.calibrate_folder` records it), and the
    share of the validation period's normal users it alerts in the summary."""
    combiner, summary = fit_fisher_real(scores, event_is_abuse, users, alert_rate, real, with_lstm=with_lstm)
    path = combiner.write(Path(folder))
    path.write_text(json.dumps(json.loads(path.read_text()) | {"real_shoppers": summary}, indent=2) + "\n")
    return combiner, summary


def calibrate_fisher_real(
    cfg, folder: str | Path, progress: Callable[[str], None] = print, returning: ReturningData | None = None
) -> dict:
    """``shopguard calibrate --decision fisher_real``: ``folder``'s ``combiner.json`` replaced by ``fisher_real``
    without the LSTM, fitted on the folder's detectors: the validation period of simulated returning shoppers
    (patterns mined again, as ``shopguard evaluate`` scores it) and the real Taobao slice scored with the folder's
    own pattern store (as the job and ``shopguard calibrate`` score it). Nothing is retrained. ``returning``: the
    returning shoppers of ``cfg`` when the caller has built them already (``shopguard train``), else built here."""
    from shopguard.training.ensemble_training import score_with_folder, with_new_account
    from shopguard.training.real_calibration import real_shopper_scores
    from shopguard.training.returning_data import build_returning_data

    folder = Path(folder)
    returning = returning if returning is not None else build_returning_data(cfg, progress)
    periods = with_new_account(score_with_folder(cfg, returning, folder, progress), folder, returning)
    validation = {name: np.asarray(p.validation, dtype=np.float64) for name, p in periods.items() if name != LSTM}
    real_scores, real_users = real_shopper_scores(cfg, folder, progress, new_account=True)
    progress("fitting fisher_real (without the LSTM)")
    combiner, summary = write_fisher_real(
        folder,
        validation,
        returning.validation.event_is_abuse,
        returning.validation.user_ids,
        cfg.training.target_alert_rate,
        (real_scores, real_users),
    )
    progress(
        f"{folder / COMBINER_FILE}: fisher_real over {', '.join(combiner.detectors)}, threshold "
        f"{combiner.threshold:.6f} ({combiner.threshold / (1 - combiner.threshold):.2f} decades); fitted on "
        f"{summary['users']:,} real shoppers; of the other {summary['held_out_users']:,} (held out) alerted "
        f"{summary['alerted_share_held_out']:.4%} (the fitted half: {summary['alerted_share_fitted_half']:.4%}); "
        f"simulated normal users of the validation period alerted {summary['alerted_share_simulated_normal']:.4%}"
    )
    return summary
