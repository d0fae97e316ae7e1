"""``shopguard train``: labelled data → LSTM → ONNX model folder with its card.

The card carries what the job and a reviewer need: version, feature-spec version, the threshold
calibrated on validation normal users to ``training.target_alert_rate``, the figures measured on the
test split by scoring the *exported* ONNX model, the training-data fingerprint and the parity check.
The folder is then completed with the next-event model, the users' pattern store and the combiner
(:mod:`shopguard.training.ensemble_training`); the card's ``ensemble`` entry holds their ablation.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

from shopguard.config import ShopguardConfig
from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
from shopguard.training.ensemble_training import train_ensemble
from shopguard.training.evaluation import evaluate_detector
from shopguard.training.evaluation_data import EvaluationData
from shopguard.training.evaluation_report import TABLE_FIGURES
from shopguard.training.lstm_model import SequenceModelConfig
from shopguard.training.onnx_export import export_model
from shopguard.training.returning_data import build_returning_data
from shopguard.training.train_lstm import TrainingRun, checkpoint, train_sequence_model


def model_version(fingerprint: str) -> str:
    """``lstm-<UTC time>-<data hash>``: sortable, and says which data it learned from."""
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:8]
    return f"lstm-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{digest}"


def train_and_export(
    cfg: ShopguardConfig,
    data: EvaluationData,
    out_dir: str | Path,
    model_config: SequenceModelConfig | None = None,
    run: TrainingRun | None = None,
    progress: Callable[[str], None] = print,
    judged: Sequence = (),
) -> Path:
    """Train on ``data``, export to ``out_dir/<version>``, measure the export, write the card; return the folder.

    ``judged`` (analysts' verdicts on alerts, :mod:`shopguard.training.verdict_refit`) join the combiner's fit."""
    model_config, run = model_config or SequenceModelConfig(), run or TrainingRun()
    started = time.monotonic()
    model = train_sequence_model(data.train, data.validation, model_config, run, progress)
    training_s = time.monotonic() - started
    version = model_version(data.fingerprint)
    folder = Path(out_dir) / version
    card = {
        "model_version": version,
        "threshold": 0.5,
        "training_data": data.fingerprint,
        "model_config": asdict(model_config),
        "training_run": asdict(run),
        "training_seconds": round(training_s, 1),
        "metrics": {},
    }
    export_model(model, folder, card, checkpoint(model, run), data.validation.features(0, 2048))
    progress(f"exported {folder}; measuring the ONNX model on the test split")
    figures = evaluate_detector(OnnxSequenceDetector(folder), data, cfg.training.target_alert_rate, fit=False)
    _update_card(
        folder,
        threshold=figures["threshold"],
        metrics={k: figures[k] for k in TABLE_FIGURES}  # the evaluation table's figures
        | {
            "per_type": {
                kind: {k: row[k] for k in ("pr_auc", "recall", "recall_subtle", "median_delay_events")}
                for kind, row in figures["per_type"].items()
            }
        },
    )
    returning = build_returning_data(cfg, progress)
    result = train_ensemble(cfg, returning, folder, progress, judged)
    _update_card(
        folder,
        ensemble={
            "returning_data": returning.fingerprint,
            "combiner": result["combiner"],
            "targets": result["targets"],
            "ablation": ablation_summary(result["figures"]),
        },
    )
    return folder


def ablation_summary(figures: dict) -> dict:
    """PR-AUC and recall at 0.1% FPR, overall and per type, for each detector and the combination."""
    return {
        name: {
            "pr_auc": f["pr_auc"],
            "recall_at_0.1pct_fpr": f["recall_at_0.1pct_fpr"],
            "per_type": {
                kind: {k: row[k] for k in ("pr_auc", "recall_at_0.1pct_fpr", "recall")}
                for kind, row in f["per_type"].items()
            },
        }
        for name, f in figures.items()
    }


def _update_card(folder: Path, **changes) -> None:
    import json

    path = folder / "card.json"
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card, indent=2) + "\n")
