"""The cluster path: a standalone Flink session cluster, the job submitted with ``flink run --python``.

One session cluster (one JobManager, two TaskManagers with one slot each, on free loopback ports, in a
temporary data folder) runs for the module, started from the distribution the ``apache-flink`` wheel
ships. The job is submitted to it against the session's real Kafka broker; the tests read what it wrote
to Kafka, then cancel it and stop the cluster (in a finalizer as well, whatever happened).
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from shopguard.config import to_toml
from shopguard.local.alert_feed import collect
from shopguard.local.demo_traffic import account_taker, card_tester, click_bot
from shopguard.local.flink_cluster import FlinkSessionCluster
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.training.datasets import read_taobao
from tests.integration.conftest import cluster_config

pytestmark = pytest.mark.integration

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"
T0 = 1_511_658_000_000
NORMAL_EVENTS = 200
ABNORMAL = {
    "cl-card-tester": ("card_testing", card_tester),
    "cl-click-bot": ("bot", click_bot),
    "cl-account-taker": ("account_takeover", account_taker),
}
ALERT_TIMEOUT_S = 45


@pytest.fixture(scope="module")
def on_cluster(kafka_config, tmp_path_factory):
    """Start the cluster, submit the job, feed it normal and abnormal users; yield what came out."""
    cfg = cluster_config(
        kafka_config, tmp_path_factory.mktemp("flink-cluster"), tmp_path_factory.mktemp("empty-registry")
    )
    ensure_topics(cfg)
    cluster = FlinkSessionCluster(cfg)
    started = time.monotonic()
    try:
        status = cluster.start()
        job_id = cluster.submit()
        submitted_s = time.monotonic() - started
        normal, _ = read_taobao(TAOBAO)
        normal = normal[:NORMAL_EVENTS]
        abnormal = [e for user, (_, make) in ABNORMAL.items() for e in make(user, T0, random.Random(3))]
        send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in normal + abnormal])
        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: set(ABNORMAL) <= {a["user_id"] for a in got},
            timeout_s=ALERT_TIMEOUT_S,
        )
        missing = set(ABNORMAL) - {a["user_id"] for a in alerts}
        assert not missing, (
            f"no alert within {ALERT_TIMEOUT_S} s for {sorted(missing)} from job {job_id} "
            f"({cluster.job_state(job_id)[0]}); {cluster.status().describe()}\n"
            f"{cluster.job_exceptions(job_id)[-3000:]}"
        )
        yield {
            "cfg": cfg,
            "cluster": cluster,
            "status": status,
            "job_id": job_id,
            "alerts": alerts,
            "normal": normal,
            "submitted_s": submitted_s,
            "job_state": cluster.job_state(job_id),
            "python_workers": _python_workers(cluster),
        }
    finally:
        cluster.stop()


def test_two_taskmanagers_with_one_slot_each_run_every_task_of_the_job(on_cluster):
    status = on_cluster["status"]
    assert (status.taskmanagers, status.slots_total) == (2, 2)
    state, tasks = on_cluster["job_state"]
    assert state == "RUNNING" and tasks and set(tasks) == {"RUNNING"}
    assert on_cluster["submitted_s"] < 90


def _python_workers(cluster: FlinkSessionCluster) -> list[list[str]]:
    """The command lines of the cluster's Python worker processes (the pandas UDF always runs in one)."""
    workers = []
    for pid in cluster.processes():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "pyflink.fn_execution.beam.beam_boot" in argv:
            workers.append(argv)
    return workers


def test_the_python_workers_run_this_virtual_environments_interpreter(on_cluster):
    workers = on_cluster["python_workers"]
    assert workers, "no Python worker process found below the TaskManager"
    assert {argv[0] for argv in workers} == {sys.executable}


def test_every_abnormal_user_is_alerted_with_its_type(on_cluster):
    by_user: dict[str, list[dict]] = {}
    for alert in on_cluster["alerts"]:
        by_user.setdefault(alert["user_id"], []).append(alert)
    for user, (anomaly_type, _) in ABNORMAL.items():
        strongest = max(by_user[user], key=lambda a: a["score"])
        assert strongest["anomaly_type"] == anomaly_type, user
        assert strongest["score"] >= strongest["threshold"]
        assert strongest["model_version"] == "placeholder-1"
        assert strongest["reasons"] and strongest["event_ids"]
        assert all(event_id.startswith(user) for event_id in strongest["event_ids"])


def test_normal_taobao_shoppers_are_not_alerted(on_cluster):
    normal_users = {e.user_id for e in on_cluster["normal"]}
    assert not [a["user_id"] for a in on_cluster["alerts"] if a["user_id"] in normal_users]


def test_the_taskmanagers_prometheus_reporter_serves_the_jobs_counters(on_cluster):
    low, high = (int(p) for p in on_cluster["cfg"].cluster.prometheus_ports.split("-"))
    lines = []
    for port in range(low, high + 1):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
                lines += response.read().decode().splitlines()
        except OSError:
            continue
    assert any(line.startswith("flink_taskmanager_job_task_operator_shopguard_") for line in lines)


def test_the_command_line_reports_the_running_cluster_and_job(on_cluster, tmp_path):
    config = tmp_path / "cluster.toml"
    config.write_text(to_toml(on_cluster["cfg"]))
    result = subprocess.run(
        [sys.executable, "-m", "shopguard.cli", "cluster", "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "running at" in result.stdout and on_cluster["job_id"] in result.stdout


def test_cancel_then_stop_leaves_no_flink_process_behind(on_cluster):
    cluster: FlinkSessionCluster = on_cluster["cluster"]
    assert cluster.cancel(on_cluster["job_id"]) == "CANCELED"
    assert cluster.stop() is True
    status = cluster.status()
    assert not status.running and not any(status.pids.values())
    assert cluster.processes() == []
    assert cluster.stop() is False  # idempotent
