"""What the churn watch costs per event, in one process: the user step with and without churn facts, and the churn step.

The churn watch adds two things to the job's per-event Python: the user step
(:class:`~shopguard.udfs.user_history.TrackUserHistory`) decides for every event whether it is a churn fact
and sends one for a visit start, a purchase or a refund request (and a tick now and then); the churn step
(:class:`~shopguard.udfs.churn_step.WatchChurn`) reads and writes the user's churn record, registers an
event-time timer and fires the timers the watermark passes. :func:`measure` times, in each of ``repeats``
rounds and interleaved so that both see the same machine, the user step with the churn watch off and on over
the same records, then the churn step over the facts the second run sent (its timers fired as the watermark
passes them, ``job.max_out_of_orderness_ms`` behind the newest fact). Times are CPU seconds of this process
(``time.process_time``) per input event, medians of the rounds, as in :mod:`shopguard.bench.hot_path`.

Not in these figures: PyFlink's share (the facts crossing to Java and back to the churn step, Flink's timer
service and state backend); the full ``shopguard bench`` measures the job as a whole.

The workload is returning shoppers (:func:`visit_events`): ``users`` shoppers who each come every few days
for a visit of ``per_visit`` events, so one event in ``per_visit`` starts a visit. In the benchmark's own
traffic (``--workload bench``) a user's events are seconds to minutes apart, so nearly none is a churn fact.
``python -m shopguard.bench.churn_cost --model DIR`` prints the figures; ``user_step_churn_extra_us`` is the
median over rounds of (with - without), the two runs of a round back to back.

Example
-------
>>> events = visit_events(events=24, users=2, per_visit=3)
>>> sorted({(e.user_id, (e.ts_ms - T0) // DAY_MS) for e in events})  # the days of their visits
[('shopper-0', 0), ('shopper-0', 1), ('shopper-0', 2), ('shopper-0', 3), ('shopper-1', 0), ('shopper-1', 2), \
('shopper-1', 4), ('shopper-1', 6)]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from statistics import median
from typing import Sequence

from shopguard.bench.hot_path import KeyedValues, _RuntimeContext, open_keyed_step
from shopguard.bench.workload import T0, as_records, bench_events
from shopguard.config import ShopguardConfig, load_config
from shopguard.udfs.churn_step import CHURN_FACTS, WatchChurn
from shopguard.udfs.events import Event
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.user_history import TrackUserHistory

DAY_MS = 86_400_000
STEP_MS = 40_000  # between two events of a visit


def visit_events(events: int, users: int, per_visit: int = 5, seed: int = 3) -> list[Event]:
    """About ``events`` events of ``users`` shoppers in time order: a visit of ``per_visit`` events every one to three
    days each (by shopper), and one shopper in four stops after a third of their visits, so their timers fire."""
    rng = random.Random(seed)
    visits = max(1, -(-events // (users * per_visit)))
    out = []
    for user in range(users):
        every_ms = (1 + user % 3) * DAY_MS
        for visit in range(visits // 3 if user % 4 == 3 else visits):
            for within in range(per_visit):
                kind = rng.choices(("page_view", "add_to_cart", "purchase"), (0.85, 0.1, 0.05))[0]
                out.append(
                    Event(
                        event_id=f"c{seed}-{user}-{visit}-{within}",
                        user_id=f"shopper-{user}",
                        event_type=kind,
                        ts_ms=T0 + visit * every_ms + user * 1_000 + within * STEP_MS,
                        item_id=str(rng.randrange(5_000)),
                        price=round(rng.uniform(1, 300), 2) if kind != "page_view" else None,
                        quantity=1 if kind != "page_view" else None,
                    )
                )
    out.sort(key=lambda e: e.ts_ms)
    return out[:events]


class _TimerContext:
    """The churn step's context: the key, the stream watermark and a timer service that keeps its timers."""

    def __init__(self, state: KeyedValues):
        self.state, self.watermark, self.timers = state, -(2**63), []

    def timer_service(self):
        return self

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, ts_ms: int) -> None:
        heapq.heappush(self.timers, (ts_ms, self.state.key))

    def get_current_key(self):
        return self.state.key


