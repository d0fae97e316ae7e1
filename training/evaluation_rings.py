"""Rings in the evaluation: simulated shoppers who share devices and networks as people do, and rings.

Per ring family (:data:`~shopguard.training.anomalies.RING_FAMILIES`) this measures

* **recall at 0.1% FPR** of the ``entities`` detector per account: each account's highest score against
  the normal shoppers' highest scores, with a bootstrap interval; beside it the baseline of the one-line
  rule "accounts on the same device in 24 h" (the account's highest ``device_accounts_24h``);
* the same with an account named by a ring alert counting as caught (score 1): what the job flags;
* **ring alerts**: the share of each ring's accounts that the ring alerts of its devices and IPs name
  (targets: recall >= 0.95, alerts naming >= 90% of each ring's accounts), and how many ring alerts named
  only normal shoppers.

Everything runs through the job's code: the figures and ring alerts by
:func:`~shopguard.training.entity_figures.replay_entities` (the job's sketch and ring watch, in event-time
order across users), the scores by the detector's tables (a model folder's ``entities.json``, else the
shipped defaults). The normal shoppers come from the simulator, which gives each shopper devices and an IP
of their own; :func:`share_like_people` then puts them on shared networks and devices in proportions that
are assumptions, not measurements (no data we hold shows how households and carriers share IPs): most on
an IP of their own, some in households of 2 to 5, some behind a few carrier NATs with hundreds each, and a
few families on one device. Figures from our own simulator are an upper bound.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.training.anomalies import RATING_RING, RING_FAMILIES, AnomalyLabel, inject_ring_family
from shopguard.training.detection_metrics import (
    INTERVAL_LEVEL,
    INTERVAL_RESAMPLES,
    TARGET_FPR,
    calibrate_threshold,
    recall_interval_at_fpr,
)
from shopguard.training.entity_figures import ENTITY_FIGURE_FIELDS, replay_entities, replay_items
from shopguard.udfs.entities_detector import EntityTables
from shopguard.udfs.entity_streams import ring_watch
from shopguard.udfs.events import Event
from shopguard.udfs.item_reviews import item_watch

DAY_MS = 86_400_000
RATING_RINGS_FACTOR = 3
"""Rating rings are blunt or subtle as a whole (the other families per account), and their target is on the blunt
ones: three times as many rings give each variant about as many accounts as another family has. They come last, so
the other families' rings are the same with or without them."""


@dataclass(frozen=True)
class SharingAssumptions:
    """How the simulated shoppers share networks and devices (assumptions; see the module docstring)."""

    household_share: float = 0.3  # shoppers in households of 2-5 on one IP
    carrier_share: float = 0.1  # shoppers behind one of the carrier NATs
    carriers: int = 3
    family_device_share: float = 0.05  # shoppers on a device shared with 1-2 others


def share_like_people(events: Sequence[Event], rng: np.random.Generator, assume: SharingAssumptions) -> list[Event]:
    """``events`` with their users moved onto shared IPs and devices (see :class:`SharingAssumptions`)."""
    users = sorted({e.user_id for e in events})
    rng.shuffle(users)
    ip_of: dict[str, str] = {}
    device_of: dict[str, str] = {}
    n_carrier = int(len(users) * assume.carrier_share)
    n_household = int(len(users) * assume.household_share)
    for k, user in enumerate(users[:n_carrier]):
        ip_of[user] = f"100.64.0.{k % assume.carriers + 1}"
    position = n_carrier
    while position < n_carrier + n_household:
        size = int(rng.integers(2, 6))
        for user in users[position : position + size]:
            ip_of[user] = f"192.168.{position // 256}.{position % 256}"
        position += size
    family = users[: int(len(users) * assume.family_device_share)]
    position = 0
    while position < len(family):
        size = int(rng.integers(2, 4))
        for user in family[position : position + size]:
            device_of[user] = f"family-tablet-{position}"
        position += size
    return [e._replace(ip=ip_of.get(e.user_id, e.ip), device_id=device_of.get(e.user_id, e.device_id)) for e in events]


