"""``shopguard bench --sweep``: the job's latency at a ladder of offered loads, in one warm job.

The full benchmark times one heavy load and two lighter ones. Choosing a deployment (how many events
per second one job may take, which ``job.bundle_time_ms``) needs the whole curve: where the job keeps
up with p99 under a target, and where it starts to fall behind. The sweep starts one job on a backlog
(its drain warms up the Python workers and the JIT compiler, and gives the warm drain rate), then
offers each load in turn, spread over as many shoppers as the load needs for a shopper's pace
(:func:`~shopguard.bench.job.shoppers_for`), with at-least-once sinks so that the latency is the
job's own (:func:`~shopguard.bench.job.job_latency`). It writes ``sweep.md``, ``sweep.json`` and
``sweep.png`` (every scored event's latency over each offer).

Example: the curve at the default bundle time and at 30 ms, for comparison::

    shopguard bench --sweep 200,500,1000,1500,2500 --model DIR --out reports/sweep-100
    shopguard bench --sweep 200,500,1000,1500,2500 --model DIR --out reports/sweep-30 --set job.bundle_time_ms=30
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shopguard.bench.job import job_latency
from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.kafka_broker import LocalKafkaBroker
from shopguard.udfs.scoring import ModelCard

FALLING_BEHIND_GROWTH = 2.0
FALLING_BEHIND_MIN_MS = 500.0
"""An offer the job did not keep up with: the median latency of the offer's last fifth is more than
twice that of its first fifth and at least 500 ms above it. A job that keeps up has a flat latency
through the offer; one behind the offered rate queues, and its latency grows with the offer's time."""


@dataclass(frozen=True)
class SweepPlan:
    """The offered loads (events/s), how long each is offered, and the backlog that warms the job up."""

    loads: tuple[float, ...]
    seconds: float = 20.0
    warm_up_events: int = 40_000
    users: int = 2_000  # the backlog's users, and the fewest shoppers an offer spreads over

    def __post_init__(self) -> None:
        if not self.loads or any(load <= 0 for load in self.loads):
            raise ShopguardError(
                f"--sweep {','.join(f'{load:g}' for load in self.loads)}: give one or more "
                "offered loads in events/s, each above 0, e.g. --sweep 200,500,1000"
            )
        if self.seconds <= 0:
            raise ShopguardError(f"--sweep-seconds {self.seconds:g}: give how long each load is offered, above 0")
        if self.warm_up_events < 1_000:
            raise ShopguardError(
                f"--warm-up-events {self.warm_up_events}: give 1000 or more (the drain rate needs "
                "several readings of the job's counter)"
            )


def parse_loads(text: str) -> tuple[float, ...]:
    """The loads of ``--sweep``: comma-separated events/s.

    >>> parse_loads("200, 500,1e3")
    (200.0, 500.0, 1000.0)
    >>> parse_loads("200,fast")
    Traceback (most recent call last):
    ...
    shopguard.errors.ShopguardError: --sweep 200,fast: 'fast' is not a number of events/s;
    give e.g. --sweep 200,500,1000
    """
    loads = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        try:
            loads.append(float(part))
        except ValueError:
            raise ShopguardError(
                f"--sweep {text}: {part!r} is not a number of events/s; give e.g. --sweep 200,500,1000"
            ) from None
    return tuple(loads)


def run_latency_sweep(
    cfg: ShopguardConfig, model_dir: Path, plan: SweepPlan, out_dir: Path, progress: Callable[[str], None] = print
) -> dict:
    """Offer each of ``plan.loads`` to one warm job serving ``model_dir``; the figures (also written to ``out_dir``)."""
    card = ModelCard.read(model_dir / "card.json")  # a folder that is no model fails here, not in the job
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, model_path=str(model_dir)))
    with LocalKafkaBroker(cfg).running():
        progress(
            f"latency sweep: {len(plan.loads)} offers of {plan.seconds:g} s each after a drain of "
            f"{plan.warm_up_events:,} events, parallelism {cfg.job.parallelism}"
        )
        measured = job_latency(
            cfg,
            plan.loads,
            plan.seconds,
            plan.users,
            out_dir,
            warm_up_events=plan.warm_up_events,
            parallelism=cfg.job.parallelism,
            progress=progress,
        )
    figures = sweep_figures(cfg, card.model_version, plan, measured)
    write_sweep_report(figures, out_dir)
    return figures


def sweep_figures(cfg: ShopguardConfig, model_version: str, plan: SweepPlan, measured: dict) -> dict:
    """What ``sweep.json`` holds: the settings that shape latency, the warm drain, and one row per offer."""
    return {
        "model_version": model_version,
        "parallelism": cfg.job.parallelism,
        "bundle_time_ms": cfg.job.bundle_time_ms,
        "buffer_timeout_ms": cfg.job.buffer_timeout_ms,
        "offer_seconds": plan.seconds,
        "warm_up_events": plan.warm_up_events,
        "warm_up_eps": measured["warm_up"]["eps"],
        "offers": [_offer_row(run) for run in measured["loads"]],
        "latency_over_time": [
            {"offered_eps": run["offered_eps"], "points": run["over_time"]} for run in measured["loads"]
        ],
    }


