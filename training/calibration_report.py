"""The simulator's calibration report: real and simulated normal behaviour, side by side.

Simulated users also log in, mistype passwords and have failed payments (the real slice shows none of
that); those event types are left out of the comparison and listed as assumptions, so that each
figure in the table compares like with like.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from shopguard.training.behaviour_stats import BehaviourStats, by_user, measure_behaviour
from shopguard.training.plots import saved_plot
from shopguard.training.simulator import ContextAssumptions
from shopguard.udfs.events import Event


def gaps_s(events: Sequence[Event]) -> np.ndarray:
    """Seconds between each user's consecutive events."""
    return np.array(
        [(b.ts_ms - a.ts_ms) / 1000.0 for history in by_user(events).values() for a, b in zip(history, history[1:])]
    )


def comparison_rows(real: BehaviourStats, simulated: BehaviourStats) -> list[tuple[str, float, float, str]]:
    """``(figure, real, simulated, relative difference)`` for every headline figure."""
    rows = []
    r, s = real.summary(), simulated.summary()
    for name in r:
        if name in ("users", "events"):
            continue
        difference = (s.get(name, 0.0) - r[name]) / r[name] if r[name] else float("nan")
        rows.append((name, r[name], s.get(name, 0.0), f"{difference:+.1%}"))
    return rows


def write_calibration_report(
    real_events: Sequence[Event],
    simulated_events: Sequence[Event],
    out_dir: str | Path,
    real_name: str,
    assumptions: ContextAssumptions,
) -> Path:
    """Write ``calibration.md``, ``calibration.json`` and three PNG plots into ``out_dir``; return the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    real = measure_behaviour(real_events)
    comparable = [e for e in simulated_events if e.event_type in real.behaviour_mix]
    simulated = measure_behaviour(comparable)
    extra_types = sorted({e.event_type for e in simulated_events} - set(real.behaviour_mix))
    _plot_gaps(gaps_s(real_events), gaps_s(comparable), out / "gaps.png")
    _plot_events_per_user(real, simulated, out / "events_per_user.png")
    _plot_mix(real, simulated, out / "behaviour_mix.png")
    (out / "calibration.json").write_text(
        json.dumps(
            {"real": asdict(real), "simulated": asdict(simulated), "assumptions": asdict(assumptions)},
            indent=1,
            default=str,
        )
        + "\n"
    )
    lines = [
        "# Simulator calibration",
        "",
        f"Real: {real_name} ({real.users:,} users, {real.events:,} events). "
        f"Simulated: {simulated.users:,} users, {simulated.events:,} events of the same types "
        f"(plus {len(simulated_events) - len(comparable):,} events of types the real data does not have: "
        f"{', '.join(extra_types) or 'none'}).",
        "",
        "| figure | real | simulated | difference |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {r:g} | {s:g} | {d} |" for name, r, s, d in comparison_rows(real, simulated)],
        "",
        "![time between a user's events](gaps.png) ![events per user](events_per_user.png) "
        "![behaviour mix](behaviour_mix.png)",
        "",
        "## Assumptions (not in the real data, not calibrated)",
        "",
        *[f"- `{key}` = {value}" for key, value in asdict(assumptions).items()],
        "",
        "Caveat: the Taobao slice covers two hours and holds a sample of each user's events, so its "
        "users look sparse (median one event); the simulator reproduces that sparsity unless asked for "
        "longer histories.",
    ]
    report = out / "calibration.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _plot_gaps(real: np.ndarray, simulated: np.ndarray, path: Path) -> None:
    with saved_plot(path, figsize=(6, 4)) as (_, ax):
        for gaps, label in ((real, "real"), (simulated, "simulated")):
            if len(gaps):
                ordered = np.sort(np.maximum(gaps, 0.1))
                ax.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=label)
        ax.set_xscale("log")
        ax.set_xlabel("seconds between a user's consecutive events")
        ax.set_ylabel("share of gaps at or below")
        ax.legend()


def _plot_events_per_user(real: BehaviourStats, simulated: BehaviourStats, path: Path) -> None:
    top = 20
    x = np.arange(1, top + 1)
    with saved_plot(path, figsize=(6, 4)) as (_, ax):
        for offset, (stats, label) in zip((-0.2, 0.2), ((real, "real"), (simulated, "simulated"))):
            shares = np.array([stats.events_per_user.get(int(k), 0) for k in x]) / max(stats.users, 1)
            ax.bar(x + offset, shares, width=0.4, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("events per user")
        ax.set_ylabel("share of users")
        ax.legend()


def _plot_mix(real: BehaviourStats, simulated: BehaviourStats, path: Path) -> None:
    kinds = sorted(real.behaviour_mix)
    x = np.arange(len(kinds))
    with saved_plot(path, figsize=(6, 4)) as (_, ax):
        ax.bar(x - 0.2, [real.behaviour_mix[k] for k in kinds], width=0.4, label="real")
        ax.bar(x + 0.2, [simulated.behaviour_mix.get(k, 0.0) for k in kinds], width=0.4, label="simulated")
        ax.set_xticks(x, kinds)
        ax.set_yscale("log")
        ax.set_ylabel("share of events")
        ax.legend()
