"""Leave one family out: how well the detection catches abuse that nothing in it was fitted on.

Training and test abuse come from the same injectors, so a model judged on them is rewarded for
learning each injector's fingerprint. Here every part that learns from abuse labels is fitted again
without one family (its blunt and its subtle variant) and judged on that family alone:

- the LSTM and its type head, on the one-visit training split minus that family's users (smaller and
  for fewer epochs than ``shopguard train``: :class:`UnseenPlan`),
- the combiner, on the returning shoppers' validation period minus that family's users, once as the
  logistic decision ``shopguard train`` writes with ``training.decision = "logistic"`` (``logistic_real``: the
  logistic fit, then fitted to real shoppers by
  :func:`~shopguard.training.real_calibration.calibrate_combiner` on the calibration half of the real
  Taobao users, scored with the fold's own LSTM), once as the bare logistic fit, once as each
  label-free combination (``min_tail``, ``fisher_tail``:
  :func:`~shopguard.training.combiner_fitting.fit_tail_combiner`), and once as the label-free candidate at
  its real-shopper threshold (``min_tail_real``: :func:`~shopguard.training.label_free_decision.fit_decision`),
  and as Fisher's method over tails anchored on real populations at its real-shopper threshold, with the LSTM
  capped and without it (``fisher_real``, ``fisher_real_no_lstm``:
  :func:`~shopguard.training.label_free_decision.fit_fisher_real`; without real shoppers the validation
  period's normal users stand in for them), and its threshold.

Detectors that learn no labels (the next-event model, the user patterns, the velocity rules, and any
other detector in ``job_detectors`` such as ``rarity``, and ``new_account``: :func:`with_new_account`) are
scored once and reused in every fold. ``new_account`` learns no weight: a fixed hinge on the logistic fits
(:func:`~shopguard.training.new_account_calibration.with_new_account_hinge`), one more tail table in the
label-free ones. ``entities`` is not scored here: encoded traffic keeps no device or IP.
The test is the returning shoppers' test period: every normal user (those abused in validation left
out, as in the ablation) and the left-out family's users. The *seen* figures come from the same
set-up with every family in training (fold ``None``), so that the two columns differ only by what
was left out.

Example
-------
>>> figures = family_figures(_tiny_test(), np.r_[np.linspace(0, 1, 200), [2.0, 0.5]], "bot", threshold=0.99)
>>> figures["abused_users"], figures["recall_at_0.1pct_fpr"], figures["recall_blunt"], figures["recall_subtle"]
(2, 0.5, 1.0, 0.0)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch

from shopguard.training.ablation import PeriodScores
from shopguard.training.anomalies import ANOMALY_TYPES, NOT_MEASURABLE
from shopguard.training.combiner_fitting import fit_combiner, fit_tail_combiner, normal_user_maxima
from shopguard.training.detection_metrics import (
    INTERVAL_RESAMPLES,
    TARGET_FPR,
    calibrate_threshold,
    pr_auc_interval,
    recall_interval_at_fpr,
    user_scores,
)
from shopguard.training.detectors.new_account import NewAccountDetector
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.ensemble_training import NEW_ACCOUNT
from shopguard.training.label_free_decision import fit_decision, fit_fisher_real
from shopguard.training.lstm_model import TYPE_CLASSES, SequenceModelConfig
from shopguard.training.new_account_calibration import with_new_account_hinge
from shopguard.training.real_calibration import calibrate_combiner, user_halves
from shopguard.training.returning_data import ReturningData, validation_abused_users
from shopguard.training.train_lstm import TrainingRun, predict_scores, train_sequence_model
from shopguard.udfs.score_combiner import ScoreCombiner, transformed

LSTM = "lstm"
COMBINERS = (
    "logistic_real",
    "logistic",
    "min_tail",
    "min_tail_real",
    "fisher_tail",
    "fisher_real",
    "fisher_real_no_lstm",
)
LOGISTIC_REAL = "logistic_real"  # the logistic fit, then fitted to real shoppers (training/real_calibration.py)
MIN_TAIL_REAL = "min_tail_real"  # the label-free candidate at its real-shopper threshold (label_free_decision.py)
FISHER_REAL = ("fisher_real", "fisher_real_no_lstm")  # Fisher over real-anchored tails, the LSTM capped / left out
DECISION_ROWS = {"logistic": LOGISTIC_REAL, "fisher_real": "fisher_real_no_lstm"}
"""The row of each ``training.decision``: what ``shopguard train`` writes, and the headline of the report."""
TARGETS = {"blunt_recall": 0.80, "subtle_recall": 0.50, "mean_pr_auc": 0.85, "seen_pr_auc": 0.91}


@dataclass(frozen=True)
class RealShoppers:
    """Real shoppers (the Taobao slice) and every job detector's scores on them (``lstm``: the model folder's).

    Half of them (every other user) fit the shipped decision to real shoppers and join the normal
    reference of the label-free combiners' tail tables (simulated returning shoppers all have a history,
    so a real stranger would look rare to the pattern detector). The other half measures how many real
    shoppers each combiner of the seen fold alerts.
    """

    traffic: EncodedTraffic
    scores: Mapping[str, np.ndarray]

    def halves(self) -> tuple[np.ndarray, np.ndarray]:
        """Event masks of the calibration half and the measured half (the halves ``shopguard calibrate`` uses)."""
        return user_halves(self.traffic.user_ids)


@dataclass(frozen=True)
class UnseenPlan:
    """What each fold trains: the families left out in turn and the per-fold LSTM's size."""

    families: tuple[str, ...] = ANOMALY_TYPES
    epochs: int = 2  # shopguard train: 6
    hidden: int = 32  # shopguard train: 64
    seed: int = 0
    resamples: int = INTERVAL_RESAMPLES  # of each bootstrap interval
    normal_share: float = 0.25  # of the normal one-visit users the per-fold LSTM trains on (every abused one kept)