def ring_traffic(
    normal: Sequence[Event], rings_per_family: int, seed: int
) -> tuple[list[Event], list[AnomalyLabel], dict[str, list[list[str]]]]:
    """``normal`` with ``rings_per_family`` rings of each family woven in (:data:`RATING_RINGS_FACTOR` times as many
    rating rings); their labels and each ring's accounts."""
    rng = np.random.default_rng(seed)
    start, end = min(e.ts_ms for e in normal), max(e.ts_ms for e in normal)
    events, labels, rings = list(normal), [], defaultdict(list)
    bought = sorted({e.item_id for e in normal if e.event_type == "purchase" and e.item_id})  # a rating ring's targets
    for family in RING_FAMILIES:
        for r in range(rings_per_family * (RATING_RINGS_FACTOR if family == RATING_RING else 1)):
            onset = int(rng.integers(start, max(start + 1, end - DAY_MS)))
            ring_events, ring_labels = inject_ring_family(family, onset, rng, prefix=f"{family}-{r}", items=bought)
            events += ring_events
            labels += ring_labels
            rings[family].append([label.user_id for label in ring_labels])
    return sorted(events, key=lambda e: e.ts_ms), labels, dict(rings)


def evaluate_rings(
    cfg: ShopguardConfig,
    normal: Sequence[Event],
    tables: EntityTables | None = None,
    rings_per_family: int = 20,
    seed: int = 0,
    assume: SharingAssumptions = SharingAssumptions(),
) -> dict:
    """The figures of the module docstring, as one JSON-ready dict."""
    tables = tables or EntityTables.default()
    shared = share_like_people(normal, np.random.default_rng(seed), assume)
    events, labels, rings = ring_traffic(shared, rings_per_family, seed + 1)
    watches = {t: ring_watch(t, cfg.entities, cfg.job) for t in ("device", "ip")}
    replay = replay_entities(events, watches)
    item_alerts = replay_items(events, item_watch(cfg.entities, cfg.job)) if cfg.entities.item_alerts else []
    scores = tables.score(replay.figures)
    device_accounts = replay.figures[:, ENTITY_FIGURE_FIELDS.index("device_accounts_24h")]
    family_of = {label.user_id: label.anomaly_type for label in labels}
    best_score, best_accounts = _user_max(events, scores), _user_max(events, device_accounts)
    normal_users = sorted({e.user_id for e in normal})
    by_items = {account for alert in item_alerts for account in alert["accounts"]}
    named = {account for alert in replay.ring_alerts for account in alert["accounts"]} | by_items
    false_alerts = [a for a in replay.ring_alerts if not set(a["accounts"]) & set(family_of)]
    result = {
        "normal_users": len(normal_users),
        "normal_events": len(normal),
        "rings_per_family": rings_per_family,
        "seed": seed,
        "tables": tables.source,
        "assumptions": assume.__dict__,
        "ring_alerts": len(replay.ring_alerts),
        "ring_alerts_naming_only_normal_users": len(false_alerts),
        "normal_users_named_in_ring_alerts": len(named & set(normal_users)),
        "item_alerts": len(item_alerts),
        "item_alerts_naming_only_normal_users": sum(1 for a in item_alerts if not set(a["accounts"]) & set(family_of)),
        "normal_users_named_in_item_alerts": len(by_items & set(normal_users)),
        "families": {},
    }
    normal_scores = np.array([best_score.get(u, 0.0) for u in normal_users])
    normal_accounts = np.array([best_accounts.get(u, 0.0) for u in normal_users])
    for family in RING_FAMILIES:
        accounts = [a for ring in rings[family] for a in ring]
        coverage = [len(set(ring) & named) / len(ring) for ring in rings[family]]
        result["families"][family] = {
            "rings": len(rings[family]),
            "accounts": len(accounts),
            "ring_sizes": [len(ring) for ring in rings[family]],
            "entities": _recall(normal_scores, np.array([best_score.get(a, 0.0) for a in accounts])),
            "entities_or_ring_alert": _recall(
                np.array([max(best_score.get(u, 0.0), float(u in named)) for u in normal_users]),
                np.array([max(best_score.get(a, 0.0), float(a in named)) for a in accounts]),
            ),
            "baseline_device_accounts_24h": _recall(
                normal_accounts, np.array([best_accounts.get(a, 0.0) for a in accounts])
            ),
            "ring_alert_coverage_mean": float(np.mean(coverage)),
            "ring_alert_coverage_interval": ring_interval(coverage, seed),
            "rings_named_90pct": float(np.mean([c >= 0.9 for c in coverage])),
            "rings_named_90pct_interval": ring_interval([float(c >= 0.9) for c in coverage], seed),
        }
    normal_by_items = np.array([float(u in by_items) for u in normal_users])
    for family, f in result["families"].items():
        if family != RATING_RING:
            continue
        variants = {"blunt": [], "subtle": []}
        for label in labels:
            if label.anomaly_type == family:
                variants["subtle" if label.subtle else "blunt"].append(float(label.user_id in by_items))
        f["item_alert"] = {v: _recall(normal_by_items, np.array(named_v)) for v, named_v in variants.items()}
    return result


