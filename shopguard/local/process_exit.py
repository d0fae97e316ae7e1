"""Waiting for a daemon we stopped (the Kafka broker, Flink's JobManager and TaskManagers) to be gone."""

from __future__ import annotations

import os
import time
from typing import Callable


def wait_for_exit(pid: int, still_running: Callable[[int], bool], timeout_s: float) -> bool:
    """True once ``still_running(pid)`` is false, reaping ``pid`` if it is our child; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not still_running(pid):
            return True
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, so it does not linger as a zombie
        except ChildProcessError:
            pass
        time.sleep(0.2)
    return not still_running(pid)