def leave_one_family_out(
    train: EncodedTraffic,
    validation: EncodedTraffic,
    returning: ReturningData,
    label_free: Mapping[str, PeriodScores],
    alert_rate: float,
    plan: UnseenPlan = UnseenPlan(),
    chosen: str = LOGISTIC_REAL,
    progress: Callable[[str], None] = print,
    real: RealShoppers | None = None,
) -> dict:
    """Every family left out in turn (and none, for the seen figures); figures per family and combiner.

    ``train``/``validation``: the one-visit splits the LSTM learns from; ``label_free``: the returning
    periods' scores of every detector that learns no labels (reused in every fold); ``chosen``: the
    combiner whose figures are the headline (the decision ``shopguard train`` writes: :data:`DECISION_ROWS`);
    ``real``: real shoppers (see :class:`RealShoppers`); without them ``logistic_real`` is the bare logistic fit.
    """
    calibration, measured = real.halves() if real is not None else (None, None)
    extra_normal = {n: np.asarray(v)[calibration] for n, v in real.scores.items() if n != LSTM} if real else None
    excluded = validation_abused_users(returning)
    test_keep = np.array([u not in excluded for u in returning.test.user_ids])
    test = returning.test.subset(test_keep)
    folds: dict[str, dict] = {}
    for n, left_out in enumerate((None, *plan.families), start=1):
        started = time.monotonic()
        name = left_out or "none (seen)"
        progress(f"unseen families: fold {n}/{len(plan.families) + 1}, left out: {name}")
        lstm, real_lstm = _fold_lstm(train, validation, returning, left_out, plan, progress, real)
        scores = {**label_free, LSTM: lstm}
        real_scores = {**real.scores, LSTM: real_lstm} if real is not None else None
        real_fit = (real_scores, real.traffic.user_ids) if real is not None else None
        combiners = _fold_combiners(scores, returning.validation, left_out, alert_rate, extra_normal, real_fit)
        judged = plan.families if left_out is None else (left_out,)
        folds[name] = {
            "families": {
                family: _family_row(test, test_keep, scores, combiners, family, plan.resamples) for family in judged
            },
            "combined_pr_auc": _overall_pr_auc(test, test_keep, scores, combiners) if left_out is None else None,
            "real_alert_share": (
                _real_alert_share(real, real_scores, measured, combiners)
                if left_out is None and real is not None
                else None
            ),
            "real_alert_share_alone": (
                _real_alert_share_alone(real, real_scores, measured, scores, returning.validation, alert_rate)
                if left_out is None and real is not None
                else None
            ),
            "past_rarity_knee": _past_rarity_knee(test, test_keep, scores, combiners[LOGISTIC_REAL])
            if left_out is None
            else None,
        }
        progress(f"  fold {name}: {time.monotonic() - started:.0f} s")
    return _summary(folds, plan, chosen)


