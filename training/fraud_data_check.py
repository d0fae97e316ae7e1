"""``shopguard evaluate --dataset fraud-data``: the real labelled check of issue 21, through the job.

Converts ``data.fraud_data_csv`` (:mod:`shopguard.training.fraud_data`), replays every account's
``signup`` and ``purchase`` in time order through ``shopguard detect`` and judges, per user, only one
half by signup time (:func:`~shopguard.training.labelled_replay.replay_labelled`), never the half
anything was fitted on. By default the later half is judged and the model folder serves as it is
(the shipped ``new_account`` tables are fitted on the earlier half). With ``half="earlier"`` the
earlier half is judged and the replay serves a copy of the model folder whose ``new_account.json`` is
fitted on the later half's normal accounts (:mod:`shopguard.training.new_account_calibration`).
Beside the job's figures it reports, on the same users, the one-line baselines
(:mod:`shopguard.training.fraud_data_baselines`) and the issue's targets: ROC-AUC at least
:data:`TARGET_ROC_AUC`, PR-AUC at least :data:`TARGET_PR_AUC`, and every purchase within 2 minutes of
signup on a shared device alerted.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

from shopguard.config import ShopguardConfig
from shopguard.training.detection_metrics import interval_text
from shopguard.training.fraud_data import Account, write_fraud_data
from shopguard.training.fraud_data_baselines import fast_purchase, fraud_data_baselines
from shopguard.training.labelled_replay import RING, replay_labelled
from shopguard.training.labelled_replay_report import figure_table

TARGET_ROC_AUC = 0.85
TARGET_PR_AUC = 0.70
MIN_EVENTS = 1  # an account has two events; one scored event is enough to judge it
HALVES = ("later", "earlier")


def evaluate_fraud_data(
    cfg: ShopguardConfig,
    model_dir: str | Path | None,
    report_dir: str | Path,
    progress: Callable[[str], None] = print,
    half: str = "later",
) -> dict:
    """Convert, replay, judge ``half`` (see the module docstring); the labelled-replay result with
    ``dataset``, ``baselines`` and ``targets`` added."""
    if half not in HALVES:
        raise ValueError(f"half {half!r}: one of {HALVES}")
    work = Path(report_dir) / "fraud-data"
    files = write_fraud_data(cfg.data.fraud_data_csv, work)
    fitted, reported = (files.earlier, files.later) if half == "later" else (files.later, files.earlier)
    labels = files.labels if half == "later" else files.earlier_labels
    if half == "earlier":
        model_dir = _refitted_copy(model_dir, fitted, work / "model-fitted-on-later-half")
    progress(
        f"Fraud_Data: {len(files.earlier) + len(files.later):,} accounts ({len(files.skipped)} unreadable rows "
        f"skipped); reporting the {half} half by signup time ({len(reported):,} accounts)"
    )
    result = replay_labelled(cfg, files.events, labels, model_dir, work / "replay", MIN_EVENTS, progress)
    result["dataset"] = {
        "name": "fraud-data",
        "csv": str(cfg.data.fraud_data_csv),
        "skipped_rows": {str(line): reason for line, reason in files.skipped.items()},
        "reported_half": half,
        "fitted_half": _half(fitted),
        "reported": _half(reported),
        "events": str(files.events),
    }
    result["baselines"] = fraud_data_baselines(fitted, reported)
    result["targets"] = targets(result, files.earlier + files.later, reported, _alerted(result))
    result["rings"] = ring_figures(result, reported)
    return result


def _refitted_copy(model_dir: str | Path | None, fitted: list[Account], out: Path) -> Path:
    """A copy of ``model_dir`` (None: the shipped default model) with ``new_account.json`` fitted on ``fitted``."""
    from shopguard.training.new_account_calibration import fit_new_account
    from shopguard.udfs.default_model import DEFAULT_MODEL_DIR

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(Path(model_dir) if model_dir else DEFAULT_MODEL_DIR, out)
    fit_new_account(
        fitted, f"Fraud_Data, later half by signup time: {sum(not a.fraud for a in fitted):,} normal accounts"
    ).write(out)
    return out


def _half(accounts: list[Account]) -> dict:
    return {
        "accounts": len(accounts),
        "fraud": sum(a.fraud for a in accounts),
        "first_signup_ms": min(a.signup_ms for a in accounts),
        "last_signup_ms": max(a.signup_ms for a in accounts),
        "fast_purchases": sum(fast_purchase(a) for a in accounts),
    }


def _alerts(result: dict) -> list[dict]:
    with Path(result["context"]["alerts"]).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _alerted(result: dict) -> set[str]:
    """Users with an alert of their own (ring alerts, about a device or IP, are counted apart)."""
    return {str(a["user_id"]) for a in _alerts(result) if a.get("alert_kind") != RING}


def ring_figures(result: dict, reported: list[Account]) -> dict:
    """The ring alerts of the replay: how many, the reported accounts they name and how many of those are fraud.

    >>> from shopguard.training.fraud_data import Account
    >>> rows = [Account("a", 0, 0, 1.0, "D", "", "", True), Account("b", 0, 0, 1.0, "D", "", "", False)]
    >>> alerts = [{"alert_kind": "ring", "entity_type": "device", "accounts": ["a", "b", "z"]}, {"user_id": "a"}]
    >>> ring_figures({"alerts_list": alerts}, rows)
    {'ring_alerts': 1, 'reported_accounts_named': 2, 'fraud_among_them': 1}
    """
    alerts = result["alerts_list"] if "alerts_list" in result else _alerts(result)
    rings = [a for a in alerts if a.get("alert_kind") == RING]
    fraud = {a.user_id: a.fraud for a in reported}
    named = {str(user) for ring in rings for user in ring.get("accounts", ()) if str(user) in fraud}
    return {
        "ring_alerts": len(rings),
        "reported_accounts_named": len(named),
        "fraud_among_them": sum(fraud[user] for user in named),
    }


def targets(result: dict, every: list[Account], reported: list[Account], alerted: set[str]) -> dict:
    """The issue's targets on the reported accounts, each with its figure and whether it holds.

    >>> from shopguard.training.fraud_data import Account
    >>> rows = [Account("a", 0, 0, 1.0, "D", "", "", True), Account("b", 0, 0, 1.0, "D", "", "", True)]
    >>> t = targets({"overall": {"roc_auc": 0.9, "pr_auc": 0.6}}, rows, rows, {"a"})
    >>> t["fast_on_shared_device_alerted"], [t[k]["met"] for k in ("roc_auc", "pr_auc")]
    ({'accounts': 2, 'alerted': 1, 'missed': ['b'], 'met': False}, [True, False])
    """
    on_device = Counter(a.device_id for a in every)
    fast_shared = [a.user_id for a in reported if fast_purchase(a) and on_device[a.device_id] > 1]
    missed = sorted(user for user in fast_shared if user not in alerted)
    overall = result["overall"]
    return {
        "roc_auc": {
            "target": TARGET_ROC_AUC,
            "value": overall["roc_auc"],
            "met": _at_least(overall["roc_auc"], TARGET_ROC_AUC),
        },
        "pr_auc": {
            "target": TARGET_PR_AUC,
            "value": overall["pr_auc"],
            "met": _at_least(overall["pr_auc"], TARGET_PR_AUC),
        },
        "fast_on_shared_device_alerted": {
            "accounts": len(fast_shared),
            "alerted": len(fast_shared) - len(missed),
            "missed": missed,
            "met": not missed,
        },
    }


def _at_least(value: float | None, target: float) -> bool:
    return value is not None and value >= target


def fraud_data_lines(result: dict) -> list[str]:
    """The Markdown (and terminal) section on Fraud_Data: halves, the job against the baselines, targets."""
    dataset, t = result["dataset"], result["targets"]
    fitted, reported, half = dataset["fitted_half"], dataset["reported"], dataset["reported_half"]
    fast = t["fast_on_shared_device_alerted"]
    return [
        f"## Fraud_Data: the job against one-line baselines ({half} half by signup time)",
        "",
        f"The other half (may be fitted on): {fitted['accounts']:,} accounts, {fitted['fraud']:,} fraud; "
        f"the {half} half (reported): {reported['accounts']:,} accounts, {reported['fraud']:,} fraud, "
        f"{reported['fast_purchases']:,} of them bought within 2 minutes of signup; "
        f"unreadable rows skipped: {len(dataset['skipped_rows'])}.",
        "",
        "| score | ROC-AUC | PR-AUC |",
        "|---|---:|---:|",
        f"| the job (highest score per user) | {_figure(result['overall'], 'roc_auc')} "
        f"| {_figure(result['overall'], 'pr_auc')} |",
        *[f"| {row['rule']} | {_figure(row, 'roc_auc')} | {_figure(row, 'pr_auc')} |" for row in result["baselines"]],
        "",
        "Targets (issue 21):",
        f"- ROC-AUC >= {TARGET_ROC_AUC}: {_verdict(t['roc_auc']['met'])}",
        f"- PR-AUC >= {TARGET_PR_AUC}: {_verdict(t['pr_auc']['met'])}",
        f"- every purchase within 2 minutes of signup on a shared device alerted: {fast['alerted']:,} of "
        f"{fast['accounts']:,} ({_verdict(fast['met'])})",
        "",
        f"Ring alerts (about a device or IP, not counted above): {result['rings']['ring_alerts']:,}, naming "
        f"{result['rings']['reported_accounts_named']:,} reported accounts, "
        f"{result['rings']['fraud_among_them']:,} of them fraud.",
    ]


def terminal_lines(result: dict) -> list[str]:
    return figure_table(result) + [""] + fraud_data_lines(result)


def _figure(figures: dict, name: str) -> str:
    value = figures.get(name)
    return ("n/a" if value is None else f"{value:.3f}") + interval_text(figures.get(f"{name}_interval"))


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def append_to_report(report: Path, result: dict) -> None:
    """Add the Fraud_Data section to the labelled-replay Markdown report."""
    with report.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(fraud_data_lines(result)) + "\n")
