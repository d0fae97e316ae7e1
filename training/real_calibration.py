"""Fitting the combiner's decision to real shoppers: a fixed rarity hinge and a threshold they respect.

The logistic weights (:mod:`shopguard.training.combiner_fitting`) are learned from injected abuse and
the threshold from simulated normal users, so (1) a family the labels never showed gets no weight, and
(2) real shoppers, who are not the simulator's, are alerted more often than the target. Two steps,
neither learned from abuse labels, fix this after the fit (:func:`calibrate_combiner`):

- **A fixed rarity hinge.** ``Hinge("rarity", knee, weight)`` with the knee at the logit of the rarity
  score that only the top ``RARITY_BUDGET_SHARE`` of the alert budget of real shoppers reach (per user,
  their highest score), and a weight so large that a rarity score of ``CLEAR_RARITY`` crosses the
  threshold on its own, whatever the other detectors say (their least favourable contribution). It is
  fixed, not learned: the labels cannot teach a weight for behaviour they never showed, but real
  shoppers tell how rare is rare, so a family no label showed still alerts when no real shopper
  behaves like it.
- **A threshold real shoppers respect.** Each real user's highest combined score (without the rarity
  hinge) is computed and the threshold raised, if needed, to the score that alerts at most
  ``(1 - RARITY_BUDGET_SHARE)`` of ``training.target_alert_rate`` of them; the other part of the budget
  is the hinge's. The fallback combiner (no pattern store) is treated the same way.

Both are fitted on one half of the real shoppers (every other user, :func:`user_halves`) and the share
alerted is reported on the other half, which the fit never saw (``alerted_share_held_out``), beside the
in-sample share on the half it was fitted on.

``shopguard train`` applies both to every new model; ``shopguard calibrate --model DIR`` applies them to an
existing folder without retraining anything. What was calibrated on is written into ``combiner.json``
(``real_shoppers``).

Example
-------
>>> base = ScoreCombiner(("velocity_rules", "rarity"), ("log1p", "logit"), (1.0, 0.0), -4.0, 0.5)
>>> rarity = np.r_[np.full(998, 0.5), 0.9, 0.99]
>>> tuned = with_real_threshold(base, {"velocity_rules": np.zeros(1000), "rarity": rarity}, np.arange(1000), 0.01)
>>> hinged = with_rarity_hinge(tuned, rarity, 0.01, bounds={"velocity_rules": (0.0, 3.0)})
>>> bool(hinged.combine({"velocity_rules": np.zeros(1), "rarity": np.array([CLEAR_RARITY])})[0] >= hinged.threshold)
True
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from shopguard.udfs.score_combiner import COMBINER_FILE, PATTERN_DETECTOR, Hinge, ScoreCombiner, transformed

RARITY = "rarity"
RARITY_BUDGET_SHARE = 0.5  # of the real-shopper alert budget left to the rarity hinge; the rest to the threshold
CLEAR_RARITY = 0.99999  # a rarity score this high alerts on its own
_LOGIT_BOUND = float(np.log((1 - 1e-7) / 1e-7))  # the combiner clips probabilities to [1e-7, 1 - 1e-7]


def per_user_max(values: np.ndarray, users: Sequence) -> np.ndarray:
    """Each user's highest value (users in any order).

    >>> per_user_max(np.array([1.0, 3.0, 2.0]), ["a", "b", "a"]).tolist()
    [2.0, 3.0]
    """
    _, index = np.unique(np.asarray(users), return_inverse=True)
    best = np.full(index.max() + 1 if len(index) else 0, -np.inf)
    np.fmax.at(best, index, np.asarray(values, dtype=np.float64))
    return best


def threshold_for_share(user_maxima: np.ndarray, share: float) -> float:
    """The lowest threshold at which at most ``share`` of these users score ``>=`` it."""
    ordered = np.sort(user_maxima)[::-1]
    allowed = int(np.floor(share * len(ordered)))
    return float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else float(ordered[-1])


def _without_rarity_hinge(combiner: ScoreCombiner) -> ScoreCombiner:
    hinges = tuple(h for h in combiner.hinges if h.detector != RARITY)
    fallback = _without_rarity_hinge(combiner.fallback) if combiner.fallback else None
    return dataclasses.replace(combiner, hinges=hinges, fallback=fallback)


def with_real_threshold(
    combiner: ScoreCombiner, scores: Mapping[str, np.ndarray], users: Sequence, alert_rate: float
) -> ScoreCombiner:
    """``combiner`` (and its fallback) with the threshold raised so that at most ``(1 - RARITY_BUDGET_SHARE)``
    of ``alert_rate`` of these real users reach it with their highest score (a rarity hinge left out)."""
    plain = _without_rarity_hinge(combiner)
    share = alert_rate * (1 - RARITY_BUDGET_SHARE)
    real = threshold_for_share(per_user_max(plain.combine(scores), users), share)
    fallback = combiner.fallback
    if fallback is not None:
        fallback = with_real_threshold(fallback, {n: scores[n] for n in fallback.detectors}, users, alert_rate)
    return dataclasses.replace(combiner, threshold=max(combiner.threshold, real), fallback=fallback)


def _least_favourable_logit(combiner: ScoreCombiner, bounds: Mapping[str, tuple[float, float]]) -> float:
    """The lowest logit every detector but rarity can give (its scaled score within ``bounds``; logits clipped)."""
    total = combiner.intercept
    hinges = {h.detector: h for h in combiner.hinges if h.detector != RARITY}
    for name, transform, weight in zip(combiner.detectors, combiner.transforms, combiner.weights):
        if name == RARITY:
            continue
        low, high = bounds.get(name, (-_LOGIT_BOUND, _LOGIT_BOUND) if transform == "logit" else (0.0, 1.0))
        candidates = [
            weight * v + (hinges[name].term(np.array([v]))[0] if name in hinges else 0.0) for v in (low, high)
        ]
        if name in hinges and low < hinges[name].knee < high:
            candidates.append(weight * hinges[name].knee)
        total += min(candidates)
    return float(total)


def with_rarity_hinge(
    combiner: ScoreCombiner,
    real_rarity: np.ndarray,
    alert_rate: float,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> ScoreCombiner:
    """``combiner`` (and its fallback) with the fixed rarity hinge (see the module's docstring).

    ``real_rarity``: each real user's highest rarity score; ``bounds``: the scaled range of a detector whose
    transform is unbounded (``log1p``), by default 0 to 1."""
    if RARITY not in combiner.detectors:
        return combiner
    bounds = bounds or {}
    quantile = 1 - alert_rate * RARITY_BUDGET_SHARE
    knee = float(transformed(np.quantile(np.asarray(real_rarity, dtype=np.float64), quantile), "logit"))
    clear = float(transformed(np.array(CLEAR_RARITY), "logit"))
    needed = np.log(combiner.threshold / (1 - combiner.threshold)) - _least_favourable_logit(combiner, bounds)
    linear = combiner.weights[combiner.detectors.index(RARITY)] * clear
    weight = max(0.0, (needed - linear) / max(clear - knee, 1e-3)) * 1.01  # a margin for rounding
    plain = _without_rarity_hinge(combiner)
    fallback = with_rarity_hinge(combiner.fallback, real_rarity, alert_rate, bounds) if combiner.fallback else None
    return dataclasses.replace(plain, hinges=plain.hinges + (Hinge(RARITY, knee, float(weight)),), fallback=fallback)


def alerted_share(combiner: ScoreCombiner, scores: Mapping[str, np.ndarray], users: Sequence, patterns=None) -> float:
    """The share of these users with an event at the job's threshold for it (the fallback's with no pattern score).
    ``patterns``: each event's pattern score, by default the one in ``scores`` (none there: every event has one)."""
    if patterns is None:
        patterns = scores.get(PATTERN_DETECTOR, np.zeros(len(users)))
    combined = combiner.combine(scores)
    thresholds = combiner.threshold_for(np.asarray(patterns, dtype=np.float64))
    return float(np.mean(per_user_max((combined >= thresholds).astype(np.float64), users) > 0))