def ring_interval(values: Sequence[float], seed: int) -> list[float] | None:
    """The 90% bootstrap interval of the mean of ``values`` (one per ring), resampling the rings.

    >>> ring_interval([1.0, 1.0, 1.0], 0)
    [1.0, 1.0]
    """
    if not len(values):
        return None
    values = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(values), size=(INTERVAL_RESAMPLES, len(values)))
    means = values[picks].mean(axis=1)
    tail = (1.0 - INTERVAL_LEVEL) / 2
    return [round(float(np.quantile(means, tail)), 3), round(float(np.quantile(means, 1.0 - tail)), 3)]


def _user_max(events: Sequence[Event], values: np.ndarray) -> dict[str, float]:
    best: dict[str, float] = {}
    for event, value in zip(events, np.nan_to_num(values, nan=0.0)):
        if value > best.get(event.user_id, -np.inf):
            best[event.user_id] = float(value)
    return best


def _recall(normal: np.ndarray, abused: np.ndarray) -> dict:
    threshold = calibrate_threshold(normal, TARGET_FPR)
    return {
        "recall_at_0.1pct_fpr": float(np.mean(abused >= threshold)) if len(abused) else None,
        "interval": recall_interval_at_fpr(normal, abused),
        "threshold": threshold,
    }


def report_lines(result: dict) -> list[str]:
    """The rings section of the report, in Markdown."""
    lines = [
        "## Rings (entity streams)",
        "",
        f"{result['normal_users']:,} simulated shoppers sharing IPs and devices as assumed "
        f"({result['assumptions']}), {result['rings_per_family']} rings per family "
        f"({RATING_RINGS_FACTOR * result['rings_per_family']} rating rings); tables: {result['tables']}. "
        "Simulator figures: an upper bound.",
        "",
        "| family | rings (accounts) | entities recall @0.1% FPR [interval] | entities or named by a ring alert "
        "| baseline: device accounts 24 h | share of a ring's accounts its alerts name (mean) | rings >= 90% named |",
        "|---|---|---|---|---|---|---|",
    ]
    for family, f in result["families"].items():
        entities, baseline = f["entities"], f["baseline_device_accounts_24h"]
        system = f["entities_or_ring_alert"]
        lines.append(
            f"| {family} | {f['rings']} ({f['accounts']}) | {entities['recall_at_0.1pct_fpr']:.3f} "
            f"{_interval(entities['interval'])} | {system['recall_at_0.1pct_fpr']:.3f} {_interval(system['interval'])} "
            f"| {baseline['recall_at_0.1pct_fpr']:.3f} "
            f"{_interval(baseline['interval'])} | {f['ring_alert_coverage_mean']:.3f} "
            f"{_interval(f.get('ring_alert_coverage_interval'))} | {f['rings_named_90pct']:.3f} "
            f"{_interval(f.get('rings_named_90pct_interval'))} |"
        )
    lines += [
        "",
        "Named by an item alert (rating manipulation: a group giving one item the same extreme rating), recall at "
        "0.1% FPR per account [interval], blunt (no purchase) / subtle (bought first):",
        "",
        "| family | blunt | subtle |",
        "|---|---|---|",
    ]
    for family, f in result["families"].items():
        if "item_alert" not in f:
            continue
        cells = [
            f"{r['recall_at_0.1pct_fpr']:.3f} {_interval(r['interval'])}"
            if r["recall_at_0.1pct_fpr"] is not None
            else "-"
            for r in (f["item_alert"]["blunt"], f["item_alert"]["subtle"])
        ]
        lines.append(f"| {family} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        f"Item alerts: {result['item_alerts']}; naming only normal shoppers: "
        f"{result['item_alerts_naming_only_normal_users']}; normal shoppers named in an item alert: "
        f"{result['normal_users_named_in_item_alerts']}.",
    ]
    lines += [
        "",
        f"Ring alerts: {result['ring_alerts']}; naming only normal shoppers: "
        f"{result['ring_alerts_naming_only_normal_users']}; normal shoppers named in a ring alert: "
        f"{result['normal_users_named_in_ring_alerts']} of {result['normal_users']:,}.",
    ]
    if result.get("other_seeds"):
        lines += ["", *seed_lines([result, *result["other_seeds"]])]
    return lines


