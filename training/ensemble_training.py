"""Completing a trained model folder with everything the job combines: next-event model, patterns, combiner.

After the abuse LSTM is exported, ``shopguard train``

1. simulates returning shoppers (:mod:`shopguard.training.returning_data`: weeks of visits per user),
2. trains the unsupervised next-event model on their normal history and exports it to
   ``<folder>/next-event/`` (the job runs it beside the LSTM): the one-visit shoppers the LSTM learns
   from have no windows that span several visits, as the returning shoppers' test period has,
3. calibrates the ``rarity`` detector on real shoppers (:mod:`shopguard.training.rarity_calibration`,
   not on any injected abuse) into ``<folder>/rarity.json``,
4. mines the same history into ``<folder>/patterns.sqlite`` (in production, mine the platform's own
   history instead: ``shopguard mine-patterns``),
5. scores the returning shoppers' validation period with every detector exactly as the job will,
   fits the combiner there (:mod:`shopguard.training.combiner_fitting`) and writes ``combiner.json``,
   then fits its decision to real shoppers (:mod:`shopguard.training.real_calibration`: a fixed rarity
   hinge and a threshold that alerts at most ``training.target_alert_rate`` of the real Taobao slice)
   and gives the ``new_account`` detector its fixed hinge with its tables (fitted on Fraud_Data's normal
   accounts, :mod:`shopguard.training.new_account_calibration`), learned from no injected label,
6. measures the ablation on the test period (each detector alone and combined, per anomaly type).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.training.ablation import PeriodScores, ablation, fit_period_combiner, score_periods
from shopguard.training.detectors.new_account import NewAccountDetector
from shopguard.training.detectors.next_event import NextEventDetector
from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
from shopguard.training.detectors.rarity import RarityDetector
from shopguard.training.detectors.user_patterns import UserPatternDetector
from shopguard.training.detectors.velocity_rules import VelocityRules
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.new_account_calibration import add_new_account
from shopguard.training.rarity_calibration import calibrate_rarity, fit_rarity, real_populations
from shopguard.training.real_calibration import calibrate_folder
from shopguard.training.returning_data import ReturningData
from shopguard.udfs.detector_ensemble import NEXT_EVENT_FOLDER
from shopguard.udfs.rarity import RARITY_FILE
from shopguard.udfs.score_combiner import ScoreCombiner


def job_detectors(
    cfg: ShopguardConfig,
    folder: Path,
    next_event,
    next_event_needs_fit: bool,
    pattern_store_dir: str | Path,
    pattern_reference: tuple[EncodedTraffic, EncodedTraffic] | None = None,
) -> list:
    """``(detector, fit_on_history)`` for each detector the job combines, as the combiner sees them
    (``pattern_reference``: see :func:`strangers_reference`)."""
    return [
        (OnnxSequenceDetector(folder), False),
        (next_event, next_event_needs_fit),
        (UserPatternDetector(cfg.patterns, store_dir=pattern_store_dir, reference=pattern_reference), True),
        (VelocityRules(), False),
        (rarity_detector(cfg, folder), False),
    ]


def strangers_reference(
    cfg: ShopguardConfig, returning: ReturningData, real: EncodedTraffic | None = None
) -> tuple[EncodedTraffic, EncodedTraffic]:
    """What the pattern detector's strangers' scale is fitted on: the real Taobao slice (``real``, or encoded
    now) and the returning shoppers' normal users in the validation period."""
    if real is None:
        from shopguard.training.encoded_traffic import encode_traffic
        from shopguard.training.evaluation_data import real_events
        from shopguard.training.labelled_traffic import LabelledTraffic

        real = encode_traffic(LabelledTraffic(real_events(cfg), []), cfg.job.history_length, cfg.job)
    validation = returning.validation
    return real, validation.subset(np.array([not kind for kind in validation.user_types], dtype=bool))


NEW_ACCOUNT = "new_account"  # learns no label: a fixed hinge in the logistic decision, a tail in fisher_real


def with_new_account(scores: Mapping[str, PeriodScores], folder, returning: ReturningData) -> dict:
    """``scores`` and the ``new_account`` detector of the model ``folder`` (its ``new_account.json`` or the
    shipped tables, as the job serves it) on the returning periods: it learns no label, so it is scored once."""
    detector = NewAccountDetector.for_folder(folder)
    periods = PeriodScores(detector.score(returning.validation), detector.score(returning.test))
    return {**scores, NEW_ACCOUNT: periods}


def _for_combiner(scores: Mapping[str, PeriodScores], combiner: ScoreCombiner, folder, returning) -> dict:
    """``scores`` with ``new_account``'s when ``combiner`` needs them (a fisher_real decision pools its tail)."""
    if NEW_ACCOUNT in combiner.required and NEW_ACCOUNT not in scores:
        return with_new_account(scores, folder, returning)
    return dict(scores)


