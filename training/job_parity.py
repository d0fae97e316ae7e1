"""Does the streaming job score what training measured? Replay the test split through the real job.

:func:`compare_with_job` writes the test split's events as JSON lines (each user's events in the
order the encoder saw them), runs ``shopguard detect`` on them (the real Flink graph, in its own
process), and computes the same test figures from the job's per-event scores as the offline
evaluation computes on the encoded windows with the same parts the job runs
(:func:`offline_decision`: the model folder's detector ensemble, and the pattern matcher replaying
each user's events from an empty state, as a freshly started job does). Both use the same threshold.
``shopguard evaluate --via-job`` prints the comparison; the target is a PR-AUC difference ≤ 0.01.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from shopguard.config import ShopguardConfig, to_toml
from shopguard.errors import ShopguardError
from shopguard.training.behaviour_stats import by_user
from shopguard.training.detection_metrics import evaluate_scores
from shopguard.training.detectors.user_patterns import UserPatternDetector
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.evaluation_data import EvaluationData
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.events import Event
from shopguard.udfs.pattern_store import PATTERNS_FILE
from shopguard.udfs.scoring import ModelCard

FIGURES = ("pr_auc", "roc_auc", "recall", "fpr", "recall_at_0.1pct_fpr", "median_delay_events")


def write_events(events: list[Event], path: Path) -> int:
    """Every event as one canonical JSON line, user by user in the encoder's order; return the count."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for history in by_user(events).values():
            for event in history:
                out.write(event.to_json() + "\n")
                count += 1
    return count


def job_scores(scores_path: Path, traffic: EncodedTraffic) -> tuple[np.ndarray, int]:
    """The job's score for each event of ``traffic`` (NaN where the job gave none), and how many are missing."""
    by_event = {}
    with scores_path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            by_event[row["event_id"]] = row["score"]
    scores = np.array([by_event.get(event_id, np.nan) for event_id in traffic.event_ids], dtype=np.float64)
    return scores, int(np.isnan(scores).sum())


def compare_with_job(
    cfg: ShopguardConfig,
    model_dir: str | Path,
    data: EvaluationData,
    workdir: str | Path,
    progress: Callable[[str], None] = print,
) -> dict:
    """Offline figures and the job's figures on the same test split, and their differences."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    card = ModelCard.read(Path(model_dir) / "card.json")
    events_path, config_path = workdir / "test-events.jsonl", workdir / "shopguard.toml"
    alerts_path, scores_path = workdir / "alerts.jsonl", workdir / "scores.jsonl"
    count = write_events(data.test_events, events_path)
    progress(f"replaying {count:,} test events through the job (shopguard detect) with {card.model_version}")
    started = time.monotonic()
    detect_in_child_process(cfg, events_path, alerts_path, scores_path, model_dir, config_path)
    replay_s = time.monotonic() - started
    streamed, missing = job_scores(scores_path, data.test)
    offline, threshold = offline_decision(cfg, model_dir, data.test)
    scored = ~np.isnan(streamed)
    offline_figures = evaluate_scores(data.test, offline, threshold)
    job_figures = evaluate_scores(data.test, np.where(scored, streamed, 0.0), threshold)
    return {
        "model_version": card.model_version,
        "threshold": threshold,
        "events": count,
        "events_without_job_score": missing,
        "replay_seconds": round(replay_s, 1),
        "max_abs_score_difference": float(np.max(np.abs(streamed[scored] - offline[scored]))) if scored.any() else None,
        "offline": {k: offline_figures[k] for k in FIGURES},
        "job": {k: job_figures[k] for k in FIGURES},
        "pr_auc_difference": abs(job_figures["pr_auc"] - offline_figures["pr_auc"]),
    }


def detect_in_child_process(
    cfg: ShopguardConfig,
    events_path: Path,
    alerts_path: Path,
    scores_path: Path,
    model_dir: str | Path | None,
    config_path: Path,
) -> None:
    """Run ``shopguard detect`` on ``events_path`` in its own process with ``cfg`` (written to ``config_path``).

    ``model_dir`` None lets the job choose its model as it does without ``--model``.
    """
    config_path.write_text(to_toml(cfg))
    command = [sys.executable, "-m", "shopguard.cli", "detect", "--config", str(config_path)]
    command += ["--input", str(events_path), "--output", str(alerts_path), "--scores-output", str(scores_path)]
    command += ["--model", str(model_dir)] if model_dir else []
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise ShopguardError(f"shopguard detect failed on {events_path} (exit {run.returncode}):\n{run.stderr[-3000:]}")


def offline_decision(
    cfg: ShopguardConfig, model_dir: str | Path, traffic: EncodedTraffic, batch_size: int = 4096
) -> tuple[np.ndarray, float]:
    """The score the job decides on for every event of ``traffic``, computed offline, and its threshold."""
    ensemble = DetectorEnsemble.load(model_dir)
    if cfg.patterns.enabled and (Path(model_dir) / PATTERNS_FILE).is_file():
        patterns = UserPatternDetector(cfg.patterns, store_dir=model_dir).score(traffic)
    else:
        patterns = np.full(len(traffic), np.nan)
    parts = [
        ensemble.score_batch(traffic.features(i, i + batch_size), patterns[i : i + batch_size])
        for i in range(0, len(traffic), batch_size)
    ]
    scores = np.concatenate([p.score for p in parts]) if parts else np.zeros(0)
    thresholds = np.concatenate([p.threshold for p in parts]) if parts else np.array([ensemble.threshold])
    return scores.astype(np.float64), float(thresholds[0])
