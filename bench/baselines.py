"""What the job is measured against, on the same events and model: stage costs, ONNX alone, a plain consumer.

* :func:`stage_costs` times each step of the per-event path in one Python process (parse, state
  update, feature encoding, inference in batches, alert formatting): where the time would go without
  Flink, and a cProfile of that path.
* :func:`onnx_only_eps` runs onnxruntime alone on pre-encoded batches: the upper bound for this model
  on this CPU.
* :func:`plain_consumer_eps` is what a team would write instead of a Flink job: one kafka-python
  consumer, the same parser, state and encoder in a dict, onnxruntime every ``batch`` records. No
  checkpoints, no exactly-once, no recovery.
* :func:`state_bytes_per_user` is the size of the value each active user keeps in keyed state.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import time
from statistics import median
from typing import Callable

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.local.alert_feed import open_consumer
from shopguard.training.detectors.user_patterns import replay_pattern_scores
from shopguard.udfs.admission import admit_event
from shopguard.udfs.alerts import build_alert
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features
from shopguard.udfs.events import Event, InvalidEvent, parse_event
from shopguard.udfs.pattern_matching import PatternMatcher
from shopguard.udfs.scoring import OnnxModel
from shopguard.udfs.user_state import UserState

NOW_MS = 1_700_000_000_000


def _best_of(runs: int, work: Callable[[], None]) -> float:
    """Median seconds of ``runs`` runs of ``work`` (the machine is shared: medians, not means)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def stage_costs(
    cfg: ShopguardConfig,
    events: list[Event],
    ensemble: DetectorEnsemble,
    matcher: PatternMatcher | None,
    batch: int = 1000,
    runs: int = 3,
) -> dict:
    """Microseconds per event for each stage, and the top of a cProfile of the whole path.

    ``inference`` is the abuse LSTM alone; ``detectors_and_combiner`` is everything the scoring step
    runs per batch (LSTM, next-event model, rules, combiner); ``pattern_matching`` is the keyed step's
    online match against the users' profiles (absent without a pattern store).
    """
    model = ensemble.model
    raw = [e.to_json().encode() for e in events]
    job = cfg.job
    parsed: list[Event] = []
    windows: list[bytes] = []

    def parse() -> None:
        parsed[:] = [parse_event(r, cfg.validation, NOW_MS) for r in raw]

    def update_state() -> None:
        states: dict[str, str] = {}
        windows.clear()
        for event in parsed:
            stored = states.get(event.user_id)
            state = UserState.from_bytes(stored.encode("latin-1") if stored else None)
            admit_event(state, event, job)
            states[event.user_id] = state.to_bytes().decode("latin-1")
            windows.append(state.history.codes)

    def encode() -> None:
        for i in range(0, len(windows), batch):
            batch_features(windows[i : i + batch], job.history_length)

    features: list[np.ndarray] = []  # filled once the state update has produced the windows

    def infer() -> None:
        for x in features:
            model.score(x)

    pattern_scores: list[np.ndarray] = []

    def match_patterns() -> None:
        scores = replay_pattern_scores(matcher, users, windows, times, {})
        pattern_scores[:] = [scores[i : i + batch] for i in range(0, len(parsed), batch)]

    def score_ensemble() -> None:
        for x, p in zip(features, pattern_scores):
            ensemble.score_batch(x, p)

    def alert() -> None:
        for event, window in zip(parsed[:1000], windows[:1000]):
            build_alert(
                user_id=event.user_id,
                session_id=None,
                event_id=event.event_id,
                event_ts=event.ts_ms,
                codes=window,
                recent_event_ids=[event.event_id],
                score=0.99,
                threshold=0.9,
                model_version="bench",
                detected_at_ms=NOW_MS,
            )

    per_event = {}
    for name, work, count in (("parse", parse, len(events)), ("state_update", update_state, len(events))):
        per_event[name] = _best_of(runs, work) / count * 1e6
    features[:] = [batch_features(windows[i : i + batch], job.history_length) for i in range(0, len(events), batch)]
    per_event["feature_encoding"] = _best_of(runs, encode) / len(events) * 1e6
    per_event["inference"] = _best_of(runs, infer) / len(events) * 1e6
    users, times = [e.user_id for e in parsed], [e.ts_ms for e in parsed]
    if matcher is not None:
        per_event["pattern_matching"] = _best_of(runs, match_patterns) / len(events) * 1e6
    else:
        pattern_scores[:] = [np.full(len(x), np.nan) for x in features]
    per_event["detectors_and_combiner"] = _best_of(runs, score_ensemble) / len(events) * 1e6
    per_event["alert_formatting"] = _best_of(runs, alert) / min(len(events), 1000) * 1e6
    profiler = cProfile.Profile()
    profiler.enable()
    parse()
    update_state()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(12)
    return {"us_per_event": {k: round(v, 2) for k, v in per_event.items()}, "profile": text.getvalue()}