def rarity_detector(cfg: ShopguardConfig, folder: Path) -> RarityDetector:
    """The folder's ``rarity.json``; for a folder without one, tables calibrated now on the real data (not written)."""
    if (Path(folder) / RARITY_FILE).is_file():
        return RarityDetector.for_folder(folder)
    return RarityDetector(fit_rarity(list(real_populations(cfg).values()), settings=cfg.job))


def train_ensemble(
    cfg: ShopguardConfig,
    returning: ReturningData,
    folder: str | Path,
    progress: Callable[[str], None] = print,
    judged: Sequence = (),
) -> dict:
    """Add ``rarity.json``, ``next-event/``, ``patterns.sqlite``, ``combiner.json`` to ``folder``; the ablation.

    ``judged`` (analysts' verdicts on alerts, :mod:`shopguard.training.verdict_refit`) join the combiner's fit."""
    folder = Path(folder)
    calibrate_rarity(cfg, folder, progress)
    progress("training the next-event model on the returning shoppers' normal history")
    next_event = NextEventDetector(export_dir=folder, progress=progress).fit(returning.history)
    reference = strangers_reference(cfg, returning)
    scores = score_periods(job_detectors(cfg, folder, next_event, False, folder, reference), returning, progress)
    fit_period_combiner(scores, returning, cfg.training.target_alert_rate, judged).write(folder)
    decide(cfg, folder, progress, returning=returning)
    combiner = ScoreCombiner.read(folder)
    progress(
        f"combiner ({combiner.mode}): {dict(zip(combiner.detectors, (round(w, 3) for w in combiner.weights)))}, "
        f"threshold {combiner.threshold:.4f}"
    )
    return ablation(
        _for_combiner(scores, combiner, folder, returning), returning, cfg.training.target_alert_rate, combiner
    )


def decide(
    cfg: ShopguardConfig,
    folder: Path,
    progress: Callable[[str], None] = print,
    decision: str = "",
    returning: ReturningData | None = None,
) -> None:
    """Fit ``folder``'s decision to real shoppers: ``decision`` (default ``training.decision``) ``logistic`` keeps
    its logistic combiner, with the rarity hinge and a threshold real shoppers respect; ``fisher_real`` replaces
    it by the label-free decision (:func:`shopguard.training.label_free_decision.calibrate_fisher_real`, on
    ``returning`` when the caller has built ``cfg``'s returning shoppers already)."""
    if (decision or cfg.training.decision) == "fisher_real":
        from shopguard.training.label_free_decision import calibrate_fisher_real

        calibrate_fisher_real(cfg, folder, progress, returning)
    else:
        calibrate_folder(cfg, folder, progress)
    progress(f"new_account: {add_new_account(folder)}")  # its hinge follows the threshold


def evaluate_ensemble(
    cfg: ShopguardConfig, returning: ReturningData, folder: str | Path, progress: Callable[[str], None] = print
) -> tuple[dict, dict[str, PeriodScores]]:
    """The ablation of a model folder that already exists (``shopguard evaluate``), changing nothing in it, and
    the scores it was measured on (every job detector's, and ``new_account``'s when the folder's decision pools it).

    Patterns are mined again into a temporary store; the folder's next-event model and combiner are
    used when it has them (a next-event model is trained, and a logistic combiner fitted, when it has not).
    """
    folder = Path(folder)
    scores = score_with_folder(cfg, returning, folder, progress)
    combiner = ScoreCombiner.read(folder)
    if combiner is not None:
        scores = _for_combiner(scores, combiner, folder, returning)
    if combiner is not None and not set(combiner.required) <= set(scores):
        combiner = None
    progress(
        f"combining with the model's combiner ({combiner.mode})"
        if combiner
        else "fitting a combiner on the validation period"
    )
    return ablation(scores, returning, cfg.training.target_alert_rate, combiner), scores


def score_with_folder(
    cfg: ShopguardConfig, returning: ReturningData, folder: Path, progress: Callable[[str], None] = print
) -> dict[str, PeriodScores]:
    """Every job detector's validation and test scores, with the folder's models and patterns mined again.

    Patterns go to a temporary store, so the folder is not changed; a folder without a next-event model
    gets one trained on ``returning``'s history (not written into it).
    """
    if (folder / NEXT_EVENT_FOLDER).is_dir():
        next_event, needs_fit = OnnxSequenceDetector(folder / NEXT_EVENT_FOLDER, name="next_event"), False
    else:
        next_event, needs_fit = NextEventDetector(progress=progress), True
    with tempfile.TemporaryDirectory(prefix="shopguard-patterns-") as store_dir:
        detectors = job_detectors(cfg, folder, next_event, needs_fit, store_dir, strangers_reference(cfg, returning))
        return score_periods(detectors, returning, progress)
