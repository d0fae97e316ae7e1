"""The evaluation report: Markdown with plots for people, JSON for machines, a table on the terminal.

The JSON holds, for the main detector, at least ``pr_auc``, ``roc_auc``, ``recall_at_0.1pct_fpr``,
``median_delay_events`` and ``per_type``, and the same for every baseline under ``baselines``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve

from shopguard.training.detection_metrics import INTERVAL_LEVEL, interval_text, user_scores
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.plots import saved_plot

TABLE_FIGURES = (
    "pr_auc",
    "roc_auc",
    "recall_at_0.1pct_fpr",
    "recall",
    "precision",
    "fpr",
    "median_delay_events",
    "real_normal_fpr",
)


def report_json(results: dict[str, dict], main: str, context: dict) -> dict:
    """``{main detector's figures..., "baselines": {name: figures}, "context": ...}`` without raw scores."""
    clean = {
        name: {k: v for k, v in figures.items() if k not in ("test_scores", "delays_events")}
        for name, figures in results.items()
    }
    body = dict(clean[main])
    body["detector"] = main
    body["baselines"] = {name: figures for name, figures in clean.items() if name != main}
    body["context"] = context
    return body


def summary_table(results: dict[str, dict]) -> str:
    """A fixed-width table of the headline figures, one row per detector."""
    header = f"{'detector':<18}" + "".join(f"{name:>22}" for name in TABLE_FIGURES)
    rows = [header]
    for name, figures in results.items():
        rows.append(f"{name:<18}" + "".join(f"{_fmt(figures.get(k)):>22}" for k in TABLE_FIGURES))
    return "\n".join(rows)


def write_evaluation_report(
    results: dict[str, dict], main: str, test: EncodedTraffic, out_dir: str | Path, context: dict
) -> Path:
    """Write ``evaluation.md``, ``evaluation.json`` and the plots into ``out_dir``; return the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(report_json(results, main, context), indent=1) + "\n")
    _plot_pr_curves(results, test, out / "pr_curves.png")
    _plot_score_distributions(results, test, out / "score_distributions.png")
    _plot_delays(results, out / "detection_delay.png")
    kinds = sorted(results[main]["per_type"])
    lines = [
        "# Detection evaluation",
        "",
        f"Data: {context.get('training_data', '')}. Split by time: users by their first event"
        f"{_split_text(context)}; the threshold is calibrated on validation normal users to "
        f"an alert rate of {context.get('target_alert_rate')} and applied unchanged to the test users.",
        "",
        "## Test users (simulated, unseen, later in time)",
        "",
        "| detector | " + " | ".join(TABLE_FIGURES) + " |",
        "|---|" + "---:|" * len(TABLE_FIGURES),
        *[f"| {name} | " + " | ".join(_figure_cell(f, k) for k in TABLE_FIGURES) + " |" for name, f in results.items()],
        "",
        f"`recall_at_0.1pct_fpr`: in brackets its {INTERVAL_LEVEL:.0%} bootstrap interval over users (the "
        "0.1% point rests on a handful of normal users). "
        "`real_normal_fpr`: share of all the real shoppers in `data.taobao_csv` flagged at the threshold.",
        "",
        "## Per anomaly type (user-level PR-AUC / recall at the threshold / recall of the subtle variant / "
        "median delay in events)",
        "",
        "| detector | " + " | ".join(kinds) + " |",
        "|---|" + "---|" * len(kinds),
        *[
            f"| {name} | " + " | ".join(_type_cell(f["per_type"].get(k, {})) for k in kinds) + " |"
            for name, f in results.items()
        ],
        "",
        "## Real Taobao timelines with injected abuse",
        "",
        "| detector | pr_auc | recall | recall_at_0.1pct_fpr | median_delay_events |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {name} | "
            + " | ".join(
                _fmt(f["real_injected"].get(k))
                for k in ("pr_auc", "recall", "recall_at_0.1pct_fpr", "median_delay_events")
            )
            + " |"
            for name, f in results.items()
        ],
        "",
        "![PR curves](pr_curves.png) ![score distributions](score_distributions.png) "
        "![detection delay](detection_delay.png)",
        "",
        "The per-user pattern detector needs users with a history; its ablation against every other "
        "detector, and the combination, is in [ablation.md](ablation.md).",
        "",
    ]
    report = out / "evaluation.md"
    report.write_text("\n".join(lines))
    return report


def _split_text(context: dict) -> str:
    """The split's shares as ``training.train_share`` and ``training.validation_share`` set them, when given.

    >>> _split_text({"train_share": 0.6, "validation_share": 0.2}), _split_text({})
    (' (train 60%, validation 20%, test 20%)', '')
    """
    if "train_share" not in context:
        return ""
    train, validation = context["train_share"], context["validation_share"]
    return f" (train {train:.0%}, validation {validation:.0%}, test {1 - train - validation:.0%})"


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _figure_cell(figures: dict, name: str) -> str:
    """One figure; recall at 0.1% FPR with its bootstrap interval when there is one."""
    return _fmt(figures.get(name)) + interval_text(figures.get(f"{name}_interval"))


def _type_cell(row: dict) -> str:
    return " / ".join(_fmt(row.get(k)) for k in ("pr_auc", "recall", "recall_subtle", "median_delay_events"))


def _plot_pr_curves(results: dict[str, dict], test: EncodedTraffic, path: Path) -> None:
    with saved_plot(path, figsize=(6, 4.5)) as (_, ax):
        for name, figures in results.items():
            users = user_scores(test, figures["test_scores"])
            precision, recall, _ = precision_recall_curve(users.abused, users.scores)
            ax.plot(recall, precision, label=f"{name} (PR-AUC {figures['pr_auc']:.3f})")
        ax.set_xlabel("recall (abused test users)")
        ax.set_ylabel("precision")
        ax.legend(loc="lower left")


def _plot_score_distributions(results: dict[str, dict], test: EncodedTraffic, path: Path) -> None:
    with saved_plot(path, figsize=(4 * len(results), 3.5), ncols=len(results), squeeze=False) as (_, axes):
        for ax, (name, figures) in zip(axes[0], results.items()):
            users = user_scores(test, figures["test_scores"])
            bins = np.linspace(users.scores.min(), users.scores.max() + 1e-9, 40)
            ax.hist(users.scores[~users.abused], bins=bins, alpha=0.6, label="normal", log=True)
            ax.hist(users.scores[users.abused], bins=bins, alpha=0.6, label="abused", log=True)
            ax.axvline(figures["threshold"], color="black", linestyle="--", label="threshold")
            ax.set_title(name)
            ax.set_xlabel("user score (max over events)")
        axes[0][0].legend()


def _plot_delays(results: dict[str, dict], path: Path) -> None:
    bins = np.arange(1, 32)
    with saved_plot(path, figsize=(6, 4)) as (_, ax):
        for name, figures in results.items():
            if figures["delays_events"]:
                ax.hist(np.minimum(figures["delays_events"], 30), bins=bins, alpha=0.5, label=name)
        ax.set_xlabel("events after the onset until the first alert (30 = 30 or more)")
        ax.set_ylabel("detected abused users")
        ax.legend()
