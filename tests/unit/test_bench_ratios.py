"""bench.json's ratios, from measurements faked here (no job runs): job_p1_vs_floor_p1 is always there, and
the cost the pattern detector and the entity steps add is there when the plan drained the job without them."""

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


def drain(eps: float, runs_eps: list[float] | None = None) -> dict:
    return {"eps": eps, "runs_eps": runs_eps or [eps], "peak_memory_mb": 900.0}


def _measured(floor_eps: float | None, runs: dict | None = None) -> BenchMeasurements:
    return BenchMeasurements(
        runs={1: drain(2000.0), 2: drain(3000.0), **(runs or {})},
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


def test_the_entity_steps_cost_is_the_rate_without_them_over_the_rate_with_them(tmp_path):
    without = {
        "p1_without_patterns": drain(2200.0, [2100.0, 2200.0, 2300.0]),
        "p1_without_entities": drain(2600.0, [2500.0, 2600.0, 2700.0]),
    }
    figures = benchmark._figures(BenchPlan.targets(), ShopguardConfig(), ENSEMBLE, None, _measured(8000.0, without))
    assert figures["job_eps_p1_without_entities"] == 2600.0
    assert figures["throughput_runs"]["job_eps_p1_without_entities"] == [2500.0, 2600.0, 2700.0]
    assert figures["ratios"]["entity_steps_added_cost_p1"] == pytest.approx(2600.0 / 2000.0 - 1)
    assert figures["ratios"]["pattern_matching_added_cost_p1"] == pytest.approx(2200.0 / 2000.0 - 1)  # unchanged
    benchmark._write_report(figures, "", tmp_path)
    report = (tmp_path / "bench.md").read_text()
    assert "| full job, parallelism 1, entity steps off | 2,600 | 2,500 / 2,600 / 2,700 |" in report
    assert "| entity_steps_added_cost_p1 | 0.300 |" in report
    assert "| entity steps (device, IP, item) | 2,600 | 2,500 / 2,600 / 2,700 | 30.0% | ≤ 25% | **not met** |" in report
    assert "| pattern detector | 2,200 | 2,100 / 2,200 / 2,300 | 10.0% | ≤ 20% | met |" in report


def test_a_plan_without_the_entity_less_drain_says_so(tmp_path):
    figures = benchmark._figures(BenchPlan.quick(), ShopguardConfig(), ENSEMBLE, None, _measured(None))
    assert "job_eps_p1_without_entities" in figures and figures["job_eps_p1_without_entities"] is None
    assert "entity_steps_added_cost_p1" not in figures["ratios"]  # as pattern_matching_added_cost_p1
    benchmark._write_report(figures, "", tmp_path)
    report = (tmp_path / "bench.md").read_text()
    assert "full job, parallelism 1, entity steps off" in report.split("Not measured in this plan")[1]
    assert "| added per event at p=1 by |" not in report
