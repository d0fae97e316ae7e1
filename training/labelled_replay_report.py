"""The report of ``shopguard evaluate --events --labels``: Markdown with a plot for people, JSON for machines.

``labelled_evaluation.json`` holds what :func:`~shopguard.training.labelled_replay.judge_replay` returns
(without the per-user scores) with every user who was not judged named; the Markdown names the first
:data:`NAMES_SHOWN` of each group and says how many more the JSON holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve

from shopguard.training.detection_metrics import INTERVAL_LEVEL, interval_text
from shopguard.training.plots import saved_plot

NAMES_SHOWN = 40
FIGURES = (
    "users",
    "abused_users",
    "pr_auc",
    "roc_auc",
    "recall_at_0.1pct_fpr",
    "recall_at_1pct_fpr",
    "alert_precision",
    "alert_recall",
    "median_delay_s",
    "median_delay_events",
)
REPORT_NAME = "labelled_evaluation"


def report_body(result: dict) -> dict:
    """The JSON body: every figure and name, without the per-user scores the plot reads."""
    return {key: value for key, value in result.items() if key != "user_scores"}


def write_labelled_report(result: dict, out_dir: str | Path) -> Path:
    """Write ``labelled_evaluation.md``, ``.json`` and ``.png`` into ``out_dir``; return the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{REPORT_NAME}.json").write_text(json.dumps(report_body(result), indent=1) + "\n")
    _plot(result, out / f"{REPORT_NAME}.png")
    report = out / f"{REPORT_NAME}.md"
    report.write_text("\n".join(markdown_lines(result)) + "\n")
    return report


def markdown_lines(result: dict) -> list[str]:
    """The Markdown report, line by line."""
    context, population = result.get("context", {}), result["population"]
    thin = population["too_few_events"]
    return [
        "# Evaluation on labelled data, replayed through the job",
        "",
        f"Events `{context.get('events', '')}`, labels `{context.get('labels', '')}`, "
        f"model {', '.join(context.get('model_versions', [])) or 'n/a'} ({context.get('model_dir', '')}); "
        f"the replay took {context.get('replay_seconds', 'n/a')} s.",
        "",
        "A user's score is the highest the job gave any of their events. An alert is right when it is on an "
        "abused user at or after their onset; the delay runs from the onset to the first right alert. Each "
        "type's row sets that type's users against every normal user.",
        "",
        "## Who was judged",
        "",
        f"- labelled users: {population['labelled_users']:,}; judged: {population['judged_users']:,}",
        f"- fewer than {context.get('min_events', '?')} events scored by the job, not judged: "
        + _names([f"`{user}` ({count})" for user, count in thin.items()], "too_few_events", quoted=True),
        "- in the labels but not in the events: " + _names(population["not_in_events"], "not_in_events"),
        "- in the events but not in the labels: " + _names(population["not_in_labels"], "not_in_labels"),
        "",
        "## Figures",
        "",
        *figure_table(result),
        "",
        f"In brackets: {INTERVAL_LEVEL:.0%} bootstrap intervals over users. Recall at 0.1% / 1% FPR: the share "
        "of abused users above the score that flags at most that share of these normal users.",
        "",
        "## Alerts",
        "",
        "- false alerts (normal users, or abused users before their onset): "
        + _names(result["false_alerts"], "false_alerts"),
        "- abused users without a right alert: " + _names(result["missed"], "missed"),
        "",
        f"![scores]({REPORT_NAME}.png)",
    ]


def figure_table(result: dict) -> list[str]:
    """The figures as a Markdown table: all abused users, then each label type (also what the terminal shows)."""
    rows = {"all abused users": result["overall"]} | result["per_type"]
    return [
        "| label | " + " | ".join(FIGURES) + " |",
        "|---|" + "---:|" * len(FIGURES),
        *[f"| {name} | " + " | ".join(_cell(figures, k) for k in FIGURES) + " |" for name, figures in rows.items()],
    ]


def _names(names: list[str], key: str, quoted: bool = False) -> str:
    """``count: `name`, ...``: the first names, and how many more the JSON lists under ``key``.

    >>> _names(["u1", "u2"], "missed"), _names([], "missed")
    ('2: `u1`, `u2`', '0')
    """
    if not names:
        return "0"
    shown = ", ".join(name if quoted else f"`{name}`" for name in names[:NAMES_SHOWN])
    more = (
        f" and {len(names) - NAMES_SHOWN:,} more (all in {REPORT_NAME}.json, {key})" if len(names) > NAMES_SHOWN else ""
    )
    return f"{len(names):,}: {shown}{more}"


def _cell(figures: dict, name: str) -> str:
    value = figures.get(name)
    text = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
    return text + interval_text(figures.get(f"{name}_interval"))


def _plot(result: dict, path: Path) -> None:
    """PR curve per type and the score distributions of normal and abused users."""
    scores = np.asarray(result["user_scores"]["scores"], dtype=np.float64)
    types = np.asarray(result["user_scores"]["types"], dtype=object)
    normal = types == "normal"
    with saved_plot(path, figsize=(11, 4.2), ncols=2) as (_, (curves, spread)):
        for kind, figures in result["per_type"].items():
            keep = normal | (types == kind)
            if figures["pr_auc"] is not None:
                precision, recall, _ = precision_recall_curve(types[keep] == kind, scores[keep])
                curves.plot(recall, precision, label=f"{kind} (PR-AUC {figures['pr_auc']:.3f})")
        curves.set_xlabel("recall (abused users)")
        curves.set_ylabel("precision")
        curves.set_title("per label type against all normal users")
        if result["per_type"]:
            curves.legend(loc="lower left", fontsize=8)
        if len(scores):
            bins = np.linspace(scores.min(), scores.max() + 1e-9, 40)
            spread.hist(scores[normal], bins=bins, alpha=0.6, label="normal", log=True)
            spread.hist(scores[~normal], bins=bins, alpha=0.6, label="abused", log=True)
            spread.legend()
        spread.set_xlabel("user score (highest over their events)")
        spread.set_ylabel("users")
