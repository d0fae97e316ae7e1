"""A job on the session cluster through a TaskManager crash: kill, start fresh ones, wait until it runs again.

The fault tests (TaskManagers killed mid-stream, rules and churn timers restored from a checkpoint) share
these steps, and what they print when a wait times out: the job's state, Flink's failure and the logs.
"""

from __future__ import annotations

from shopguard.local.flink_cluster import FlinkSessionCluster
from tests.integration.waiting import wait_for


def diagnostics(cluster: FlinkSessionCluster, job_id: str) -> str:
    """What a person needs when a fault test fails: job state, Flink's failure, the daemons' log tails."""
    try:
        state = cluster.job_state(job_id)
    except Exception as error:  # noqa: BLE001 - the JobManager may be the thing that broke
        state = f"unknown ({error})"
    try:
        restarts = cluster.job_restarts(job_id)
    except Exception as error:  # noqa: BLE001 - as above
        restarts = f"unknown ({error})"
    return (
        f"job {job_id}: {state}, numRestarts {restarts}, highest task attempt "
        f"{cluster.task_attempts(job_id)}; {cluster.status().describe()}\n"
        f"--- job exceptions ---\n{cluster.job_exceptions(job_id)[-2500:]}\n"
        f"--- TaskManager log ---\n{cluster._log_tail('taskexecutor', 25)}\n"
        f"--- JobManager log ---\n{cluster._log_tail('standalonesession', 25)}"
    )


def restart_marks(cluster: FlinkSessionCluster, job_id: str) -> tuple[int, int]:
    """``(numRestarts, highest task attempt)``: either rises when the job restarts (Flink leaves numRestarts
    at 0 for a regional recovery, when the attempt numbers rise)."""
    return cluster.job_restarts(job_id), cluster.task_attempts(job_id)


def replace_taskmanagers(cluster: FlinkSessionCluster, count: int) -> tuple[list[int], list[int]]:
    """Kill the TaskManagers (SIGKILL: a crash) and start ``count`` fresh ones; the killed and the new pids."""
    killed = cluster.kill_taskmanager()
    return killed, [cluster.start_taskmanager() for _ in range(count)]


def running_again(cluster: FlinkSessionCluster, job_id: str, before: tuple[int, int]) -> bool:
    """The job restarted since ``before`` (:func:`restart_marks`) and it and every task of it run."""
    state, tasks = cluster.job_state(job_id)
    restarts, attempts = before
    restarted = cluster.job_restarts(job_id) > restarts or cluster.task_attempts(job_id) > attempts
    return restarted and state == "RUNNING" and bool(tasks) and set(tasks) == {"RUNNING"}


def wait_until_running_again(cluster: FlinkSessionCluster, job_id: str, before: tuple[int, int], timeout_s: float):
    """Wait until :func:`running_again`, or fail after ``timeout_s`` with the :func:`diagnostics`."""
    what = "the job to restart from its checkpoint and run again"
    wait_for(lambda: running_again(cluster, job_id, before), timeout_s, what, lambda: diagnostics(cluster, job_id))