def score_real_shoppers(
    cfg, folder, returning: ReturningData, real_traffic: EncodedTraffic, progress: Callable[[str], None] = print
) -> RealShoppers:
    """Every job detector of the model ``folder`` on real shoppers (patterns mined again from the returning
    shoppers' history into a temporary store)."""
    import tempfile
    from pathlib import Path

    from shopguard.training.detectors.next_event import NextEventDetector
    from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
    from shopguard.training.ensemble_training import job_detectors, strangers_reference
    from shopguard.udfs.detector_ensemble import NEXT_EVENT_FOLDER

    folder = Path(folder)
    if (folder / NEXT_EVENT_FOLDER).is_dir():
        next_event, needs_fit = OnnxSequenceDetector(folder / NEXT_EVENT_FOLDER, name="next_event"), False
    else:
        next_event, needs_fit = NextEventDetector(progress=progress), True
    scores = {}
    with tempfile.TemporaryDirectory(prefix="shopguard-patterns-") as store_dir:
        reference = strangers_reference(cfg, returning, real_traffic)
        for detector, fit_on_history in job_detectors(cfg, folder, next_event, needs_fit, store_dir, reference):
            progress(f"scoring real shoppers with {detector.name}")
            if fit_on_history:
                detector.fit(returning.history)
            scores[detector.name] = detector.score(real_traffic)
    scores[NEW_ACCOUNT] = NewAccountDetector.for_folder(folder).score(real_traffic)
    return RealShoppers(real_traffic, scores)


def _fold_lstm(
    train: EncodedTraffic,
    validation: EncodedTraffic,
    returning: ReturningData,
    left_out: str | None,
    plan: UnseenPlan,
    progress: Callable[[str], None],
    real: RealShoppers | None = None,
) -> tuple[PeriodScores, np.ndarray | None]:
    """A small LSTM trained without ``left_out``'s users, scoring the returning validation and test periods
    (and the real shoppers, if given)."""
    model = train_sequence_model(
        _without(_known(_thinned(train, plan.normal_share, plan.seed)), left_out),
        _without(_known(validation), left_out),
        SequenceModelConfig(hidden=plan.hidden),
        TrainingRun(epochs=plan.epochs, seed=plan.seed, threads=1),  # two threads crawl on a busy machine
        lambda message: progress(f"  {message}"),
    )
    periods = PeriodScores(*(_predict(model, part) for part in (returning.validation, returning.test)))
    return periods, _predict(model, real.traffic) if real is not None else None


