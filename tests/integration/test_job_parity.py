"""The job scores what training measured: the test split replayed through ``shopguard detect``."""

from __future__ import annotations

import dataclasses

import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.evaluation_data import build_evaluation_data
from shopguard.training.job_parity import compare_with_job
from shopguard.udfs.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("state_backend", ["hashmap", "rocksdb"])
def test_the_replayed_job_reproduces_the_offline_figures(tmp_path, state_backend):
    base = ShopguardConfig()
    cfg = dataclasses.replace(
        base,
        training=dataclasses.replace(base.training, simulated_users=3000),
        registry=dataclasses.replace(base.registry, url=str(tmp_path / "registry")),
        job=dataclasses.replace(base.job, state_backend=state_backend),
    )
    data = build_evaluation_data(cfg, progress=lambda message: None)
    model = write_placeholder_model(tmp_path / "models", threshold=0.5)
    comparison = compare_with_job(cfg, model, data, tmp_path / "replay", progress=lambda message: None)
    assert comparison["events"] == len(data.test) and comparison["events_without_job_score"] == 0
    assert comparison["max_abs_score_difference"] <= 1e-6
    assert comparison["pr_auc_difference"] <= 0.01
    assert comparison["job"] == pytest.approx(comparison["offline"], abs=1e-6)


def test_the_replayed_job_combines_the_pattern_detector_as_training_does(tmp_path):
    """Returning shoppers replayed whole: LSTM, users' patterns and rules combined alike in the job and offline."""
    import json

    from shopguard.training.encoded_traffic import encode_traffic
    from shopguard.training.evaluation_data import EvaluationData
    from shopguard.training.pattern_mining import mine_patterns
    from shopguard.training.returning_data import build_returning_data, simulate_returning_traffic
    from shopguard.udfs.score_combiner import Hinge, ScoreCombiner

    base = ShopguardConfig()
    cfg = dataclasses.replace(
        base,
        training=dataclasses.replace(base.training, returning_users=300),
        registry=dataclasses.replace(base.registry, url=str(tmp_path / "registry")),
    )
    model = write_placeholder_model(tmp_path / "models", threshold=0.5)
    returning = build_returning_data(cfg, progress=lambda message: None)
    mine_patterns(returning.history, cfg.patterns).write(model, cfg.patterns)
    without_patterns = ScoreCombiner(("lstm", "velocity_rules"), ("logit", "log1p"), (1.0, 2.0), -2.0, 0.6)
    ScoreCombiner(
        ("lstm", "user_patterns", "velocity_rules"),
        ("logit", "share", "log1p"),
        (1.0, 1.5, 2.0),
        1.0,
        0.7,
        fallback=without_patterns,
        hinges=(Hinge("lstm", 0.0, 2.0), Hinge("user_patterns", 0.3, 4.0)),
    ).write(model)
    raw = simulate_returning_traffic(cfg, progress=lambda message: None)
    whole = encode_traffic(raw.traffic, cfg.job.history_length)
    data = EvaluationData(
        train=whole,
        validation=whole,
        test=whole,
        real_normal=whole,
        real_injected=whole,
        fingerprint="returning",
        test_events=raw.traffic.events,
    )

    comparison = compare_with_job(cfg, model, data, tmp_path / "replay", progress=lambda message: None)

    assert comparison["events"] == len(whole) and comparison["events_without_job_score"] == 0
    assert comparison["threshold"] == 0.7  # the combiner's, not the placeholder's 0.5
    assert comparison["max_abs_score_difference"] <= 1e-9
    assert comparison["job"] == pytest.approx(comparison["offline"], abs=1e-9)
    written = [json.loads(line) for line in (tmp_path / "replay" / "alerts.jsonl").read_text().splitlines()]
    # The simulated click farms share devices and IPs, so ring alerts (alert_kind "ring", no detectors) come too
    alerts = [a for a in written if a["alert_kind"] == "user"]
    assert {a["alert_kind"] for a in written} <= {"user", "ring"}
    assert alerts and all({"lstm", "user_patterns", "velocity_rules"} <= set(a["detectors"]) for a in alerts)
    assert any(r["feature"] == "user_patterns" for a in alerts for r in a["reasons"])
