"""Hot model reload under traffic, on the real broker and mini-cluster.

A model is published while events flow; then a broken one; then a good one. The job must not
restart, must score every event exactly once, must refuse the broken model (and say so in a
metric), and its scores and alerts must switch to the new version.
"""

from __future__ import annotations

import time

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.topics import ensure_topics
from shopguard.udfs.model_registry import ModelRegistry
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.integration.fault_traffic import Waves
from tests.integration.waiting import wait_on_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reload_run(kafka_config, tmp_path_factory):
    registry_dir = tmp_path_factory.mktemp("registry")
    staging = tmp_path_factory.mktemp("staging")
    registry = ModelRegistry(str(registry_dir))
    registry.set_current(registry.add(write_placeholder_model(staging, version="m-a", threshold=0.9)))
    cfg, ports = isolated_job_config(kafka_config, "reload", registry_dir, model_poll_interval_s=1.0)
    topics = cfg.topics
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    traffic = Waves(cfg, topics.events, prefix="hr", pause_s=0.5)
    try:
        traffic.start()
        wait_on_job(
            lambda: job.metrics().get("model_version_scored_events", 0) >= 100, 90, "scores from model m-a", job
        )
        broken = write_placeholder_model(staging, version="m-broken")
        (broken / "model.onnx").write_bytes(b"\x00 not an onnx model")
        registry.set_current(registry.add(broken))
        wait_on_job(lambda: job.metrics().get("model_refusals", 0) >= cfg.job.parallelism, 60, "the refusal", job)
        time.sleep(2)  # traffic keeps flowing while the broken model is current
        registry.set_current(registry.add(write_placeholder_model(staging, version="m-b", threshold=0.85)))
        wait_on_job(lambda: job.metrics().get("model_swaps", 0) >= cfg.job.parallelism, 60, "the swap to m-b", job)
        time.sleep(3)  # more waves under the new model
        traffic.stop()
        assert traffic.error is None, f"the traffic thread failed: {traffic.error!r}"
        _, sent = traffic.snapshot()
        scores = collect(cfg, topics.scores, until=lambda got: len(got) >= len(sent), timeout_s=90)
        time.sleep(2)
        alerts = collect(cfg, topics.alerts, until=lambda got: False, timeout_s=5)
        yield {
            "job": job,
            "cfg": cfg,
            "sent": sent,
            "scores": scores,
            "alerts": alerts,
            "metrics": job.metrics(),
            "restarts": job.job_restarts(),
            "running": job.is_running(),
        }
    finally:
        traffic.abort()
        job.stop()


def test_the_job_swaps_models_without_a_restart(reload_run):
    assert reload_run["running"] and reload_run["restarts"] == 0
    assert reload_run["metrics"]["model_swaps"] == reload_run["cfg"].job.parallelism


def test_no_event_is_lost_or_scored_twice_across_the_swaps(reload_run):
    scored = [s["event_id"] for s in reload_run["scores"]]
    assert len(scored) == len(set(scored)), "an event was scored twice"
    assert sorted(scored) == sorted(reload_run["sent"]), "an event was lost"


def test_the_broken_model_is_refused_and_never_scores(reload_run):
    assert reload_run["metrics"]["model_refusals"] == reload_run["cfg"].job.parallelism
    assert {s["model_version"] for s in reload_run["scores"]} == {"m-a", "m-b"}


def test_scores_and_alerts_switch_to_the_new_version_and_its_threshold(reload_run):
    by_wave = {}
    for score in reload_run["scores"]:
        by_wave.setdefault(int(score["user_id"].removeprefix("hr-w")), set()).add(score["model_version"])
    last_wave = max(by_wave)
    assert by_wave[0] == {"m-a"} and by_wave[last_wave] == {"m-b"}
    versions = {a["model_version"]: a for a in reload_run["alerts"]}
    assert set(versions) == {"m-a", "m-b"}
    assert versions["m-a"]["threshold"] == 0.9 and versions["m-b"]["threshold"] == 0.85
    assert any(r["feature"] == "event" for r in versions["m-b"]["reasons"])  # explained by m-b itself
