"""The benchmark keeps working: a tiny run on the real broker and mini-cluster (figures not judged)."""

from __future__ import annotations

import json

import pytest

from shopguard.benchmark import BenchPlan, run_benchmark
from shopguard.training.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration

REQUIRED = ("job_eps_p1", "job_eps_p2", "latency_p50_ms", "latency_p99_ms", "offered_eps", "onnx_only_eps",
            "plain_consumer_eps", "state_bytes_per_user")


def test_a_tiny_benchmark_run_writes_every_figure_and_its_report(kafka_config, tmp_path):
    model = write_placeholder_model(tmp_path / "models")
    figures = run_benchmark(kafka_config, model, BenchPlan.smoke(), tmp_path / "bench", progress=lambda line: None)
    for key in REQUIRED:
        assert figures[key] > 0, key
    assert 0 < figures["state_bytes_per_user"] <= 2048
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["job_eps_p2"] == figures["job_eps_p2"]
    assert "| full job, parallelism 2 |" in (tmp_path / "bench" / "bench.md").read_text()
