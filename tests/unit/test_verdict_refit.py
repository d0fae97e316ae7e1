"""Verdicts as labels: judged alerts, their rows, per-type thresholds, the figures and the model folder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shopguard.training.analyst_verdicts import Verdict
from shopguard.training.verdict_refit import (
    JudgedAlert,
    apply_verdicts,
    copy_for_verdicts,
    figures_markdown,
    fit_type_thresholds,
    judged_alerts,
    verdict_rows,
)
from shopguard.udfs.score_combiner import ScoreCombiner

COMBINER = ScoreCombiner(("lstm", "velocity_rules"), ("logit", "log1p"), (1.0, 0.0), 0.0, 0.9)


def verdict(alert_id, user, kind, at="2026-12-06T06:00:00.000Z"):
    label = None if kind == "normal" else kind
    return Verdict(alert_id, user, "false_positive" if label is None else "confirmed", label, "ana", "", at)


def alert(alert_id, user, lstm, kind="bot", revision=0):
    return {
        "alert_id": alert_id,
        "user_id": user,
        "anomaly_type": kind,
        "revision": revision,
        "detectors": {"lstm": lstm, "velocity_rules": 0.0},
    }


def test_each_users_newest_verdict_meets_the_newest_revision_of_its_alert():
    verdicts = [
        verdict("a1", "u1", "bot"),
        verdict("a2", "u1", "normal", "2026-12-06T07:00:00.000Z"),
        verdict("gone", "u2", "bot"),
    ]
    alerts = [alert("a2", "u1", 0.95), alert("a2", "u1", 0.97, revision=1), "not an alert", alert("a1", "u1", 0.9)]
    judged, left_out = judged_alerts(verdicts, alerts)
    assert left_out == 1  # u2's alert is no longer on the topic
    assert judged == [JudgedAlert("a2", "u1", "normal", "bot", {"lstm": 0.97, "velocity_rules": 0.0})]


def test_judged_alerts_become_rows_with_nan_where_a_detector_did_not_run():
    judged = [JudgedAlert("a", "u", "card_testing", "bot", {"lstm": 0.99})]
    scores, abuse, users = verdict_rows(judged, ("lstm", "user_patterns"))
    assert scores["lstm"].tolist() == [0.99] and math.isnan(scores["user_patterns"][0])
    assert abuse.tolist() == [True] and users == ["verdict:u"]


def test_a_type_threshold_rises_above_false_positives_only_when_that_pays():
    only_false = [JudgedAlert(f"a{i}", f"u{i}", "normal", "bot", {"lstm": s}) for i, s in enumerate([0.95, 0.96])]
    raised = fit_type_thresholds(COMBINER, only_false)["bot"]
    assert raised == pytest.approx(1 / (1 + math.exp(-(math.log(0.96 / 0.04) + 1.0))))  # a margin above 0.96
    costly = only_false + [JudgedAlert(f"c{i}", f"c{i}", "bot", "bot", {"lstm": 0.93}) for i in range(3)]
    assert "bot" not in fit_type_thresholds(COMBINER, costly)  # 3 confirmed lost for 2 false ones removed
    other = [JudgedAlert("s", "s", "normal", "scalping", {"lstm": 0.95})]
    assert set(fit_type_thresholds(COMBINER, only_false + other)) == {"bot", "scalping"}


def test_the_folder_gets_its_type_thresholds_and_the_figures(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "card.json").write_text(json.dumps({"model_version": "lstm-1"}))
    COMBINER.write(tmp_path / "m")
    folder = copy_for_verdicts(tmp_path / "m", tmp_path / "out")
    assert json.loads((folder / "card.json").read_text())["model_version"].startswith("lstm-1-v")
    judged = [
        JudgedAlert("a", "u", "normal", "bot", {"lstm": 0.95}),
        JudgedAlert("b", "w", "bot", "bot", {"lstm": 0.99}),
    ]
    body = apply_verdicts(folder, judged, left_out=2)
    tuned = ScoreCombiner.read(folder)
    assert dict(tuned.type_thresholds) == body["type_thresholds"]
    assert 0.95 < body["type_thresholds"]["bot"] < 0.99  # between the false positive and the confirmed alert
    assert tuned.threshold_for(np.zeros(2), ["bot", "scalping"]).tolist() == [body["type_thresholds"]["bot"], 0.9]
    bot = body["by_type"]["bot"]
    assert (bot["verdicts"], bot["before"]["precision"], bot["after"]["precision"], bot["after"]["recall"]) == (
        2,
        0.5,
        1.0,
        1.0,
    )
    assert json.loads((folder / "verdicts.json").read_text()) == json.loads(json.dumps(body))
    text = figures_markdown(body["by_type"], 2)
    assert "by type from analyst verdicts" in text and "| bot | 2 | 1 | 1 | 0.500 | 1.000 | 1.000 |" in text


def test_a_combiner_with_type_thresholds_round_trips():
    typed = COMBINER.with_type_thresholds({"bot": 0.99})
    assert ScoreCombiner.from_dict(typed.to_dict()) == typed
    assert "type_thresholds" not in COMBINER.to_dict()