def user_halves(users: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Event masks of two halves of the users: every other user (in sorted order) and the rest.

    >>> [m.tolist() for m in user_halves(["b", "a", "c", "b"])]
    [[False, True, True, False], [True, False, False, True]]
    """
    names, index = np.unique(np.asarray(users), return_inverse=True)
    first = (np.arange(len(names)) % 2 == 0)[index]
    return first, ~first


def user_part(scores: Mapping[str, np.ndarray], users: Sequence, mask: np.ndarray) -> tuple[dict, np.ndarray]:
    """The events of ``mask`` (one of :func:`user_halves`): their scores per detector and their users."""
    return {n: np.asarray(v)[mask] for n, v in scores.items()}, np.asarray(users)[mask]


def real_halves(
    scores: Mapping[str, np.ndarray], users: Sequence, names: Iterable[str] | None = None
) -> tuple[tuple[dict, np.ndarray], tuple[dict, np.ndarray]]:
    """Real shoppers' ``scores`` (of ``names``, by default every detector) and their users, as the half a
    decision is fitted on and the half held out (:func:`user_halves`, :func:`user_part`).

    >>> fitted, held = real_halves({"rarity": np.array([0.1, 0.2, 0.3])}, ["a", "b", "a"])
    >>> fitted[0]["rarity"].tolist(), held[1].tolist()
    ([0.1, 0.3], ['b'])
    """
    chosen = scores if names is None else {n: scores[n] for n in names}
    fitted, held = (user_part(chosen, users, half) for half in user_halves(users))
    return fitted, held


def real_summary(
    combiner: ScoreCombiner, fitted: tuple, held: tuple, alert_rate: float, before: ScoreCombiner | None = None
) -> dict:
    """What a decision was fitted on (``fitted``, ``held``: :func:`real_halves`) and the share of each half of
    real shoppers ``combiner`` alerts, as ``combiner.json`` records it under ``real_shoppers``; ``before``: the
    decision it replaces, whose share of the held-out half is recorded too (``alerted_share_before``)."""
    (fit_scores, fit_users), (held_scores, held_users) = fitted, held
    summary = {
        "users": int(len(np.unique(fit_users))),
        "events": int(len(fit_users)),
        "held_out_users": int(len(np.unique(held_users))),
        "target_alert_rate": alert_rate,
    }
    if before is not None:
        summary["alerted_share_before"] = alerted_share(before, held_scores, held_users)
    return summary | {
        "alerted_share_held_out": alerted_share(combiner, held_scores, held_users),
        "alerted_share_fitted_half": alerted_share(combiner, fit_scores, fit_users),
    }


def calibrate_combiner(
    combiner: ScoreCombiner, scores: Mapping[str, np.ndarray], users: Sequence, alert_rate: float
) -> tuple[ScoreCombiner, dict]:
    """Both steps fitted on one half of the real shoppers' ``scores`` (per event, every detector), and the
    share alerted on the other half (held out) and on the fitted half, before and after."""
    fitted, held = real_halves(scores, users)
    fit_scores, fit_users = fitted
    tuned = with_real_threshold(combiner, fit_scores, fit_users, alert_rate)
    real_rarity = per_user_max(fit_scores[RARITY], fit_users) if RARITY in fit_scores else np.zeros(0)
    velocity = transformed(fit_scores.get("velocity_rules", np.zeros(1)), "log1p")
    tuned = with_rarity_hinge(tuned, real_rarity, alert_rate, {"velocity_rules": (0.0, float(velocity.max()))})
    summary = real_summary(tuned, fitted, held, alert_rate, before=combiner) | {
        "rarity_budget_share": RARITY_BUDGET_SHARE,
        "clear_rarity": CLEAR_RARITY,
    }
    return tuned, summary


def real_shopper_scores(
    cfg, folder: Path, progress: Callable[[str], None] = print, new_account: bool = False
) -> tuple[dict, list]:
    """Every job detector of ``folder`` (its own pattern store) on the real Taobao slice, and each event's user
    (``new_account`` too when the folder's combiner has it, or when asked for)."""
    from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
    from shopguard.training.encoded_traffic import encode_traffic
    from shopguard.training.ensemble_training import job_detectors
    from shopguard.training.evaluation_data import real_events
    from shopguard.training.labelled_traffic import LabelledTraffic
    from shopguard.udfs.detector_ensemble import NEXT_EVENT_FOLDER

    progress("encoding the real Taobao slice")
    traffic = encode_traffic(LabelledTraffic(real_events(cfg), []), cfg.job.history_length, cfg.job)
    next_event = OnnxSequenceDetector(folder / NEXT_EVENT_FOLDER, name="next_event")
    scores = {}
    for detector, _ in job_detectors(cfg, folder, next_event, False, folder) + _more_detectors(folder, new_account):
        progress(f"scoring real shoppers with {detector.name}")
        scores[detector.name] = np.asarray(detector.score(traffic), dtype=np.float64)
    return scores, list(traffic.user_ids)


def _more_detectors(folder: Path, new_account: bool = False) -> list:
    """Detectors a combiner may hold beyond ``job_detectors``: ``new_account`` when the folder's combiner has it
    (or ``new_account`` asks for it)."""
    from shopguard.training.detectors.new_account import NewAccountDetector

    combiner = ScoreCombiner.read(folder)
    wanted = new_account or (combiner is not None and "new_account" in combiner.detectors)
    return [(NewAccountDetector.for_folder(folder), False)] if wanted else []


def calibrate_folder(cfg, folder: str | Path, progress: Callable[[str], None] = print) -> dict:
    """Apply both steps to ``folder``'s ``combiner.json`` on half of the real Taobao slice, and report the
    share alerted on the other half (nothing is retrained)."""
    from shopguard.errors import ShopguardError

    folder = Path(folder)
    combiner = ScoreCombiner.read(folder)
    if combiner is None:
        raise ShopguardError(f"{folder}: no {COMBINER_FILE} to calibrate; train the folder with `shopguard train`")
    if combiner.mode != "logistic":
        raise ShopguardError(
            f"{folder}: its {COMBINER_FILE} is a {combiner.mode} decision, not the logistic one this calibration "
            "tunes; fit it again with `shopguard calibrate --decision fisher_real`, or train the folder again"
        )
    combiner = _without_rarity_hinge(combiner)
    scores, users = real_shopper_scores(cfg, folder, progress)
    tuned, summary = calibrate_combiner(combiner, scores, users, cfg.training.target_alert_rate)
    path = tuned.write(folder)
    body = json.loads(path.read_text())
    path.write_text(json.dumps(body | {"real_shoppers": summary}, indent=2) + "\n")
    progress(
        f"{path}: threshold {tuned.threshold:.6f}, rarity hinge {tuned.hinges[-1] if tuned.hinges else None}; "
        f"fitted on {summary['users']:,} real shoppers; of the other {summary['held_out_users']:,} (held out) "
        f"alerted {summary['alerted_share_before']:.4%} -> {summary['alerted_share_held_out']:.4%} "
        f"(the fitted half: {summary['alerted_share_fitted_half']:.4%})"
    )
    return summary
