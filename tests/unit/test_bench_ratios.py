"""bench.json's ratios, from measurements faked here (no job runs): job_p1_vs_floor_p1 is always there."""

from types import SimpleNamespace

import pytest

from shopguard.bench import benchmark
from shopguard.bench.benchmark import BenchMeasurements, BenchPlan
from shopguard.config import ShopguardConfig

ENSEMBLE = SimpleNamespace(model=SimpleNamespace(card=SimpleNamespace(model_version="m-test")), detectors=("lstm",))
LOAD = {
    "offered_eps": 1000.0,
    "latency_p50_ms": 100.0,
    "latency_p95_ms": 200.0,
    "latency_p99_ms": 300.0,
    "scored": 5000,
    "shoppers": 50,
    "over_time": [],
}


def _measured(floor_eps: float | None) -> BenchMeasurements:
    def drain(eps: float) -> dict:
        return {"eps": eps, "runs_eps": [eps], "peak_memory_mb": 900.0}

    return BenchMeasurements(
        runs={1: drain(2000.0), 2: drain(3000.0)},
        floors={} if floor_eps is None else {"with_pandas_step": drain(floor_eps), "keyed_step_only": drain(9000.0)},
        latency_job={"warm_up": {"eps": 1900.0}, "loads": [LOAD]},
        onnx_eps=20_000.0,
        plain_runs=drain(4000.0),
        state={"mean": 900.0, "max": 1200},
        stages={"us_per_event": {"parse": 10.0}, "profile": ""},
        scaling=[],
        clusters=[],
        cluster_floor=None,
    )


def _ratios(plan: BenchPlan, floor_eps: float | None) -> dict:
    return benchmark._figures(plan, ShopguardConfig(), ENSEMBLE, None, _measured(floor_eps))["ratios"]


def test_job_p1_vs_floor_p1_is_the_jobs_p1_rate_over_the_floors():
    ratios = _ratios(BenchPlan.full(), floor_eps=8000.0)
    assert ratios["job_p1_vs_floor_p1"] == pytest.approx(2000.0 / 8000.0)
    assert ratios["job_p2_vs_plain_consumer"] == pytest.approx(3000.0 / 4000.0)  # the other keys stay


def test_a_plan_without_the_floor_still_has_the_key_as_not_measured(tmp_path):
    ratios = _ratios(BenchPlan.quick(), floor_eps=None)
    assert "job_p1_vs_floor_p1" in ratios and ratios["job_p1_vs_floor_p1"] is None
    figures = benchmark._figures(BenchPlan.quick(), ShopguardConfig(), ENSEMBLE, None, _measured(None))
    benchmark._write_report(figures, "", tmp_path)
    assert "| job_p1_vs_floor_p1 | not measured |" in (tmp_path / "bench.md").read_text()
    for plot in ("bench.png", "latency.png"):  # the plots are drawn from the same figures
        assert (tmp_path / plot).read_bytes()[:4] == b"\x89PNG", plot
