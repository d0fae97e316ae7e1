"""The unseen-family figures in the evaluation report: first, with the seen figures beside them, and a plot.

:func:`unseen_lines` is the Markdown section (one row per family left out of training: recall at 0.1%
FPR and PR-AUC with their bootstrap intervals, blunt and subtle recall, each combiner, the seen
figures beside them); :func:`write_unseen_report` writes it to ``unseen.md`` with ``unseen_families.png``
and puts the same section at the top of ``evaluation.md``.

Example
-------
>>> row = {"recall_at_0.1pct_fpr": 0.5, "recall_at_0.1pct_fpr_interval": [0.2, 0.8], "pr_auc": 0.75,
...        "pr_auc_interval": None, "recall_blunt": 1.0, "recall_subtle": 0.0, "abused_users": 2}
>>> _cells(row)
['0.50 [0.20–0.80]', '0.750', '1.00', '0.00']
>>> _cells({**row, "blunt_users": 1, "subtle_users": 1})[2:]
['1.00 of 1', '0.00 of 1']
"""

from __future__ import annotations

from pathlib import Path

from shopguard.training.detection_metrics import interval_text
from shopguard.training.evaluation_unseen import COMBINERS, TARGETS
from shopguard.training.plots import saved_plot

SECTION_TITLE = "## Unseen families (each left out of everything that learns from labels)"


def unseen_lines(unseen: dict) -> list[str]:
    """The report's unseen-family section."""
    chosen, plan = unseen["combiner"], unseen["plan"]
    families = unseen["families"]
    lines = [
        SECTION_TITLE,
        "",
        f"For each family, the LSTM (and its type head), the logistic combiner and every threshold were fitted "
        f"again without that family's users, blunt and subtle, and judged on that family's test users against "
        f"every normal test user (returning shoppers' test period). `logistic_real` is that logistic fit then fitted "
        f'to real shoppers as `shopguard train` does with `training.decision = "logistic"` (a fixed rarity hinge and '
        f"a threshold real Taobao shoppers "
        f"respect, on half of them, scored with the fold's LSTM); `min_tail_real` the label-free candidate at "
        f"its real-shopper threshold, `fisher_real` Fisher's method over tails anchored on real populations "
        f"(rarity's and new_account's own, the LSTM's on real shoppers and capped; `fisher_real_no_lstm` without "
        f"the LSTM, what `shopguard train` writes by default) at its real-shopper threshold "
        f"(training/label_free_decision.py). Detectors that learn no "
        f"labels were scored once. The per-fold LSTM has {plan['hidden']} hidden units and {plan['epochs']} "
        f"epochs (`shopguard train`: 64 and 6) and learns from every abused and {plan['normal_share']:.0%} of "
        f"the normal one-visit users, on one thread; a smaller one ranks worse, so read the size with the figures. "
        f"The *seen* column's LSTM is "
        f"trained the same way with every family in training, so that the columns differ only by what was left "
        f"out. Headline combiner: `{chosen}`. Recall at 0.1% FPR: the cut is set on the test normal users; "
        f"in brackets 90% bootstrap intervals over users.",
        "",
        f"- unseen minimum recall at 0.1% FPR: **{_f2(unseen['unseen_min_recall'])}**; unseen mean PR-AUC: "
        f"**{_f3(unseen['unseen_mean_pr_auc'])}** (target {TARGETS['mean_pr_auc']}); seen combined PR-AUC over "
        f"every test user: {_f3(unseen.get('seen_pr_auc'))} (target {TARGETS['seen_pr_auc']}); real Taobao shoppers "
        f"alerted: {_pct(unseen.get('real_alert_share'))} (target at most 0.1%; measured on half of them, held out: "
        "the other half fits the shipped decision and the tail tables)",
        *[
            f"- `{name}`: unseen min recall {_f2(row['unseen_min_recall'])}, unseen mean PR-AUC "
            f"{_f3(row['unseen_mean_pr_auc'])}, seen mean PR-AUC per family {_f3(row['seen_mean_pr_auc'])}, "
            f"seen overall {_f3(row.get('seen_pr_auc'))}, "
            f"real Taobao shoppers alerted {_pct(row.get('real_alert_share'))}, families with blunt ≥ "
            f"{TARGETS['blunt_recall']} {row.get('blunt_met')}, "
            f"subtle ≥ {TARGETS['subtle_recall']} {row.get('subtle_met')}"
            for name, row in unseen["by_combiner"].items()
        ],
        *(
            [
                "- each detector alone, real Taobao shoppers (the measured half) at or above its own threshold "
                "(the alert rate of the validation period's normal users): "
                + ", ".join(f"`{name}` {_pct(share)}" for name, share in unseen["real_alert_share_alone"].items())
            ]
            if unseen.get("real_alert_share_alone")
            else []
        ),
        *(
            [
                f"- normal test users whose highest rarity passes the shipped rarity hinge's knee (lifted above "
                f"everyone else): {_pct(unseen['normal_users_past_rarity_knee'])}"
            ]
            if unseen.get("normal_users_past_rarity_knee") is not None
            else []
        ),
        "",
        f"| family left out | users | recall at 0.1% FPR | PR-AUC | blunt (≥ {TARGETS['blunt_recall']}) | "
        f"subtle (≥ {TARGETS['subtle_recall']}) | seen: recall / PR-AUC | "
        + " | ".join(f"{name} unseen: recall / PR-AUC" for name in COMBINERS if name != chosen)
        + " | LSTM alone unseen / seen PR-AUC | best label-free detector (PR-AUC) |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(COMBINERS) - 1) + "---:|---|",
    ]
    for family, row in families.items():
        seen = row["seen"][chosen]
        others = [row["combiners"][name] for name in COMBINERS if name != chosen]
        lstm_unseen = row["detectors"].get("lstm", {}).get("pr_auc")
        lstm_seen = row["detectors_seen"].get("lstm", {}).get("pr_auc")
        label_free = {k: v for k, v in row["detectors"].items() if k != "lstm"}
        best = max(label_free.items(), key=lambda item: item[1]["pr_auc"] or 0.0, default=None)
        lines.append(
            f"| {family} | {row['abused_users']} | "
            + " | ".join(_cells(row))
            + f" | {_f2(seen['recall_at_0.1pct_fpr'])} / {_f3(seen['pr_auc'])} | "
            + "".join(f"{_f2(o['recall_at_0.1pct_fpr'])} / {_f3(o['pr_auc'])} | " for o in others)
            + f"{_f3(lstm_unseen)} / {_f3(lstm_seen)} | "
            + (f"{best[0]} ({_f3(best[1]['pr_auc'])})" if best else "n/a")
            + " |"
        )
    lines += [
        "",
        *[
            f"- `{kind}`: {why}; reported in the ablation, not a target."
            for kind, why in unseen["not_measurable"].items()
        ],
        "",
        "![unseen families](unseen_families.png)",
        "",
    ]
    return lines