def _offer_row(run: dict) -> dict:
    fifths = fifths_p50(run["over_time"])
    return {
        **{
            key: run[key]
            for key in (
                "offered_eps",
                "shoppers",
                "sent",
                "scored",
                "latency_p50_ms",
                "latency_p95_ms",
                "latency_p99_ms",
            )
        },
        **fifths,
        "kept_up": kept_up(run["scored"], run["sent"], fifths),
    }


def fifths_p50(points: list[list[float]]) -> dict:
    """Median latency of the first and of the last fifth of an offer, from ``[seconds, latency ms]`` points.

    >>> fifths_p50([[0, 100], [1, 120], [2, 150], [3, 400], [4, 900], [5, 1000]])
    {'first_fifth_p50_ms': 110.0, 'last_fifth_p50_ms': 950.0}
    """
    end = max(point[0] for point in points)
    first = [latency for second, latency in points if second <= end / 5]
    last = [latency for second, latency in points if second >= end * 4 / 5]
    return {"first_fifth_p50_ms": float(statistics.median(first)), "last_fifth_p50_ms": float(statistics.median(last))}


def kept_up(scored: int, sent: int, fifths: dict) -> bool:
    """Whether the job kept up with an offer: every event scored, and latency flat through it (``fifths``
    from :func:`fifths_p50`; see :data:`FALLING_BEHIND_GROWTH`).

    >>> flat = fifths_p50([[0, 180], [10, 200], [20, 190]])
    >>> growing = fifths_p50([[0, 300], [10, 2000], [20, 6000]])
    >>> kept_up(10, 10, flat), kept_up(10, 10, growing), kept_up(9, 10, flat)
    (True, False, False)
    """
    if scored < sent:
        return False
    first, last = fifths["first_fifth_p50_ms"], fifths["last_fifth_p50_ms"]
    return not (last > FALLING_BEHIND_GROWTH * first and last - first >= FALLING_BEHIND_MIN_MS)


def sweep_table(figures: dict) -> list[str]:
    """The report's table, one row per offer.

    >>> figures = {"offers": [{"offered_eps": 1000.0, "shoppers": 20000, "sent": 20000, "scored": 20000,
    ...             "latency_p50_ms": 196.2, "latency_p95_ms": 324.0, "latency_p99_ms": 401.4,
    ...             "first_fifth_p50_ms": 190.0, "last_fifth_p50_ms": 201.0, "kept_up": True}]}
    >>> print("\\n".join(sweep_table(figures)))
    | offered events/s | shoppers | scored / sent | p50 ms | p95 ms | p99 ms | p50 first → last fifth | kept up |
    |---|---|---|---|---|---|---|---|
    | 1,000 | 20,000 | 20,000 / 20,000 | 196 | 324 | 401 | 190 → 201 | yes |
    """
    rows = [
        f"| {o['offered_eps']:,.0f} | {o['shoppers']:,} | {o['scored']:,} / {o['sent']:,} | "
        f"{o['latency_p50_ms']:,.0f} | {o['latency_p95_ms']:,.0f} | {o['latency_p99_ms']:,.0f} | "
        f"{o['first_fifth_p50_ms']:,.0f} → {o['last_fifth_p50_ms']:,.0f} | "
        f"{'yes' if o['kept_up'] else 'no: falling behind'} |"
        for o in figures["offers"]
    ]
    return [
        "| offered events/s | shoppers | scored / sent | p50 ms | p95 ms | p99 ms | p50 first → last fifth | kept up |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def write_sweep_report(figures: dict, out_dir: Path) -> None:
    """``sweep.json``, ``sweep.md`` and ``sweep.png`` in ``out_dir``."""
    from shopguard.bench.benchmark import plot_latency_over_time

    (out_dir / "sweep.json").write_text(json.dumps(figures, indent=1) + "\n")
    plot_latency_over_time(figures["latency_over_time"], out_dir / "sweep.png")
    lines = [
        f"# shopguard latency sweep ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Model {figures['model_version']}; one job at parallelism {figures['parallelism']}, "
        f"`job.bundle_time_ms` {figures['bundle_time_ms']}, `job.buffer_timeout_ms` {figures['buffer_timeout_ms']}, "
        "at-least-once sinks. It first drained a backlog of "
        f"{figures['warm_up_events']:,} events at {figures['warm_up_eps']:,.0f} events/s (warm-up), then took "
        f"each load for {figures['offer_seconds']:g} s, the next once every event of the last was scored.",
        "",
        *sweep_table(figures),
        "",
        "Kept up: every offered event scored, and the median latency of the offer's last fifth not more than "
        f"twice that of its first fifth (or less than {FALLING_BEHIND_MIN_MS:.0f} ms above it).",
        "",
        "![latency over each offer](sweep.png)",
        "",
    ]
    (out_dir / "sweep.md").write_text("\n".join(lines))
