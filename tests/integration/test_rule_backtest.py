"""``shopguard rules test``, end to end: one replay through the job's graph on the mini-cluster, both rule sets.

The model never alerts on its own (threshold 2), so every alert comes from a rule: the card testers are
alerted under the changed rules (the counting rule of test_rules_live) and not under the rules in force
(none), and the command says the change adds exactly them. A backtest reads only alerts, so its replay
leaves the churn step out and writes no signals file.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from shopguard.local.demo_traffic import card_tester
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.integration.fault_traffic import T0
from tests.integration.test_rules_live import RULE

pytestmark = pytest.mark.integration

TESTERS = ("bt-tester-0", "bt-tester-1", "bt-tester-2")


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    events = [e for i, user in enumerate(TESTERS) for e in card_tester(user, T0 + i * 60_000, random.Random(i))]
    events += [
        Event(f"bt-shopper-{i}", f"bt-shopper-{i % 2}", "page_view", T0 + i * 30_000, item_id="i") for i in range(6)
    ]
    (folder / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in sorted(events, key=lambda e: e.ts_ms)))
    (folder / "rules.json").write_text(json.dumps(RULE))
    (folder / "current.json").write_text("[]")
    model = write_placeholder_model(folder / "model", version="never-alerts", threshold=2.0)
    out = folder / "out"
    run = subprocess.run(
        [sys.executable, "-m", "shopguard.cli", "rules", "test", str(folder / "rules.json")]
        + ["--input", str(folder / "events.jsonl"), "--current", str(folder / "current.json")]
        + ["--model", str(model), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout, out


def _alerts(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_the_change_adds_the_alerts_its_rule_makes_and_nothing_else(backtest):
    stdout, out = backtest
    current, changed = _alerts(out / "ALERTS.current.jsonl"), _alerts(out / "ALERTS.changed.jsonl")
    assert current == []
    assert sorted({a["user_id"] for a in changed}) == list(TESTERS)
    assert all(RULE["id"] in [r["id"] for r in a["rules"]] for a in changed)
    assert f"added by the change: {len(TESTERS)}, removed: 0" in stdout
    for user in TESTERS:
        assert f"user={user} " in stdout


def test_a_backtest_writes_no_churn_signals(backtest):
    _, out = backtest
    assert not (out / "ALERTS.signals.jsonl").exists()
    assert (out / "ALERTS.dead-letters.jsonl").read_text() == ""
