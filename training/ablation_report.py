"""The ablation section of the evaluation report: each detector alone and combined, per anomaly type.

Written as ``ablation.md`` beside ``evaluation.md`` (and linked from it), with ``ablation.png`` (PR-AUC
per type, one bar per detector) and the figures in ``evaluation.json`` under ``ablation``. The detection
targets (docs/detection.md) are checked in the text, met or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from shopguard.training.ablation import COMBINED, PER_USER_TYPES, short_of_best_single
from shopguard.training.detection_metrics import INTERVAL_LEVEL, difference_text, interval_text
from shopguard.training.plots import saved_plot
from shopguard.training.simulation_spread import spread_markdown

CELL = ("pr_auc", "recall_at_0.1pct_fpr")


def _by_variant(recalls: dict) -> str:
    """The pattern detector's recall per variant (blunt, subtle) at its validation threshold."""
    return "; at its validation threshold, by variant: " + ", ".join(
        f"{kind} blunt {_fmt(variants.get('blunt'))} / subtle {_fmt(variants.get('subtle'))}"
        for kind, variants in recalls.items()
    )


def ablation_markdown(result: dict, context: dict, across_seeds: Sequence[dict] = ()) -> str:
    """The report; ``across_seeds`` (rows of :func:`~shopguard.training.simulation_spread.targets_across_seeds`)
    adds the same targets on other simulations."""
    figures, targets = result["figures"], result["targets"]
    kinds = sorted(figures[COMBINED]["per_type"])
    names = list(figures)
    pattern_recall = targets["pattern_recall_at_0.1pct_fpr"]
    intervals = targets.get("pattern_recall_interval", {})
    per_type = targets["combined_vs_best_single_pr_auc"]
    short = short_of_best_single(targets)
    combiner = result["combiner"]
    lines = [
        "# Ablation: every detector alone and the combination",
        "",
        f"Data: {context.get('returning_data', 'returning shoppers').split('; habits assumed')[0]} (per-user habits "
        "are assumptions: `HabitAssumptions` in training/returning_shoppers.py). Each user's first "
        "weeks are the normal history profiles are mined from; the next period is validation (thresholds, "
        "the combiner's weights), the last is test; abuse is injected into other users in each. "
        f"{result['excluded_test_users']} users abused in validation are left out of the test figures "
        f"({result['test_users']} test users remain). Thresholds: validation normal users at the target alert rate.",
        "",
        "Cells: user-level PR-AUC / recall at 0.1% of normal users flagged.",
        "",
        "| detector | all types | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
        *[
            f"| {name} | {_cell(figures[name])} | "
            + " | ".join(_cell(figures[name]["per_type"].get(k, {})) for k in kinds)
            + " |"
            for name in names
        ],
        "",
        "## Targets",
        "",
        f"- Pattern detector alone, recall at 0.1% FPR (target ≥ {targets['pattern_recall_target']}; in brackets "
        f"the {INTERVAL_LEVEL:.0%} bootstrap interval over users: the 0.1% point rests on a handful of normal users): "
        + ", ".join(
            f"{kind} {_fmt(pattern_recall.get(kind))}{interval_text(intervals.get(kind))}" for kind in PER_USER_TYPES
        )
        + _by_variant(targets["pattern_recall_by_variant"])
        + ".",
        f"- Combination vs the best single detector, all types: PR-AUC {_fmt(targets['combined_pr_auc'])} vs "
        f"{_fmt(targets['best_single_pr_auc'])} ({targets['best_single_detector']})"
        f"{difference_text(targets.get('combined_vs_best_single_interval'))}.",
        "- Combination at least as good as the best single detector on every type: "
        + (
            "yes."
            if not short
            else "no, short on "
            + ", ".join(
                f"{kind} ({_fmt(per_type[kind]['combined'])} vs {_fmt(per_type[kind]['best_single'])}, "
                f"{per_type[kind]['best_detector']}{difference_text(per_type[kind].get('difference_interval'))})"
                for kind in short
            )
            + "."
        ),
        *(
            [
                f"  (Difference: the {INTERVAL_LEVEL:.0%} paired bootstrap interval of the PR-AUC difference, "
                "combination minus best single, over users. An interval that holds 0 is a gap another draw of users "
                "could reverse.)"
            ]
            if targets.get("combined_vs_best_single_interval")
            else []
        ),
        "",
        "## The combiner",
        "",
        "Logistic regression on validation events, refitted on each user's deciding event (each normal user's "
        "highest, each abused user's highest abuse event), each score on its scale ("
        + ", ".join(f"{n}: {t}" for n, t in zip(combiner["detectors"], combiner["transforms"]))
        + "): "
        + ", ".join(f"{n} {w:+.3f}" for n, w in zip(combiner["detectors"], combiner["weights"]))
        + "".join(f"; {h['detector']} beyond {h['knee']:.3g} {h['weight']:+.3f}" for h in combiner.get("hinges", []))
        + f", intercept {combiner['intercept']:+.3f}; threshold {combiner['threshold']:.4f}.",
        "",
        "![PR-AUC per type](ablation.png)",
        "",
    ]
    if across_seeds:
        lines += [
            "## The same targets on other simulations",
            "",
            "Each seed is its own simulation of returning shoppers and time split, with a combiner fitted on "
            "its own validation period (`shopguard evaluate --seeds`); pattern recall at 0.1% FPR with its "
            f"{INTERVAL_LEVEL:.0%} bootstrap interval.",
            "",
            *spread_markdown(across_seeds),
            "",
        ]
    return "\n".join(lines)


def write_ablation_report(result: dict, out_dir: str | Path, context: dict, across_seeds: Sequence[dict] = ()) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _plot(result, out / "ablation.png")
    path = out / "ablation.md"
    path.write_text(ablation_markdown(result, context, across_seeds))
    return path


def ablation_json(result: dict, across_seeds: Sequence[dict] = ()) -> dict:
    """The figures without per-user delay lists (and the other simulations' targets, when measured)."""
    return {
        "figures": {
            name: {k: v for k, v in f.items() if k != "delays_events"} for name, f in result["figures"].items()
        },
        "targets": result["targets"],
        "combiner": result["combiner"],
        "excluded_test_users": result["excluded_test_users"],
        "test_users": result["test_users"],
        "across_seeds": list(across_seeds),
    }


def _cell(row: dict) -> str:
    return " / ".join(_fmt(row.get(k)) for k in CELL)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _plot(result: dict, path: Path) -> None:
    import numpy as np

    figures = result["figures"]
    kinds = sorted(figures[COMBINED]["per_type"])
    names = list(figures)
    width = 0.8 / len(names)
    with saved_plot(path, figsize=(10, 4.6), dpi=110) as (_, ax):
        for i, name in enumerate(names):
            values = [figures[name]["per_type"][k]["pr_auc"] or 0.0 for k in kinds]
            ax.bar(np.arange(len(kinds)) + i * width, values, width, label=name)
        ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, kinds, rotation=15)
        ax.set_ylabel("user-level PR-AUC (test)")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8, ncol=len(names), loc="upper center", bbox_to_anchor=(0.5, -0.2))
        ax.set_title("Each detector alone and combined, per anomaly type")
