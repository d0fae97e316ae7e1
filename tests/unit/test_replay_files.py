"""Where ``shopguard detect`` writes its outputs, the order risk signals are merged in, and how a replay runs."""

import dataclasses
import json
from pathlib import Path

from shopguard.config import ShopguardConfig
from shopguard.jobs.flink_environment import flink_settings
from shopguard.jobs.replay_job import ReplayFiles, _order_key, replay_config


def test_risk_signals_are_written_beside_the_alerts():
    files = ReplayFiles(events=Path("in.jsonl"), alerts=Path("out/ALERTS.jsonl"))
    assert files.risk_signals == Path("out/ALERTS.signals.jsonl")
    assert files.dead_letters == Path("out/ALERTS.dead-letters.jsonl")


def test_signals_are_ordered_by_their_event_time_then_user_then_revision():
    def signal(at: str, user: str, revision: int) -> str:
        return json.dumps({"at": at, "user_id": user, "revision": revision, "signal": "churn_risk"})

    lines = [
        signal("2023-12-21T00:00:00.000Z", "b", 0),
        signal("2023-12-20T00:00:00.000Z", "c", 1),
        signal("2023-12-20T00:00:00.000Z", "c", 0),
        signal("2023-12-21T00:00:00.000Z", "a", 0),
    ]
    ordered = [(json.loads(line)["user_id"], json.loads(line)["revision"]) for line in sorted(lines, key=_order_key)]
    assert ordered == [("c", 0), ("c", 1), ("a", 0), ("b", 0)]


def test_a_replay_takes_no_checkpoints_and_does_not_restart_whatever_the_live_job_s_settings():
    for interval, strategy in ((0, "cluster"), (500, "fixed-delay"), (10_000, "exponential-delay")):
        cfg = ShopguardConfig()
        job = dataclasses.replace(cfg.job, checkpoint_interval_ms=interval, restart_strategy=strategy)
        settings = flink_settings(replay_config(dataclasses.replace(cfg, job=job), None))
        assert not [key for key in settings if key.startswith("execution.checkpointing.")], settings
        assert settings["restart-strategy.type"] == "fixed-delay"
        assert settings["restart-strategy.fixed-delay.attempts"] == "0"


def test_only_a_replay_that_wants_risk_signals_runs_the_churn_step():
    cfg = ShopguardConfig()
    assert replay_config(cfg, None).churn.enabled
    assert not replay_config(cfg, None, with_risk_signals=False).churn.enabled
    off = dataclasses.replace(cfg, churn=dataclasses.replace(cfg.churn, enabled=False))
    assert not replay_config(off, None, with_risk_signals=True).churn.enabled
    assert ReplayFiles(Path("in.jsonl"), Path("ALERTS.jsonl")).with_risk_signals
