"""Which drains ``shopguard bench`` runs, in what order, with the job and broker faked (no job runs).

The p=1 drains (with everything, pattern detector off, entity steps off) take turns, so that the costs
computed from them compare runs of the same minutes; --targets runs all three.
"""

import contextlib
from types import SimpleNamespace

import pytest

from shopguard.bench import benchmark
from shopguard.bench.benchmark import BenchPlan
from shopguard.bench.job import DETECTION_JOB
from shopguard.config import ShopguardConfig
from tests.unit.test_bench_ratios import ENSEMBLE, LOAD


def _drain_name(cfg: ShopguardConfig, parallelism: int, job: tuple[str, ...], profile_seconds: float) -> str:
    if job != DETECTION_JOB:
        return "floor"
    name = f"p{parallelism}"
    if not cfg.patterns.enabled:
        name += " no patterns"
    if not cfg.entities.enabled:
        name += " no entities"
    return name + (" profiled" if profile_seconds else "")


EPS = {"p1": 1000.0, "p1 no patterns": 1100.0, "p1 no entities": 1200.0, "p2": 1500.0, "floor": 9000.0}


@pytest.fixture
def drains(monkeypatch, tmp_path):
    """The names of the job drains run_benchmark starts, in order (each name's rate in EPS)."""
    started = []

    def job_throughput(
        cfg, events, users, parallelism, workdir, progress=print, profile_seconds=0.0, job=DETECTION_JOB
    ):
        name = _drain_name(cfg, parallelism, job, profile_seconds)
        started.append(name)
        return {"eps": EPS.get(name, 1000.0), "peak_memory_mb": 900.0, "profile": None}

    class Broker:
        def __init__(self, cfg):
            pass

        def running(self):
            return contextlib.nullcontext()

    fakes = {
        "DetectorEnsemble": SimpleNamespace(load=lambda *args, **kwargs: ENSEMBLE),
        "ServedPatterns": SimpleNamespace(load=lambda *args: SimpleNamespace(matcher=None)),
        "ModelSource": lambda **kwargs: None,
        "bench_events": lambda *args, **kwargs: [],
        "replay_states": lambda cfg, events: ([],),
        "stage_costs": lambda *args: {"us_per_event": {"parse": 10.0}, "profile": ""},
        "onnx_only_eps": lambda *args: 20_000.0,
        "state_bytes_per_user": lambda *args: {"mean": 900.0, "max": 1200},
        "LocalKafkaBroker": Broker,
        "_plain_consumer": lambda *args: 4000.0,
        "job_throughput": job_throughput,
        "job_latency": lambda *args, **kwargs: {"warm_up": {"eps": 950.0, "peak_memory_mb": 900.0}, "loads": [LOAD]},
        "cluster_throughput": lambda *args, **kwargs: {"eps": 1.0},
        "_write_report": lambda *args: None,
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(benchmark, name, fake)
    return started


def _run(plan: BenchPlan, tmp_path) -> dict:
    return benchmark.run_benchmark(ShopguardConfig(), tmp_path, plan, tmp_path / "bench", progress=lambda line: None)


def test_targets_takes_turns_between_the_p1_drains_and_measures_the_entity_steps_cost(drains, tmp_path):
    figures = _run(BenchPlan.targets(), tmp_path)
    assert drains == [
        *["p1", "p1 no patterns", "p1 no entities"] * 3,
        *["p2"] * 3,
        *["floor"] * 6,  # two floors, three runs each
        "p1 profiled",
    ]
    assert figures["job_eps_p1_without_entities"] == 1200.0
    assert figures["throughput_runs"]["job_eps_p1_without_entities"] == [1200.0] * 3
    assert figures["ratios"]["entity_steps_added_cost_p1"] == pytest.approx(0.2)
    assert figures["ratios"]["pattern_matching_added_cost_p1"] == pytest.approx(0.1)


def test_quick_runs_no_diagnostic_drain(drains, tmp_path):
    figures = _run(BenchPlan.quick(), tmp_path)
    assert drains == ["p2"]  # p=1 is the latency job's warm-up drain
    assert figures["job_eps_p1_without_entities"] is None and figures["job_eps_p1_without_patterns"] is None


def test_smoke_takes_turns_between_the_diagnostic_drains_without_a_p1_drain_of_its_own(drains, tmp_path):
    figures = _run(BenchPlan.smoke(), tmp_path)
    assert drains[:5] == [*["p1 no patterns", "p1 no entities"] * 2, "p2"]
    assert figures["ratios"]["entity_steps_added_cost_p1"] == pytest.approx(1200.0 / 950.0 - 1)
