"""The benchmark keeps working: a tiny run on the real broker and mini-cluster (figures not judged)."""

from __future__ import annotations

import json

import pytest

from shopguard.bench.benchmark import BenchPlan, run_benchmark
from shopguard.bench.job import shoppers_for
from shopguard.bench.latency_sweep import SweepPlan, run_latency_sweep
from shopguard.bench.workload import bench_events
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.pattern_mining import mine_patterns
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.integration.conftest import broker_topics, topics_once

pytestmark = pytest.mark.integration

REQUIRED = (
    "job_eps_p1",
    "job_eps_p2",
    "job_eps_p1_without_patterns",
    "latency_p50_ms",
    "latency_p99_ms",
    "offered_eps",
    "onnx_only_eps",
    "plain_consumer_eps",
    "state_bytes_per_user",
    "floor_eps_p1",
    "floor_keyed_only_eps_p1",
)


def _ours(topics: set[str]) -> set[str]:
    """Topics but Kafka's own (``__consumer_offsets``, ``__transaction_state``: made on first use)."""
    return {name for name in topics if not name.startswith("__")}


def _left_behind(cfg, before: set[str]) -> set[str]:
    """Topics there now that were not ``before``, once the broker has had time to finish deleting."""
    return _ours(topics_once(cfg, lambda topics: not _ours(topics) - before)) - before


def test_a_tiny_benchmark_run_writes_every_figure_and_its_report(kafka_config, tmp_path):
    model = write_placeholder_model(tmp_path / "models")
    history = encode_traffic(LabelledTraffic(bench_events(2000, 100), []), kafka_config.job.history_length)
    mine_patterns(history, kafka_config.patterns).write(model, kafka_config.patterns)  # the matcher has work to do
    topics_before = _ours(broker_topics(kafka_config))
    figures = run_benchmark(kafka_config, model, BenchPlan.smoke(), tmp_path / "bench", progress=lambda line: None)
    assert _left_behind(kafka_config, topics_before) == set()  # every run's private topics were deleted after it
    for key in REQUIRED:
        assert figures[key] > 0, key
    assert 0 < figures["state_bytes_per_user"] <= 2048
    assert figures["pattern_store"] and figures["stage_us_per_event"]["pattern_matching"] > 0
    assert "pattern_matching_added_cost_p1" in figures["ratios"]
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["job_eps_p2"] == figures["job_eps_p2"]
    report = (tmp_path / "bench" / "bench.md").read_text()
    assert "| full job, parallelism 2 |" in report and "The pipeline floor (the job's graph" in report
    assert figures["ratios"]["job_p1_vs_floor_p1"] == pytest.approx(figures["job_eps_p1"] / figures["floor_eps_p1"])
    # every throughput figure is the median of the plan's runs (the smoke plan runs each twice), each run kept
    for key in (
        "job_eps_p2",
        "job_eps_p1_without_patterns",
        "floor_eps_p1",
        "floor_keyed_only_eps_p1",
        "plain_consumer_eps",
    ):
        each = figures["throughput_runs"][key]
        assert len(each) == 2 and figures[key] == pytest.approx(sum(each) / 2), key
    # like --quick, the smoke plan takes p=1 from the latency job's warm-up drain, and says so
    assert figures["job_eps_p1"] == figures["latency_job_warm_up_eps_p1"]
    assert "The p=1 figure is the latency job's warm-up drain" in report and "Smoke plan" in report
    # inside the running job: CPU per process, and py-spy's samples or the reason there are none
    profile = figures["job_profile_p1"]
    assert profile["cpu_seconds_by_process"]["Flink JVM (with thread-mode Python)"] >= 0  # the JVM was found
    assert profile["problem"] or "share_by_stage" in profile
    assert "## Inside the job" in report
    assert figures["latency_over_time"][0]["points"] and (tmp_path / "bench" / "latency.png").stat().st_size > 0
    # the live offer spreads over as many shoppers as its rate needs for a shopper's pace, not the backlog's 300
    plan = BenchPlan.smoke()
    assert figures["latency_shoppers"] == shoppers_for(plan.latency_offered_eps, plan.throughput_users) > 300
    assert f"offered by {figures['latency_shoppers']:,} shoppers" in report


def test_a_tiny_latency_sweep_times_every_offer_in_one_job(kafka_config, tmp_path):
    model = write_placeholder_model(tmp_path / "models")
    topics_before = _ours(broker_topics(kafka_config))
    plan = SweepPlan((100.0, 300.0), seconds=3, warm_up_events=6_000, users=300)
    figures = run_latency_sweep(kafka_config, model, plan, tmp_path / "sweep", progress=lambda line: None)
    assert _left_behind(kafka_config, topics_before) == set()
    assert figures["warm_up_eps"] > 0
    assert [offer["offered_eps"] > 0 for offer in figures["offers"]] == [True, True]
    for offer in figures["offers"]:
        assert offer["scored"] == offer["sent"] > 0 and 0 < offer["latency_p50_ms"] <= offer["latency_p99_ms"]
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["offers"] == figures["offers"]
    assert "| kept up |" in (tmp_path / "sweep" / "sweep.md").read_text()
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 0