def write_unseen_report(unseen: dict, out_dir: str | Path) -> Path:
    """``unseen.md`` and ``unseen_families.png`` in ``out_dir``, and the section first in ``evaluation.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = unseen_lines(unseen)
    _plot(unseen, out / "unseen_families.png")
    path = out / "unseen.md"
    path.write_text("\n".join(["# Detection of unseen abuse families", "", *lines[1:]]))
    evaluation = out / "evaluation.md"
    if evaluation.is_file():
        title, _, rest = evaluation.read_text().partition("\n")
        evaluation.write_text("\n".join([title, "", *lines]) + rest)
    return path


def _cells(row: dict) -> list[str]:
    return [
        _f2(row["recall_at_0.1pct_fpr"]) + interval_text(row.get("recall_at_0.1pct_fpr_interval")),
        _f3(row["pr_auc"]) + interval_text(row.get("pr_auc_interval")),
        _f2(row["recall_blunt"]) + _of(row.get("blunt_users")),
        _f2(row["recall_subtle"]) + _of(row.get("subtle_users")),
    ]


def _of(users: int | None) -> str:
    """How many users a recall is a share of: with a handful, one user more or less moves it a lot."""
    return "" if users is None else f" of {users}"


def _pct(value) -> str:
    return "not measured" if value is None else f"{value:.3%}"


def _f2(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _f3(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _plot(unseen: dict, path: Path) -> None:
    """Per family: recall at 0.1% FPR left out (with its interval) beside seen, for the headline combiner."""
    import numpy as np

    chosen, families = unseen["combiner"], unseen["families"]
    names = list(families)
    x = np.arange(len(names))
    unseen_recall = [families[n]["recall_at_0.1pct_fpr"] or 0.0 for n in names]
    seen_recall = [families[n]["seen"][chosen]["recall_at_0.1pct_fpr"] or 0.0 for n in names]
    low = [r - (families[n]["recall_at_0.1pct_fpr_interval"] or [r, r])[0] for n, r in zip(names, unseen_recall)]
    high = [(families[n]["recall_at_0.1pct_fpr_interval"] or [r, r])[1] - r for n, r in zip(names, unseen_recall)]
    with saved_plot(path, figsize=(max(6, len(names) * 0.9), 4), dpi=110) as (_, ax):
        ax.bar(x - 0.2, seen_recall, 0.4, label="seen (every family in training)", color="#9ecae1")
        ax.bar(x + 0.2, unseen_recall, 0.4, yerr=[low, high], label="left out of training", color="#e6550d")
        ax.axhline(TARGETS["blunt_recall"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(x, names, rotation=35, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("recall at 0.1% FPR")
        ax.set_title(f"Unseen families ({chosen} combiner)")
        ax.legend(loc="lower left", fontsize=8)
