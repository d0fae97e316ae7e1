"""Waiting in the integration tests: poll until a condition holds, or fail saying what was awaited and what the
system looked like then (a timeout is generous: a loaded machine is slow, not wrong)."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from shopguard.local.job_process import RunningJob

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout_s: float, what: str, explain: Callable[[], str], every_s: float = 0.5
) -> T:
    """Call ``condition`` every ``every_s`` seconds until it returns something true, and return that; after
    ``timeout_s`` fail, naming ``what`` was awaited, with ``explain()``: the state, metrics and logs."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{explain()}")
        time.sleep(every_s)
    return value


def wait_on_job(
    condition: Callable[[], T],
    timeout_s: float,
    what: str,
    job: RunningJob,
    every_s: float = 0.5,
    also: Callable[[], str] = str,
) -> T:
    """:func:`wait_for`, beside a local job: fail at once if its process exits, and after ``timeout_s`` with its
    metrics, its log tail and ``also()`` (the broker's status, say)."""

    def holds() -> T:
        if not job.is_running():
            exited = f"the job exited ({job.process.returncode}) while waiting for {what}"
            raise AssertionError(f"{exited}\n--- job log ---\n{job.log_tail(80)}")
        return condition()

    return wait_for(
        holds,
        timeout_s,
        what,
        lambda: f"metrics {job.metrics()} {also()}\n--- job log ---\n{job.log_tail(80)}",
        every_s,
    )
