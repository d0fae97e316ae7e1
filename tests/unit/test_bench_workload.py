"""The benchmark's traffic looks like shoppers: varied gaps, browsing that stays in a category, few alerts."""

import math
import statistics

import numpy as np

from shopguard.bench.workload import bench_events
from shopguard.config import ShopguardConfig
from shopguard.training.behaviour_stats import by_user
from shopguard.udfs.admission import admit_event
from shopguard.udfs.default_model import DEFAULT_MODEL_DIR
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features
from shopguard.udfs.user_state import UserState


def test_every_user_is_active_in_time_order_and_a_seed_gives_the_same_events():
    events = bench_events(4_000, 200, seed=5)
    assert len({e.user_id for e in events}) == 200
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(events, events[1:]))
    assert events == bench_events(4_000, 200, seed=5) != bench_events(4_000, 200, seed=6)


def test_a_users_gaps_vary_and_the_stream_keeps_about_20_events_per_second():
    events = bench_events(20_000, 500)
    assert 0.8 < len(events) / ((events[-1].ts_ms - events[0].ts_ms) / 1000) / 20 < 1.2
    for history in list(by_user(events).values())[:50]:
        log_gaps = [math.log(max(b.ts_ms - a.ts_ms, 1)) for a, b in zip(history, history[1:])]
        assert statistics.pstdev(log_gaps) > 0.5  # a fixed gap (a bot's) has none


def test_browsing_mostly_stays_in_a_category_on_popular_items():
    histories = by_user(bench_events(20_000, 500)).values()
    pairs = [(a, b) for history in histories for a, b in zip(history, history[1:])]
    same_category = sum(a.category_id == b.category_id for a, b in pairs) / len(pairs)
    assert 0.6 < same_category < 0.95
    categories = [e.category_id for e in bench_events(20_000, 500)]
    assert categories.count("0") > 10 * categories.count("100")  # Zipf: popular categories are drawn often


def test_few_events_cross_the_shipped_models_threshold():
    cfg = ShopguardConfig()
    ensemble = DetectorEnsemble.load(DEFAULT_MODEL_DIR, threads=1)
    events = bench_events(10_000, 500)
    states, windows, profiles = {}, [], []
    for event in events:
        state = states.setdefault(event.user_id, UserState())
        admit_event(state, event, cfg.job)
        windows.append(state.history.codes)
        profiles.append(state.session.to_bytes())
    scores = ensemble.score_batch(
        batch_features(windows, cfg.job.history_length), np.full(len(events), np.nan), profiles
    )
    assert np.mean(scores.score >= scores.threshold) < 0.05  # not an alert storm (the abusers are 1 user in 200)
