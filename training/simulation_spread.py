"""The ablation's targets on other simulations of returning shoppers: how much one simulation's verdict says.

With 50 abused users per type and ~2,400 normal ones, the pattern detector's recall at 0.1% of normal
users flagged rests on about three normal users: one simulation (``training.seed``) can pass a target
that the next one misses. ``shopguard evaluate --seeds 11,12,13`` therefore repeats the ablation on
other seeds, each on its own time split with a combiner fitted on its own validation period (the model
folder's LSTM and next-event model serve every seed: they are not trained on returning shoppers'
abuse), and the report lists each seed's verdict beside the main one.

Example
-------
>>> row = {"seed": 11, "combined_pr_auc": 0.906, "best_single_pr_auc": 0.896, "best_single_detector": "lstm",
...        "pattern_recall_at_0.1pct_fpr": {"account_takeover": 0.86, "account_sharing": 0.0},
...        "pattern_recall_interval": {"account_takeover": [0.62, 1.0], "account_sharing": [0.0, 0.0]},
...        "combined_short_of_best_single": {"bot": [0.998, 1.0, "lstm", [-0.006, 0.0]]}}
>>> print(spread_markdown([row])[-1])
| 11 | 0.906 | 0.896 (lstm) | 0.860 [0.62–1.00] | 0.000 [0.00–0.00] |
  bot (0.998 vs 1.000, lstm; difference [-0.006 to +0.000]) |
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

from shopguard.config import ShopguardConfig
from shopguard.training.ablation import PER_USER_TYPES, ablation, short_of_best_single
from shopguard.training.detection_metrics import difference_text, interval_text
from shopguard.training.ensemble_training import score_with_folder
from shopguard.training.returning_data import build_returning_data
from shopguard.udfs.detector_ensemble import NEXT_EVENT_FOLDER


def targets_across_seeds(
    cfg: ShopguardConfig, folder: str | Path, seeds: Sequence[int], progress: Callable[[str], None] = print
) -> list[dict]:
    """One row of the ablation's targets per seed (see the module docstring for how each is measured)."""
    folder = Path(folder)
    if not (folder / NEXT_EVENT_FOLDER).is_dir():
        raise ValueError(
            f"{folder} has no {NEXT_EVENT_FOLDER}/ model: train the folder with `shopguard train` "
            "before comparing simulations (--seeds)"
        )
    rows = []
    for number, seed in enumerate(seeds, 1):
        progress(f"simulation {number}/{len(seeds)}: returning shoppers with training.seed={seed}")
        seed_cfg = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, seed=seed))
        data = build_returning_data(seed_cfg, progress)
        scores = score_with_folder(seed_cfg, data, folder, progress)
        rows.append(_row(seed, ablation(scores, data, seed_cfg.training.target_alert_rate)["targets"]))
    return rows


def _row(seed: int, targets: dict) -> dict:
    per_type = targets["combined_vs_best_single_pr_auc"]
    short = short_of_best_single(targets)
    return {
        "seed": seed,
        "combined_pr_auc": targets["combined_pr_auc"],
        "best_single_pr_auc": targets["best_single_pr_auc"],
        "best_single_detector": targets["best_single_detector"],
        "pattern_recall_at_0.1pct_fpr": targets["pattern_recall_at_0.1pct_fpr"],
        "pattern_recall_interval": targets["pattern_recall_interval"],
        "combined_short_of_best_single": {
            kind: [
                per_type[kind]["combined"],
                per_type[kind]["best_single"],
                per_type[kind]["best_detector"],
                per_type[kind].get("difference_interval"),
            ]
            for kind in short
        },
    }


def spread_markdown(rows: Sequence[dict]) -> list[str]:
    """The report's table: one line per seed."""
    lines = [
        "| seed | combined PR-AUC | best single | pattern recall, "
        + " | pattern recall, ".join(kind.replace("_", " ") for kind in PER_USER_TYPES)
        + " | combined short of the best single on |",
        "|---|---|---|" + "---|" * len(PER_USER_TYPES) + "---|",
    ]
    for row in rows:
        recalls = [
            f"{row['pattern_recall_at_0.1pct_fpr'].get(kind) or 0.0:.3f}"
            + interval_text(row["pattern_recall_interval"].get(kind))
            for kind in PER_USER_TYPES
        ]
        short = (
            ", ".join(
                f"{kind} ({combined:.3f} vs {best:.3f}, {name}{difference_text(interval)})"
                for kind, (combined, best, name, interval) in row["combined_short_of_best_single"].items()
            )
            or "none"
        )
        lines.append(
            f"| {row['seed']} | {row['combined_pr_auc']:.3f} | {row['best_single_pr_auc']:.3f} "
            f"({row['best_single_detector']}) | " + " | ".join(recalls) + f" | {short} |"
        )
    return lines
