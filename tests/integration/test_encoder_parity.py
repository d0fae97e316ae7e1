"""The job and training encode the same events identically (one source of truth for features).

The job's real keyed function runs on a Flink mini-cluster over simulated traffic with injected abuse;
the windows it emits must equal, byte for byte, what training computes with ``encode_user_events``.
"""

import dataclasses

import pytest
from pyflink.common import Types

from shopguard.config import ShopguardConfig
from shopguard.jobs.detect_job import model_source
from shopguard.jobs.flink_environment import create_environments
from shopguard.jobs.user_keying import key_records_by_user
from shopguard.training.behaviour_stats import by_user, measure_behaviour
from shopguard.training.labelled_traffic import mix_in_anomalies
from shopguard.training.simulator import ShopperSimulator
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.user_history import SCORING_ROW, TrackUserHistory

pytestmark = pytest.mark.integration


def test_the_job_emits_the_windows_training_computes():
    cfg = ShopguardConfig()
    seed_events = [
        Event(
            f"s{i}",
            f"s{i % 20}",
            "page_view",
            1_511_658_000_000 + 37_000 * i,
            item_id=str(i % 7),
            category_id=str(i % 3),
        )
        for i in range(200)
    ]
    normal = ShopperSimulator(measure_behaviour(seed_events)).simulate(60, 1_511_658_000_000, 3_600_000, seed=2)
    traffic = mix_in_anomalies(normal, abused_share=0.2, seed=2)
    assert any(e.event_type == "signup" for e in traffic.events) and any((e.rating or 0) >= 4 for e in traffic.events)
    expected = {}
    for history in by_user(traffic.events).values():
        for event, window in zip(history, encode_user_events(history, cfg.job.history_length)):
            expected[event.event_id] = window

    # from_collection rebalances to the next operator: one subtask keeps each user's events in order
    job_cfg = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, parallelism=1, prometheus_ports=""))
    env, t_env = create_environments(job_cfg)
    raw = env.from_collection([e.to_json() for e in traffic.events], type_info=Types.STRING())
    hashing = IdentifierHashing.from_settings(cfg.privacy, {})
    windows = key_records_by_user(raw, t_env).process(  # as the job keys it
        TrackUserHistory(cfg.job, cfg.validation, hashing, cfg.patterns, model_source(job_cfg)), output_type=SCORING_ROW
    )
    with windows.execute_and_collect() as rows:
        # collected rows hand Java's byte[] back as signed bytes (-128..127): a rating sets the top bit
        produced = {row[2]: bytes(b & 0xFF for b in row[5]) for row in rows}

    assert len(produced) == len(traffic.events) > 200
    assert produced == expected