def onnx_only_eps(
    model: OnnxModel, windows: list[bytes], history_length: int, batch: int = 1000, runs: int = 3
) -> float:
    """Sequences per second through onnxruntime alone, on pre-encoded batches."""
    features = [batch_features(windows[i : i + batch], history_length) for i in range(0, len(windows), batch)]
    seconds = _best_of(runs, lambda: [model.score(x) for x in features])
    return len(windows) / seconds


def replay_states(cfg: ShopguardConfig, events: list[Event]) -> tuple[list[bytes], dict[str, UserState]]:
    """Each event admitted into its user's state in order: the window after every event, and the states."""
    states: dict[str, UserState] = {}
    windows = []
    for event in events:
        state = states.setdefault(event.user_id, UserState())
        admit_event(state, event, cfg.job)
        windows.append(state.history.codes)
    return windows, states


def state_bytes_per_user(cfg: ShopguardConfig, events: list[Event]) -> dict:
    """Bytes of keyed state per active user after ``events`` (the value Flink stores, as characters).

    Give every user more than ``job.dedup_window_events`` events to measure a user whose windows are
    full (the steady state of an active user); fewer events measure a young user.
    """
    sizes = np.array([len(s.to_bytes()) for s in replay_states(cfg, events)[1].values()])
    return {"mean": float(sizes.mean()), "max": int(sizes.max()), "users": len(sizes)}


def plain_consumer_eps(
    cfg: ShopguardConfig,
    topic: str,
    expected: int,
    ensemble: DetectorEnsemble,
    matcher: PatternMatcher | None,
    batch: int = 1000,
    timeout_s: float = 600,
) -> float:
    """Events per second for one kafka-python process draining ``topic`` with the job's parser, state,
    pattern matcher and detectors (what a team would write without Flink)."""
    consumer = open_consumer(cfg, topic, from_start=True)
    states: dict[str, UserState] = {}
    pending: list[bytes] = []
    patterns: list[float] = []
    seen = 0
    started = None
    deadline = time.monotonic() + timeout_s
    try:
        while seen < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200, max_records=5000).values():
                started = started or time.perf_counter()
                for record in records:
                    seen += 1
                    try:
                        event = parse_event(record.value, cfg.validation, int(time.time() * 1000))
                    except InvalidEvent:
                        continue
                    state = states.setdefault(event.user_id, UserState())
                    if admit_event(state, event, cfg.job)[0] == "accepted":
                        pending.append(state.history.codes)
                        patterns.append(
                            matcher.observe(event.user_id, state.history.codes, event.ts_ms, state.patterns).score
                            if matcher
                            else math.nan
                        )
                    if len(pending) >= batch:
                        ensemble.score_batch(batch_features(pending, cfg.job.history_length), np.array(patterns))
                        pending.clear()
                        patterns.clear()
        if pending:
            ensemble.score_batch(batch_features(pending, cfg.job.history_length), np.array(patterns))
    finally:
        consumer.close()
    if seen < expected or started is None:
        raise RuntimeError(f"the plain consumer read {seen} of {expected} events from {topic} in {timeout_s} s")
    return seen / (time.perf_counter() - started)
