"""The replay's job as Flink plans it: what ``shopguard detect`` and ``shopguard rules test`` run.

A backtest reads only alerts, so its replay leaves out the churn step (it decides no alert) and keeps every
step that does; no replay takes checkpoints (the file sinks publish their files when the input ends). The
graphs are built on the real PyFlink (its Java gateway) and read from Flink's execution plan; nothing runs.
"""

import json
from pathlib import Path

import pytest

from shopguard.config import ShopguardConfig
from shopguard.jobs.replay_job import Replay, ReplayFiles, build_replay

pytestmark = pytest.mark.integration

MODEL = str(Path(__file__).resolve().parents[2] / "udfs" / "default-model")
EVENT = {"event_id": "e1", "user_id": "u1", "event_type": "page_view", "ts": "2024-01-01T00:00:00Z"}


def _steps(folder: Path, with_risk_signals: bool, branches=None) -> tuple[list[str], Replay]:
    """The names of the replay's steps in Flink's plan, and the replay."""
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.jsonl"
    events.write_text(json.dumps(EVENT) + "\n", encoding="utf-8")
    files = ReplayFiles(events, folder / "ALERTS.jsonl", with_risk_signals=with_risk_signals)
    replay = build_replay(ShopguardConfig(), files, model_path=MODEL, branches=branches)
    nodes = json.loads(replay.env.get_execution_plan())["nodes"]
    return [node["contents"] for node in nodes], replay


def test_a_backtest_replays_every_deciding_step_but_not_the_churn_step(tmp_path):
    branches = {"current": [], "changed": []}
    detect, detect_replay = _steps(tmp_path / "detect", with_risk_signals=True)
    backtest, backtest_replay = _steps(tmp_path / "backtest", with_risk_signals=False, branches=branches)

    assert any(step.startswith("watch churn") for step in detect)
    assert not any(step.startswith("watch churn") for step in backtest)
    assert "risk_signals" in detect_replay.targets and "risk_signals" not in backtest_replay.targets
    deciding = ("track user history", "track devices", "track ips")
    for step in deciding:
        assert any(s.startswith(step) for s in backtest), (step, backtest)
    assert sum(s.startswith("decide alert-") for s in backtest) == 2
    assert sum(s.startswith("decide alert") for s in detect) == 1


def test_no_replay_takes_checkpoints(tmp_path):
    _, replay = _steps(tmp_path, with_risk_signals=True)
    assert not replay.env.get_checkpoint_config().is_checkpointing_enabled()
