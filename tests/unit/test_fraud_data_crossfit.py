"""Fraud_Data cross-fitted: each half's accounts are judged by the replay not fitted on them."""

from __future__ import annotations

import json
from pathlib import Path

from shopguard.training.fraud_data_crossfit import cross_fitted

T0 = 1_420_070_400_000


def fake_run(root: Path, scores: dict[str, float], alerted: set[str]) -> Path:
    """A --dataset fraud-data report folder: the events, both halves' labels, the replay's scores and alerts."""
    work = root / "fraud-data"
    (work / "replay").mkdir(parents=True)
    users = ["e0", "e1", "e2", "l0", "l1", "l2"]
    events = [{"event_id": f"{u}-p", "user_id": u, "event_type": "purchase", "ts": T0} for u in users]
    (work / "EVENTS.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    fraud = {"type": "fraud", "onset": T0}
    (work / "EARLIER_LABELS.json").write_text(json.dumps({"users": {"e0": fraud, "e1": "normal", "e2": "normal"}}))
    (work / "LABELS.json").write_text(json.dumps({"users": {"l0": fraud, "l1": "normal", "l2": "normal"}}))
    rows = [
        {"event_id": f"{u}-p", "user_id": u, "event_ts": T0, "score": s, "model_version": "m"}
        for u, s in scores.items()
    ]
    (work / "replay" / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    alerts = [{"alert_kind": "user", "user_id": u, "event_ts": T0, "score": 1.0} for u in sorted(alerted)]
    (work / "replay" / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    return root


def test_each_half_is_judged_by_the_replay_fitted_on_the_other(tmp_path):
    # the later run ranks the later half right and the earlier half wrong; the earlier run the other way round
    later = fake_run(tmp_path / "later", {"e0": 0.1, "e1": 0.9, "e2": 0.8, "l0": 0.9, "l1": 0.2, "l2": 0.1}, {"l0"})
    earlier = fake_run(tmp_path / "earlier", {"e0": 0.9, "e1": 0.1, "e2": 0.2, "l0": 0.1, "l1": 0.9, "l2": 0.8}, {"e0"})
    result = cross_fitted(later, earlier)
    assert result["halves"] == {"later": 3, "earlier": 3}
    overall = result["overall"]
    assert overall["users"] == 6 and overall["abused_users"] == 2
    assert overall["roc_auc"] == 1.0 and overall["alert_precision"] == 1.0 and overall["alert_recall"] == 1.0
