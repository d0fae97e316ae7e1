"""Fault: the TaskManagers die (SIGKILL) while events flow, on the standalone session cluster.

The job (parallelism 2, checkpoints every 2 s, exactly-once Kafka sinks) runs on a session cluster of
its own, reading private topics of the session broker, while waves of card testers keep arriving.
Once a ``read_committed`` consumer sees the first alerts, the TaskManagers are killed and fresh ones are
started with ``bin/taskmanager.sh start``. The job must restart from its last checkpoint by itself and
every wave user must get an alert, each ``(alert_id, revision)`` exactly once.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.flink_cluster import FlinkSessionCluster
from shopguard.local.topics import ensure_topics
from tests.integration.conftest import cluster_config
from tests.integration.fault_traffic import Waves
from tests.integration.job_recovery import diagnostics, replace_taskmanagers, restart_marks, wait_until_running_again

pytestmark = pytest.mark.integration

FIRST_ALERT_TIMEOUT_S = 60
RECOVERY_TIMEOUT_S = 90
ALERTS_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def killed_taskmanager(kafka_config, tmp_path_factory):
    cfg = cluster_config(
        kafka_config, tmp_path_factory.mktemp("fault-tm-cluster"), tmp_path_factory.mktemp("fault-tm-registry")
    )
    ensure_topics(cfg)
    cluster = FlinkSessionCluster(cfg)
    traffic = Waves(cfg, cfg.topics.events, prefix="tmk", pause_s=0.3)
    try:
        cluster.start()
        job_id = cluster.submit()
        traffic.start()
        first = collect(cfg, cfg.topics.alerts, until=bool, timeout_s=FIRST_ALERT_TIMEOUT_S)
        assert first, f"no committed alert within {FIRST_ALERT_TIMEOUT_S} s\n{diagnostics(cluster, job_id)}"
        before = restart_marks(cluster, job_id)
        users_before_kill = len(traffic.snapshot()[0])

        killed_at = time.monotonic()
        killed, new_pid = replace_taskmanagers(cluster, cfg.cluster.taskmanagers)
        new_tm_s = time.monotonic() - killed_at
        wait_until_running_again(cluster, job_id, before, RECOVERY_TIMEOUT_S)
        recovered_s = time.monotonic() - killed_at
        users_at_recovery = len(traffic.snapshot()[0])
        time.sleep(4)  # waves keep coming after the restart
        traffic.stop()
        assert traffic.error is None, f"the traffic thread failed: {traffic.error!r}"
        users, _ = traffic.snapshot()

        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: set(users) <= {a["user_id"] for a in got},
            timeout_s=ALERTS_TIMEOUT_S,
        )
        all_alerted_s = time.monotonic() - killed_at
        time.sleep(2 * cfg.job.checkpoint_interval_ms / 1000)  # a duplicate would be committed by now
        alerts = collect(cfg, cfg.topics.alerts, until=lambda got: False, timeout_s=5)
        print(
            f"\nTaskManager fault: killed {killed}, new TaskManager(s) {new_pid} registered after {new_tm_s:.1f} s, "
            f"job RUNNING again after {recovered_s:.1f} s, all {len(users)} wave users alerted "
            f"{all_alerted_s:.1f} s after the kill; {len(alerts)} alerts",
            flush=True,
        )
        yield {
            "cfg": cfg,
            "cluster": cluster,
            "job_id": job_id,
            "users": users,
            "alerts": alerts,
            "killed": killed,
            "marks_before": before,
            "marks": restart_marks(cluster, job_id),
            "state": cluster.job_state(job_id),
            "users_before_kill": users_before_kill,
            "users_at_recovery": users_at_recovery,
            "recovered_s": recovered_s,
            "diagnostics": diagnostics(cluster, job_id),
        }
    finally:
        traffic.abort()
        cluster.stop()


def test_the_taskmanager_was_killed_mid_stream_and_the_job_restarted_from_a_checkpoint(killed_taskmanager):
    run = killed_taskmanager
    assert run["killed"], "no TaskManager process was killed"
    # numRestarts, or (when Flink leaves it at 0 for a regional recovery) the tasks' attempt numbers
    (restarts, attempts), (restarts_before, attempts_before) = run["marks"], run["marks_before"]
    assert restarts > restarts_before or attempts > attempts_before, run["diagnostics"]
    state, tasks = run["state"]
    assert state == "RUNNING" and set(tasks) == {"RUNNING"}, run["diagnostics"]
    assert 0 < run["users_before_kill"] < run["users_at_recovery"] < len(run["users"]), (
        "waves must flow before the kill, during the recovery and after it"
    )
    assert run["recovered_s"] < RECOVERY_TIMEOUT_S


def test_every_wave_user_is_alerted(killed_taskmanager):
    run = killed_taskmanager
    missing = sorted(set(run["users"]) - {a["user_id"] for a in run["alerts"]})
    assert not missing, (
        f"{len(missing)} of {len(run['users'])} wave users got no alert: {missing[:10]}\n{run['diagnostics']}"
    )


def test_no_alert_revision_is_delivered_twice(killed_taskmanager):
    counts = Counter((a["alert_id"], a["revision"]) for a in killed_taskmanager["alerts"])
    twice = {key: n for key, n in counts.items() if n > 1}
    assert not twice, f"delivered more than once to a read_committed consumer: {twice}"
