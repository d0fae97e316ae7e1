"""Where ``shopguard detect`` writes its outputs, and the order risk signals are merged in."""

import json
from pathlib import Path

from shopguard.jobs.replay_job import ReplayFiles, _order_key


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