def seed_lines(results: Sequence[dict]) -> list[str]:
    """One row per simulation (seed) and family: recall (entities or named), share named, rings >= 90% named."""
    lines = [
        "Across simulations (shoppers, their sharing and the rings drawn with each seed):",
        "",
        "| seed | family | entities or named by a ring alert @0.1% FPR | share of a ring's accounts named (mean) "
        "| rings >= 90% named | normal shoppers named in a ring alert |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for family, f in result["families"].items():
            system = f["entities_or_ring_alert"]
            lines.append(
                f"| {result['seed']} | {family} | {system['recall_at_0.1pct_fpr']:.3f} {_interval(system['interval'])} "
                f"| {f['ring_alert_coverage_mean']:.3f} {_interval(f.get('ring_alert_coverage_interval'))} "
                f"| {f['rings_named_90pct']:.2f} {_interval(f.get('rings_named_90pct_interval'))} "
                f"| {result['normal_users_named_in_ring_alerts']} |"
            )
    return lines


def _interval(bounds) -> str:
    return f"[{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else ""


def simulated_shoppers(cfg: ShopguardConfig, users: int, days: float, seed: int) -> list[Event]:
    """Normal shoppers from the simulator calibrated on the real Taobao slice (``data.taobao_csv``)."""
    from shopguard.training.behaviour_stats import measure_behaviour
    from shopguard.training.evaluation_data import real_events
    from shopguard.training.simulator import ShopperSimulator

    real = real_events(cfg)
    start = min(e.ts_ms for e in real)
    return ShopperSimulator(measure_behaviour(real)).simulate(users, start, int(days * DAY_MS), seed)


RING_SHOPPERS, RING_DAYS, RING_SEED = 3000, 3.0, 0
"""The simulated population of ``shopguard evaluate``'s rings section."""


def evaluate_and_report(
    cfg: ShopguardConfig, model_dir: str | None, report_dir, progress=print, seeds: Sequence[int] = ()
) -> dict:
    """The rings section of ``shopguard evaluate``: figures to ``rings.md`` and returned (key ``rings``).

    The detector's tables are the model folder's ``entities.json``, else the shipped defaults. ``seeds``: the same
    figures on other simulations (shoppers, sharing and rings drawn with each seed), key ``other_seeds``."""
    from pathlib import Path

    tables = EntityTables.read(model_dir) if model_dir else None
    result = {}
    for seed in (RING_SEED, *(s for s in seeds if s != RING_SEED)):
        progress(f"rings, seed {seed}: {RING_SHOPPERS:,} simulated shoppers over {RING_DAYS:g} days and rings")
        normal = simulated_shoppers(cfg, RING_SHOPPERS, RING_DAYS, seed)
        figures = evaluate_rings(cfg, normal, tables, seed=seed)
        if seed == RING_SEED:
            result = figures
        else:
            result.setdefault("other_seeds", []).append(figures)
    result["command"] = "shopguard evaluate --rings-only" + (f" --seeds {','.join(map(str, seeds))}" if seeds else "")
    Path(report_dir).mkdir(parents=True, exist_ok=True)
    (Path(report_dir) / "rings.md").write_text("\n".join(report_lines(result)) + "\n")
    return result
