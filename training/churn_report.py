"""``shopguard evaluate``'s churn section: the churn rule and its baseline on simulated drifting customers.

:func:`evaluate_churn` simulates returning shoppers (calibrated on the Taobao slice where it can be),
writes churn into their timelines (:mod:`~shopguard.training.churn_simulation`, assumptions stated
there), runs the job's churn rule (``cfg.churn``) and the fixed 14-day baseline, and returns the JSON
body (key ``churn`` of ``evaluation.json``); :func:`write_churn_report` writes ``churn.md``.

Would the rule still work if customers kept another pace? The same churn is also written into a slower
and a faster population (:data:`PACES`: the returning shoppers' visits a week and longest absence changed,
nothing else), and both rules run there too (key ``pace``): a rule fitted to one pace flags the steady
customers of another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from shopguard.config import ShopguardConfig
from shopguard.training.behaviour_stats import measure_behaviour
from shopguard.training.churn_evaluation import FIXED_SILENCE_RULE, TARGET_PRECISION, TARGET_RECALL, figures, outcomes
from shopguard.training.churn_simulation import ChurnAssumptions, simulate_churn
from shopguard.training.evaluation_data import real_events
from shopguard.training.returning_shoppers import DAY_MS, HabitAssumptions, ReturningShopperSimulator

CHURN_USERS = 3000
CHURN_DAYS = 112.0
PACES = {
    "slower": HabitAssumptions(visits_per_week_median=0.6, max_absence_days=20.0),
    "faster": HabitAssumptions(visits_per_week_median=6.0, max_absence_days=3.0),
}
"""Other populations the rules also run on: a visit every 12 days (median, absences up to 20 days), or 6 a week."""
RULES = ("rule", "baseline_fixed_14_days")


def evaluate_churn(
    cfg: ShopguardConfig,
    progress: Callable[[str], None] = print,
    users: int = CHURN_USERS,
    days: float = CHURN_DAYS,
    seed: int | None = None,
) -> dict[str, Any]:
    """The churn figures of ``cfg.churn`` and of the fixed-silence baseline (see the module docstring)."""
    seed = cfg.training.seed if seed is None else seed
    assume = ChurnAssumptions()
    real = real_events(cfg)
    start, stats = min(e.ts_ms for e in real), measure_behaviour(real)
    until = start + int(days * DAY_MS)
    rules = dict(zip(RULES, (cfg.churn, FIXED_SILENCE_RULE)))
    body: dict[str, Any] = {
        "data": f"returning shoppers users={users} days={days:g} seed={seed}; churn assumed ({assume})",
        "real_histories": "none: no data held here has multi-week histories of real customers",
        "rule_version": cfg.churn.rule_version,
        "target_recall": TARGET_RECALL,
        "target_precision": TARGET_PRECISION,
        "pace": {},
    }
    for pace, habits in {"as simulated": None, **PACES}.items():
        progress(f"churn: simulating {users:,} returning shoppers over {days:g} days ({pace}), some leaving (assumed)")
        events, truth = simulate_churn(ReturningShopperSimulator(stats, habits), users, start, days, seed, assume)
        for name, settings in rules.items():
            progress(f"churn: running {name} ({pace})")
            result = figures(
                outcomes(settings, events, truth, until, cfg.job.alert_update_min_gain), assume.lost_after_days, seed
            )
            if habits is None:
                body[name] = result
            else:
                body["pace"].setdefault(pace, {"habits": str(habits)})[name] = {
                    point: result[point] for point in ("at_open", "at_target")
                }
    return body


def write_churn_report(body: dict[str, Any], report_dir: Path) -> Path:
    """``churn.md``: the figures of :func:`evaluate_churn` for people."""
    lines = [
        "# Churn risk (simulated: no multi-week real histories here)",
        "",
        f"Data: {body['data']}.",
        "Lead time: last visit minus the first signal, in days (negative: the signal came after the last visit). "
        "Days before lost: the last visit plus 28 days (the inactivity rule) minus the first signal.",
        "",
        "| rule | min score | flagged | precision | recall | median lead (days) | signalled before the last visit"
        " | median days before lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in RULES:
        for row in body[name]["at_score"]:
            lines.append(
                f"| {name} | {row['min_score']:.4f} | {row['flagged']} | {_f(row['precision'])} | "
                f"{_f(row['recall'])} | "
                f"{_f(row['median_lead_days'])} | {_f(row['share_before_last_visit'])} | "
                f"{_f(row['median_days_before_lost'])} |"
            )
    lines += [
        "",
        "When signals open (score >= 0.5), at the highest score still reaching recall "
        f"{body['target_recall']}, and at the lowest score with precision >= {body['target_precision']} and recall "
        f">= {body['target_recall']} (at_target), with 95% bootstrap intervals over customers:",
        "",
    ]
    for name in RULES:
        for point in ("at_open", "at_target_recall", "at_target"):
            row, intervals = body[name].get(point), body[name].get(f"{point}_intervals", {})
            if row:
                lines.append(
                    f"- {name} {point} (score >= {row['min_score']:g}): precision {_f(row['precision'])} "
                    f"{_i(intervals.get('precision'))}, recall {_f(row['recall'])} {_i(intervals.get('recall'))}, "
                    f"median lead {_f(row['median_lead_days'])} days {_i(intervals.get('median_lead_days'))}, "
                    f"median days before lost {_f(row['median_days_before_lost'])} "
                    f"{_i(intervals.get('median_days_before_lost'))}"
                )
    lines += [
        "",
        "By way of leaving or staying (rule): customers; share flagged and median lead (days) per min score",
        "",
    ]
    rows = body["rule"]["at_score"]
    lines += ["| kind | customers | " + " | ".join(f"{row['min_score']:g}" for row in rows) + " |"]
    lines += ["|---|---:|" + "---:|" * len(rows)]
    for kind, first in rows[0]["by_kind"].items():
        cells = [
            f"{_f(row['by_kind'][kind]['flagged_share'])} / {_f(row['by_kind'][kind]['median_lead_days'])}"
            for row in rows
        ]
        lines.append(f"| {kind} | {first['customers']} | " + " | ".join(cells) + " |")
    lines += ["", *_pace_lines(body)]
    path = Path(report_dir) / "churn.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _pace_lines(body: dict[str, Any]) -> list[str]:
    """The same churn in a slower and a faster population: when signals open and at the target."""
    lines = [
        "The same churn written into other populations (only their pace changed): share of customers who stay "
        "flagged, precision, recall, median days before lost",
        "",
        "| population | rule | at open: stays flagged | precision | recall | days before lost | at target: min score "
        "| precision | recall | days before lost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for pace, rules in body.get("pace", {}).items():
        for name in RULES:
            opened, target = rules[name]["at_open"] or {}, rules[name]["at_target"] or {}
            stays = opened.get("by_kind", {}).get("stays", {}).get("flagged_share")
            lines.append(
                f"| {pace} | {name} | {_f(stays)} | {_f(opened.get('precision'))} | {_f(opened.get('recall'))} | "
                f"{_f(opened.get('median_days_before_lost'))} | {_f(target.get('min_score'))} | "
                f"{_f(target.get('precision'))} | {_f(target.get('recall'))} | "
                f"{_f(target.get('median_days_before_lost'))} |"
            )
    return lines


def terminal_lines(body: dict[str, Any]) -> list[str]:
    """For the terminal: the rule and the baseline when signals open, at the target recall and at the target."""
    out = []
    for name in RULES:
        for point in ("at_open", "at_target_recall", "at_target"):
            row = body[name].get(point) or {}
            out.append(
                f"churn {name} {point} (score >= {_f(row.get('min_score'))}): precision {_f(row.get('precision'))} "
                f"recall {_f(row.get('recall'))} median lead {_f(row.get('median_lead_days'))} d "
                f"(before lost {_f(row.get('median_days_before_lost'))} d)"
            )
    return out


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _i(bounds) -> str:
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else ""