def user_step(cfg: ShopguardConfig, source: ModelSource, churn_on: bool) -> tuple[TrackUserHistory, KeyedValues]:
    """The user step as the job opens it, sending churn facts or not."""
    return open_keyed_step(cfg, source, cfg.churn if churn_on else None)


def run_user_step(step: TrackUserHistory, state: KeyedValues, records: Sequence[tuple[str, bytes]]) -> list:
    """Every record through ``process_element``; the churn facts it sent."""
    facts = []
    for key, value in records:
        state.key = key
        for out in step.process_element(value, None):
            if isinstance(out, tuple) and out[0] is CHURN_FACTS:
                facts.append(out[1])
    return facts


def run_churn_step(cfg: ShopguardConfig, facts: list) -> tuple[int, int]:
    """The facts through a fresh churn step, timers fired as the watermark passes them; (signals, timers fired)."""
    step, state = WatchChurn(cfg.churn, cfg.job.alert_update_min_gain, cfg.job.max_out_of_orderness_ms), KeyedValues()
    step.open(_RuntimeContext(state))
    ctx, signals, fired = _TimerContext(state), 0, 0
    for fact in facts:
        ctx.watermark = max(ctx.watermark, fact[1] - cfg.job.max_out_of_orderness_ms)
        while ctx.timers and ctx.timers[0][0] <= ctx.watermark:
            timer_ms, state.key = heapq.heappop(ctx.timers)
            fired += 1
            signals += sum(1 for _ in step.on_timer(timer_ms, ctx))
        state.key = fact[0]
        signals += sum(1 for _ in step.process_element(fact, ctx))
    return signals, fired


def measure(
    cfg: ShopguardConfig,
    model_dir: str,
    events: int,
    users: int,
    per_visit: int,
    repeats: int,
    workload: str = "visits",
) -> dict:
    """Median CPU microseconds per input event: the user step without and with churn facts, and the churn step.

    ``workload`` ``"visits"``: :func:`visit_events`; ``"bench"``: the benchmark's own traffic
    (:func:`~shopguard.bench.workload.bench_events`).
    """
    source = ModelSource(fixed_dir=model_dir)
    chosen = visit_events(events, users, per_visit) if workload == "visits" else bench_events(events, users)
    records = as_records(chosen)
    off, on, churn = [], [], []
    facts: list = []
    signals = fired = 0
    for _ in range(repeats):
        for churn_on in (False, True):
            step, state = user_step(cfg, source, churn_on)
            started = time.process_time()
            sent = run_user_step(step, state, records)
            (on if churn_on else off).append((time.process_time() - started) / len(records) * 1e6)
            step.close()
            facts = sent if churn_on else facts
        started = time.process_time()
        signals, fired = run_churn_step(cfg, facts)
        churn.append((time.process_time() - started) / len(records) * 1e6)
    return {
        "events": len(records),
        "churn_facts_per_event": round(len(facts) / len(records), 4),
        "timers_fired": fired,
        "risk_signals": signals,
        "user_step_without_churn_us": round(median(off), 2),
        "user_step_with_churn_us": round(median(on), 2),
        "user_step_churn_extra_us": round(median(b - a for a, b in zip(off, on)), 2),
        "churn_step_us": round(median(churn), 2),
        "churn_watch_us": round(median(b - a for a, b in zip(off, on)) + median(churn), 2),
        "without_runs_us": [round(v, 2) for v in off],
        "with_runs_us": [round(v, 2) for v in on],
        "churn_step_runs_us": [round(v, 2) for v in churn],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder (e.g. udfs/default-model)")
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--per-visit", type=int, default=5, help="events per visit (one visit a day per shopper)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--workload", choices=("visits", "bench"), default="visits", help="returning shoppers, or the benchmark's own"
    )
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    figures = measure(cfg, args.model, args.events, args.users, args.per_visit, args.repeats, args.workload)
    for name, value in figures.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
