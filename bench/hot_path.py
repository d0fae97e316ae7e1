"""The job's own per-event Python, timed in one process: the keyed step, the entity steps and the scoring step.

:func:`measure` feeds raw records to :class:`~shopguard.udfs.user_history.TrackUserHistory`'s
``process_element`` as the job does (state kept per user as the same latin-1 string, counters that
count in Python), the rows it emitted through the device and the IP step
(:class:`~shopguard.udfs.entity_streams.TrackEntity`, each row keyed as the job keys it), and those rows to
:class:`~shopguard.udfs.scoring.ScoreHistories`' ``eval`` in Arrow-sized batches. None includes
PyFlink's share (moving rows across pemja and Arrow, Java counters, RocksDB): the full ``shopguard
bench`` measures that; this measures the part a change to shopguard's Python can cut. Times are CPU
seconds of this process (``time.process_time``), medians of repeats: on a shared machine, wall time
also counts the other processes' turns.

``python -m shopguard.bench.hot_path --model DIR`` prints the three, and the keyed step's share that is the pattern
detector's, in microseconds per event; with
``--profile``, a cProfile of each step (the functions that take the most time of their own).

Example
-------
>>> state = KeyedValues()
>>> state.key = "u1"; state.update("x"); state.value()
'x'
>>> state.key = "u2"; state.value() is None
True
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import pstats
import time
from statistics import median
from typing import Sequence

import pandas as pd

from shopguard.bench.workload import EVENT_GAP_MS, T0, as_records, bench_events
from shopguard.config import ChurnSettings, ShopguardConfig, load_config
from shopguard.udfs.entity_streams import ENTITY_TYPES, TrackEntity, entity_key_of
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.rows import SCORING_FIELDS
from shopguard.udfs.scoring import ScoreHistories
from shopguard.udfs.user_history import TrackUserHistory

NOW_MS = T0 + 86_400_000


class KeyedValues:
    """One value per key, the key set before each record (what Flink's keyed ValueState does for the step)."""

    def __init__(self):
        self.key = None
        self.values: dict = {}

    def value(self):
        return self.values.get(self.key)

    def update(self, value) -> None:
        self.values[self.key] = value


class _KeyedSibling(KeyedValues):
    """Another keyed value of the same step (its own values), at the step's current key."""

    def __init__(self, main: KeyedValues):
        self.main, self.values = main, {}

    @property
    def key(self):
        return self.main.key


class _Counter:
    def __init__(self):
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class _Metrics:
    def add_group(self, *names):
        return self

    def counter(self, name):
        return _Counter()

    def gauge(self, name, read):
        return None


class _RuntimeContext:
    def __init__(self, state: KeyedValues):
        self.state, self.first, self.siblings = state, None, {}

    def get_state(self, descriptor):
        """The first state the step asks for is ``state``; any other name gets a value of its own at the same key."""
        name = descriptor.get_name()
        self.first = self.first or name
        return self.state if name == self.first else self.siblings.setdefault(name, _KeyedSibling(self.state))

    def get_metrics_group(self):
        return _Metrics()

    def get_metric_group(self):
        return _Metrics()


def open_keyed_step(
    cfg: ShopguardConfig, source: ModelSource, churn: ChurnSettings | None = None, packed_rows: bool = False
) -> tuple[TrackUserHistory, KeyedValues]:
    """The keyed step as the job opens it, its state in a :class:`KeyedValues`; with ``churn`` it sends churn facts,
    with ``packed_rows`` its rows are packed for the entity steps (as with ``entities.enabled``)."""
    hashing = IdentifierHashing.from_settings(cfg.privacy, {})
    step = TrackUserHistory(cfg.job, cfg.validation, hashing, cfg.patterns, source, churn, packed_rows=packed_rows)
    state = KeyedValues()
    step.open(_RuntimeContext(state))
    return step, state


def run_keyed_step(step: TrackUserHistory, state: KeyedValues, records: Sequence[tuple[str, bytes]]) -> list:
    """Every record through ``process_element``; the rows it emits for scoring (side outputs left out)."""
    rows = []
    for key, value in records:
        state.key = key
        for out in step.process_element(value, None):
            if not isinstance(out, tuple):
                rows.append(out)
    return rows


def open_entity_steps(cfg: ShopguardConfig) -> list[tuple[TrackEntity, KeyedValues, object]]:
    """The device and IP steps as the job opens them, each with its state and the job's key selector."""
    steps = []
    for entity_type in ENTITY_TYPES:
        step, state = TrackEntity(entity_type, cfg.entities, cfg.job), KeyedValues()
        step.open(_RuntimeContext(state))
        steps.append((step, state, entity_key_of(entity_type)))
    return steps


def run_entity_steps(steps: list[tuple[TrackEntity, KeyedValues, object]], rows: list) -> list:
    """``rows`` through each entity step in turn, as the job chains them (ring alerts left out)."""
    for step, state, key_of in steps:
        passed = []
        for row in rows:
            state.key = key_of(row)
            passed += [out for out in step.process_element(row, None) if not isinstance(out, tuple)]
        rows = passed
    return rows


def scoring_batches(rows: list, batch: int) -> list[tuple[pd.Series, pd.Series, pd.Series]]:
    """The scoring step's input columns (codes, pattern score, session) in batches of ``batch`` rows."""
    codes, patterns, sessions = (SCORING_FIELDS.index(name) for name in ("codes", "user_patterns_score", "session"))
    return [
        (
            pd.Series([r[codes] for r in rows[i : i + batch]]),
            pd.Series([r[patterns] for r in rows[i : i + batch]], dtype="float64"),
            pd.Series([r[sessions] for r in rows[i : i + batch]]),
        )
        for i in range(0, len(rows), batch)
    ]


def warm_and_timed(events: int, users: int) -> tuple[list, list]:
    """``events`` events that warm the users up, then ``events`` more, all later than the first ones."""
    warm = bench_events(events, users, seed=1)
    return warm, bench_events(events, users, seed=2, start_ms=max(e.ts_ms for e in warm) + EVENT_GAP_MS)


def measure(cfg: ShopguardConfig, model_dir: str, events: int, users: int, repeats: int, batch: int) -> dict:
    """Median CPU microseconds per event of each step over ``repeats`` runs, the steps interleaved.

    Each run starts from users (and devices, IPs) whose state already holds ``events`` earlier events (a
    warm job), then times ``events`` more. Each also times the keyed step with ``patterns.enabled`` off: what the
    pattern detector adds to it is ``pattern_matching_us``, the difference of the two medians.
    """
    source = ModelSource(fixed_dir=model_dir)
    warm, timed = (as_records(part) for part in warm_and_timed(events, users))
    scorer = ScoreHistories(source, cfg.job.history_length, cfg.job.onnx_threads, 0)
    scorer.open(_RuntimeContext(KeyedValues()))
    without_patterns = dataclasses.replace(cfg, patterns=dataclasses.replace(cfg.patterns, enabled=False))
    keyed, plain, entities, scoring = [], [], [], []
    for _ in range(repeats):
        plain.append(_keyed_step_us(without_patterns, source, warm, timed))
        step, state = open_keyed_step(cfg, source, packed_rows=True)
        entity_steps = open_entity_steps(cfg)
        run_entity_steps(entity_steps, run_keyed_step(step, state, warm))
        rows, spent_us = _timed_keyed_run(step, state, timed)
        keyed.append(spent_us)
        step.close()
        started = time.process_time()
        rows = run_entity_steps(entity_steps, rows)
        entities.append((time.process_time() - started) / len(rows) * 1e6)
        batches = scoring_batches(rows, batch)
        started = time.process_time()
        for columns in batches:
            scorer.eval(*columns)
        scoring.append((time.process_time() - started) / len(rows) * 1e6)
    scorer.close()
    return {
        "keyed_step_us": round(median(keyed), 2),
        "keyed_step_without_patterns_us": round(median(plain), 2),
        "pattern_matching_us": round(median(keyed) - median(plain), 2),
        "entity_steps_us": round(median(entities), 2),
        "scoring_step_us": round(median(scoring), 2),
        "keyed_runs_us": [round(v, 2) for v in keyed],
        "keyed_without_patterns_runs_us": [round(v, 2) for v in plain],
        "entity_runs_us": [round(v, 2) for v in entities],
        "scoring_runs_us": [round(v, 2) for v in scoring],
    }


def _keyed_step_us(cfg: ShopguardConfig, source: ModelSource, warm: list, timed: list) -> float:
    """CPU microseconds per event of the keyed step alone on ``timed``, its users warmed up by ``warm``."""
    step, state = open_keyed_step(cfg, source, packed_rows=True)
    run_keyed_step(step, state, warm)
    _, spent_us = _timed_keyed_run(step, state, timed)
    step.close()
    return spent_us


def _timed_keyed_run(step: TrackUserHistory, state: KeyedValues, records: Sequence[tuple[str, bytes]]) -> tuple:
    """:func:`run_keyed_step` on ``records``: its rows, and the CPU microseconds it took per record."""
    started = time.process_time()
    rows = run_keyed_step(step, state, records)
    return rows, (time.process_time() - started) / len(records) * 1e6


def profile(cfg: ShopguardConfig, model_dir: str, events: int, users: int, batch: int, top: int = 25) -> str:
    """cProfile of one warm run of each step, the ``top`` functions by their own time (where to look next)."""
    source = ModelSource(fixed_dir=model_dir)
    step, state = open_keyed_step(cfg, source, packed_rows=True)
    entity_steps = open_entity_steps(cfg)
    warm, timed = (as_records(part) for part in warm_and_timed(events, users))
    run_entity_steps(entity_steps, run_keyed_step(step, state, warm))
    scorer = ScoreHistories(source, cfg.job.history_length, cfg.job.onnx_threads, 0)
    scorer.open(_RuntimeContext(KeyedValues()))
    text = io.StringIO()
    keyed = cProfile.Profile()
    rows = keyed.runcall(run_keyed_step, step, state, timed)
    pstats.Stats(keyed, stream=text).sort_stats("tottime").print_stats(top)
    entities = cProfile.Profile()
    rows = entities.runcall(run_entity_steps, entity_steps, rows)
    pstats.Stats(entities, stream=text).sort_stats("tottime").print_stats(top)
    scoring = cProfile.Profile()
    for columns in scoring_batches(rows, batch):
        scoring.runcall(scorer.eval, *columns)
    pstats.Stats(scoring, stream=text).sort_stats("tottime").print_stats(top)
    step.close()
    scorer.close()
    return text.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder (e.g. udfs/default-model)")
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1_000, help="rows per scoring call (an Arrow batch)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each step instead")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(load_config(args.config), args.model, args.events, args.users, args.batch))
        return 0
    figures = measure(load_config(args.config), args.model, args.events, args.users, args.repeats, args.batch)
    for name, value in figures.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
