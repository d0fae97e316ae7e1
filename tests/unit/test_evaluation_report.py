"""shopguard evaluate's report: the tables and the three plots, from a detector's test scores."""

import json

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.evaluation_report import TABLE_FIGURES, write_evaluation_report

PLOTS = ("pr_curves.png", "score_distributions.png", "detection_delay.png")


def _test_users() -> EncodedTraffic:
    """Eight users of two events each; the last two are bots."""
    types = [""] * 6 + ["bot"] * 2
    user_types = [t for t in types for _ in range(2)]
    return EncodedTraffic(
        history_length=4,
        windows=[b""] * 16,
        event_ids=[f"e{i}" for i in range(16)],
        user_ids=[f"u{i // 2}" for i in range(16)],
        ts_ms=np.arange(16, dtype=np.int64),
        event_types=user_types,
        user_types=user_types,
        subtle=np.zeros(16, dtype=bool),
        onset_ms=np.zeros(16, dtype=np.int64),
    )


def _figures(scores: np.ndarray) -> dict:
    return {
        **{name: 0.5 for name in TABLE_FIGURES},
        "threshold": 0.7,
        "test_scores": scores,
        "delays_events": [1, 3],
        "per_type": {"bot": {"pr_auc": 1.0, "recall": 1.0}},
        "real_injected": {"pr_auc": 0.9},
    }


def test_the_report_writes_its_tables_json_and_plots(tmp_path):
    scores = np.r_[np.linspace(0.0, 0.6, 12), np.full(4, 0.9)]
    results = {"lstm": _figures(scores), "velocity_rules": _figures(scores[::-1].copy())}

    report = write_evaluation_report(results, "lstm", _test_users(), tmp_path, {"target_alert_rate": 0.001})

    text = report.read_text()
    assert "| lstm | 0.5" in text and "| velocity_rules |" in text and "| bot |" in text
    body = json.loads((tmp_path / "evaluation.json").read_text())
    assert body["detector"] == "lstm" and "test_scores" not in body and "velocity_rules" in body["baselines"]
    for plot in PLOTS:
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG", plot
        assert f"]({plot})" in text


def test_the_report_states_the_split_the_configuration_set(tmp_path):
    scores = np.r_[np.linspace(0.0, 0.6, 12), np.full(4, 0.9)]
    context = {"target_alert_rate": 0.001, "train_share": 0.5, "validation_share": 0.3}
    report = write_evaluation_report({"lstm": _figures(scores)}, "lstm", _test_users(), tmp_path, context)
    assert "(train 50%, validation 30%, test 20%)" in report.read_text()