def _predict(model, traffic: EncodedTraffic, chunk: int = 20_000) -> np.ndarray:
    parts = [
        predict_scores(model, torch.from_numpy(traffic.features(start, start + chunk)))
        for start in range(0, len(traffic), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _thinned(traffic: EncodedTraffic, normal_share: float, seed: int) -> EncodedTraffic:
    """``traffic`` with every abused user and about ``normal_share`` of the normal users (chosen by user)."""
    if normal_share >= 1.0:
        return traffic
    users = sorted(set(traffic.user_ids))
    kept = {u for u, draw in zip(users, np.random.default_rng(seed).random(len(users))) if draw < normal_share}
    return traffic.subset(np.array([bool(k) or u in kept for u, k in zip(traffic.user_ids, traffic.user_types)]))


def _known(traffic: EncodedTraffic) -> EncodedTraffic:
    """``traffic`` without users of a type the LSTM's type head does not know (account sharing)."""
    known = set(TYPE_CLASSES)
    return traffic.subset(np.array([not kind or kind in known for kind in traffic.user_types], dtype=bool))


def _without(traffic: EncodedTraffic, family: str | None) -> EncodedTraffic:
    """``traffic`` without the users abused by ``family`` (all of it for ``None``)."""
    if family is None:
        return traffic
    return traffic.subset(np.array([kind != family for kind in traffic.user_types], dtype=bool))


def _real_alert_share(
    real: RealShoppers,
    real_scores: Mapping[str, np.ndarray],
    measured: np.ndarray,
    combiners: Mapping[str, ScoreCombiner],
) -> dict[str, float]:
    """Per combiner: the share of the measured half of real shoppers whose highest score reaches its threshold
    (``real_scores``: every detector's on ``real``, the LSTM the fold's)."""
    traffic = real.traffic.subset(measured)
    scores = {name: np.asarray(values)[measured] for name, values in real_scores.items()}
    shares = {}
    for name, combiner in combiners.items():
        per_user = user_scores(traffic, combiner.combine({n: scores[n] for n in combiner.detectors if n in scores}))
        shares[name] = float(np.mean(per_user.scores >= combiner.threshold))
    return shares


def _past_rarity_knee(
    test: EncodedTraffic, test_keep: np.ndarray, scores: Mapping[str, PeriodScores], shipped: ScoreCombiner
) -> float | None:
    """The share of normal test users whose highest rarity passes the shipped rarity hinge's knee (that
    hinge lifts them above everyone else; it was placed where few real shoppers reach)."""
    knees = [h.knee for h in shipped.hinges if h.detector == "rarity"]
    if not knees or "rarity" not in scores:
        return None
    per_user = user_scores(test, transformed(scores["rarity"].test[test_keep], "logit"))
    normal = np.array([not kind for kind in per_user.types], dtype=bool)
    return _share(per_user.scores[normal] >= knees[0])


def _real_alert_share_alone(
    real: RealShoppers,
    real_scores: Mapping[str, np.ndarray],
    measured: np.ndarray,
    scores: Mapping[str, PeriodScores],
    validation: EncodedTraffic,
    alert_rate: float,
) -> dict[str, float]:
    """Per detector alone: the share of the measured half of real shoppers at or above the detector's own
    threshold (set at ``alert_rate`` of the validation period's normal users, as a combiner's is)."""
    traffic = real.traffic.subset(measured)
    shares = {}
    for name, period in scores.items():
        threshold = calibrate_threshold(
            normal_user_maxima(period.validation, validation.user_ids, validation.event_is_abuse), alert_rate
        )
        per_user = user_scores(traffic, np.asarray(real_scores[name])[measured])
        shares[name] = float(np.mean(per_user.scores >= threshold))
    return shares


def _fold_combiners(
    scores: Mapping[str, PeriodScores],
    validation: EncodedTraffic,
    left_out: str | None,
    alert_rate: float,
    extra_normal: Mapping[str, np.ndarray] | None = None,
    real_fit: tuple[Mapping[str, np.ndarray], list] | None = None,
) -> dict[str, ScoreCombiner]:
    """Each combiner fitted on the validation period without ``left_out``'s users (``real_fit``: real shoppers'
    scores and users, which the shipped decision is fitted to; without them it is the bare logistic fit)."""
    keep = np.array([kind != left_out for kind in validation.user_types], dtype=bool)
    part = validation.subset(keep)
    fitted = {name: s.validation[keep] for name, s in scores.items()}
    learned = {name: values for name, values in fitted.items() if name != NEW_ACCOUNT}
    fits = {
        "logistic": lambda: fit_combiner(learned, part.event_is_abuse, part.user_ids, alert_rate),
        "min_tail": lambda: fit_tail_combiner(
            fitted, part.event_is_abuse, part.user_ids, alert_rate, extra_normal=extra_normal
        ),
        "fisher_tail": lambda: fit_tail_combiner(
            fitted, part.event_is_abuse, part.user_ids, alert_rate, mode="fisher_tail", extra_normal=extra_normal
        ),
    }
    combiners = {name: fits[name]() for name in COMBINERS if name not in (LOGISTIC_REAL, MIN_TAIL_REAL, *FISHER_REAL)}
    shipped = combiners["logistic"]
    if real_fit is not None:
        real_scores, real_users = real_fit
        shipped, _ = calibrate_combiner(shipped, {n: real_scores[n] for n in shipped.detectors}, real_users, alert_rate)
    if NEW_ACCOUNT in fitted:  # as shopguard train adds it: after the fit and the real-shopper step
        shipped, combiners["logistic"] = with_new_account_hinge(shipped), with_new_account_hinge(combiners["logistic"])
    candidate, _ = fit_decision(fitted, part.event_is_abuse, part.user_ids, alert_rate, real_fit)
    anchor = real_fit or _normal_part(fitted, part)
    fisher = {
        name: fit_fisher_real(fitted, part.event_is_abuse, part.user_ids, alert_rate, anchor, with_lstm=lstm)[0]
        for name, lstm in zip(FISHER_REAL, (True, False))
    }
    return {LOGISTIC_REAL: shipped, **combiners, MIN_TAIL_REAL: candidate, **fisher}


def _normal_part(scores: Mapping[str, np.ndarray], traffic: EncodedTraffic) -> tuple[dict, list]:
    """The normal users' events of ``traffic`` and their ``scores``: the anchor population without real shoppers."""
    abused = {u for u, a in zip(traffic.user_ids, traffic.event_is_abuse.tolist()) if a}
    keep = np.array([u not in abused for u in traffic.user_ids], dtype=bool)
    return {n: np.asarray(v)[keep] for n, v in scores.items()}, list(np.asarray(traffic.user_ids)[keep])


def _family_row(
    test: EncodedTraffic,
    test_keep: np.ndarray,
    scores: Mapping[str, PeriodScores],
    combiners: Mapping[str, ScoreCombiner],
    family: str,
    resamples: int,
) -> dict:
    """One family's figures for each combiner and each detector alone."""
    per_scores = {name: s.test[test_keep] for name, s in scores.items()}
    row = {
        name: family_figures(test, combiner.combine(per_scores), family, combiner.threshold, resamples=resamples)
        for name, combiner in combiners.items()
    }
    row["detectors"] = {
        name: _short(family_figures(test, values, family, None, intervals=False))
        for name, values in sorted(per_scores.items())
    }
    return row


def _overall_pr_auc(
    test: EncodedTraffic,
    test_keep: np.ndarray,
    scores: Mapping[str, PeriodScores],
    combiners: Mapping[str, ScoreCombiner],
) -> dict[str, float | None]:
    """Per combiner: PR-AUC over every test user (every type at once, as the ablation reports it)."""
    per_scores = {name: s.test[test_keep] for name, s in scores.items()}
    overall = {}
    for name, combiner in combiners.items():
        per_user = user_scores(test, combiner.combine(per_scores))
        overall[name] = _pr_auc(per_user.abused, per_user.scores)
    return overall


def family_figures(
    test: EncodedTraffic,
    scores: np.ndarray,
    family: str,
    threshold: float | None,
    intervals: bool = True,
    resamples: int = INTERVAL_RESAMPLES,
) -> dict:
    """Figures on ``family``'s users against every normal user: PR-AUC and recall at 0.1% FPR (cut on the
    test normal users themselves) with their bootstrap intervals, blunt and subtle recall at that cut, and
    recall at the fitted ``threshold`` (calibrated on validation normal users)."""
    per_user = user_scores(test, scores)
    types = np.array(per_user.types)
    keep = (types == "") | (types == family)
    values, abused, subtle = per_user.scores[keep], types[keep] == family, per_user.subtle[keep]
    cut = calibrate_threshold(values[~abused], TARGET_FPR)
    caught = values >= cut
    return {
        "abused_users": int(abused.sum()),
        "normal_users": int((~abused).sum()),
        "pr_auc": _pr_auc(abused, values),
        "pr_auc_interval": pr_auc_interval(abused, values, resamples=resamples) if intervals else None,
        "recall_at_0.1pct_fpr": _share(caught[abused]),
        "recall_at_0.1pct_fpr_interval": (
            recall_interval_at_fpr(values[~abused], values[abused], resamples=resamples) if intervals else None
        ),
        "recall_blunt": _share(caught[abused & ~subtle]),
        "recall_subtle": _share(caught[abused & subtle]),
        "blunt_users": int((abused & ~subtle).sum()),
        "subtle_users": int((abused & subtle).sum()),
        "recall_at_threshold": None if threshold is None else _share(values[abused] >= threshold),
        "fpr_at_threshold": None if threshold is None else _share(values[~abused] >= threshold),
    }


def _short(figures: dict) -> dict:
    return {k: figures[k] for k in ("pr_auc", "recall_at_0.1pct_fpr", "recall_blunt", "recall_subtle")}


def _pr_auc(abused: np.ndarray, values: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(abused, values)) if abused.any() and (~abused).any() else None


def _share(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _summary(folds: Mapping[str, dict], plan: UnseenPlan, chosen: str) -> dict:
    """The evaluation JSON's ``unseen`` entry: per family the left-out figures of each combiner beside
    the seen ones, the headline (``chosen`` combiner) and the targets checked."""
    seen = folds["none (seen)"]["families"]
    families = {}
    for family in plan.families:
        unseen = folds[family]["families"][family]
        families[family] = {
            **{k: unseen[chosen][k] for k in unseen[chosen]},
            "combiners": {name: unseen[name] for name in COMBINERS},
            "seen": {name: seen[family][name] for name in COMBINERS},
            "detectors": unseen["detectors"],
            "detectors_seen": seen[family]["detectors"],
        }
    recalls = [row["recall_at_0.1pct_fpr"] for row in families.values() if row["recall_at_0.1pct_fpr"] is not None]
    pr_aucs = [row["pr_auc"] for row in families.values() if row["pr_auc"] is not None]
    by_combiner = {
        name: {
            "unseen_min_recall": min(
                (r["combiners"][name]["recall_at_0.1pct_fpr"] or 0.0 for r in families.values()), default=None
            ),
            "unseen_mean_pr_auc": float(np.mean([r["combiners"][name]["pr_auc"] or 0.0 for r in families.values()])),
            "seen_mean_pr_auc": float(np.mean([r["seen"][name]["pr_auc"] or 0.0 for r in families.values()])),
            "blunt_met": sum(
                (r["combiners"][name]["recall_blunt"] or 0.0) >= TARGETS["blunt_recall"] for r in families.values()
            ),
            "subtle_met": sum(
                (r["combiners"][name]["recall_subtle"] or 0.0) >= TARGETS["subtle_recall"] for r in families.values()
            ),
        }
        for name in COMBINERS
    }
    seen_overall = folds["none (seen)"]["combined_pr_auc"]
    real_alerts = folds["none (seen)"]["real_alert_share"] or {}
    real_alerts_alone = folds["none (seen)"]["real_alert_share_alone"]
    past_knee = folds["none (seen)"]["past_rarity_knee"]
    for name in COMBINERS:
        by_combiner[name]["seen_pr_auc"] = seen_overall[name]
        by_combiner[name]["real_alert_share"] = real_alerts.get(name)
    return {
        "families": families,
        "seen_pr_auc": seen_overall[chosen],
        "real_alert_share": real_alerts.get(chosen),
        "real_alert_share_alone": real_alerts_alone,
        "normal_users_past_rarity_knee": past_knee,
        "unseen_min_recall": min(recalls) if recalls else None,
        "unseen_mean_pr_auc": float(np.mean(pr_aucs)) if pr_aucs else None,
        "combiner": chosen,
        "by_combiner": by_combiner,
        "targets": _targets(families),
        "plan": dataclasses.asdict(plan),
        "not_measurable": {
            kind: "not measurable on the data here (per-user habits are assumed)" for kind in NOT_MEASURABLE
        },
    }


def _targets(families: Mapping[str, dict]) -> dict:
    """Each family's blunt and subtle recall at 0.1% FPR against the detection targets (docs/detection.md)."""
    return {
        family: {
            "blunt_met": (row["recall_blunt"] or 0.0) >= TARGETS["blunt_recall"],
            "subtle_met": (row["recall_subtle"] or 0.0) >= TARGETS["subtle_recall"],
        }
        for family, row in families.items()
    }


def _tiny_test() -> EncodedTraffic:
    """200 normal users and two bots (one blunt, one subtle), one event each: for the examples."""
    users = [f"n{i}" for i in range(200)] + ["b0", "b1"]
    n = len(users)
    return EncodedTraffic(
        32,
        [b""] * n,
        users,
        users,
        np.zeros(n, dtype=np.int64),
        [""] * 200 + ["bot", "bot"],
        [""] * 200 + ["bot", "bot"],
        np.array([False] * 201 + [True]),
        np.zeros(n, dtype=np.int64),
    )
