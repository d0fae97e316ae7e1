"""The job scores what training measured: the test split replayed through ``shopguard detect``."""

from __future__ import annotations

import dataclasses

import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.evaluation_data import build_evaluation_data
from shopguard.training.job_parity import compare_with_job
from shopguard.training.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("state_backend", ["hashmap", "rocksdb"])
def test_the_replayed_job_reproduces_the_offline_figures(tmp_path, state_backend):
    base = ShopguardConfig()
    cfg = dataclasses.replace(base, training=dataclasses.replace(base.training, simulated_users=3000),
                              registry=dataclasses.replace(base.registry, url=str(tmp_path / "registry")),
                              job=dataclasses.replace(base.job, state_backend=state_backend))
    data = build_evaluation_data(cfg, progress=lambda message: None)
    model = write_placeholder_model(tmp_path / "models", threshold=0.5)
    comparison = compare_with_job(cfg, model, data, tmp_path / "replay", progress=lambda message: None)
    assert comparison["events"] == len(data.test) and comparison["events_without_job_score"] == 0
    assert comparison["max_abs_score_difference"] <= 1e-6
    assert comparison["pr_auc_difference"] <= 0.01
    assert comparison["job"] == pytest.approx(comparison["offline"], abs=1e-6)
