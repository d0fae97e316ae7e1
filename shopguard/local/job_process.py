"""The detection job as a real child process on a Flink mini-cluster, for integration tests and the benchmark.

:class:`RunningJob` starts ``python -m shopguard.jobs.detect_job`` with the test's configuration,
waits until its operators report metrics (so the job is really running), reads its metrics from
Flink's Prometheus reporter, and stops the process group (the Python client and its JVM).
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from shopguard.config import ShopguardConfig, Topics, to_toml

DETECT_JOB_MODULE = "shopguard.jobs.detect_job"
"""The detection job's entry point (``main()`` takes ``--config``) for ``python -m`` and ``flink run --python``."""

_METRIC_LINE = re.compile(r"^flink_taskmanager_job_task_operator_shopguard_(\w+)\{[^}]*\}\s+([-+0-9.eE]+)$")
_TASK_TIME_LINE = re.compile(
    r"^flink_taskmanager_job_task_(busy|backPressured|idle)TimeMsPerSecond"
    r"\{[^}]*task_name=\"([^\"]*)\"[^}]*\}\s+([-+0-9.eE]+)$"
)


def isolated_job_config(
    base: ShopguardConfig, name: str, registry_dir: str | Path, with_scores: bool = True, **job_changes
) -> tuple[ShopguardConfig, tuple[int, int]]:
    """A configuration for one private job run beside others on the same broker, and its reporter ports.

    Its own topics (2 partitions; a scores topic unless ``with_scores`` is false; feedback, rules and risk signals),
    consumer group, registry folder, Prometheus ports and job name; parallelism 2 and 2-second checkpoints unless
    ``job_changes`` say otherwise. Its checkpoints go beside the registry folder (``<registry_dir>-checkpoints``)
    unless ``base`` names a checkpoint folder: a job whose process is killed leaves them behind, and they belong
    with the run's other files, not in the user's cache. Tests and the benchmark start jobs with it.
    """
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(
        events=f"{name}-events-{suffix}",
        alerts=f"{name}-alerts-{suffix}",
        dead_letters=f"{name}-dlq-{suffix}",
        late=f"{name}-late-{suffix}",
        scores=f"{name}-scores-{suffix}" if with_scores else "",
        feedback=f"{name}-feedback-{suffix}",
        risk_signals=f"{name}-signals-{suffix}",
        rules=f"{name}-rules-{suffix}",
        partitions=2,
    )
    low, high = free_port_range(4)
    job = dataclasses.replace(
        base.job,
        **{
            "parallelism": 2,
            "checkpoint_interval_ms": 2000,
            "prometheus_ports": f"{low}-{high}",
            "job_name": f"{name}-{suffix}",
            "checkpoint_dir": base.job.checkpoint_dir
            or str(Path(registry_dir).parent / f"{Path(registry_dir).name}-checkpoints"),
            **job_changes,
        },
    )
    cfg = dataclasses.replace(
        base,
        topics=topics,
        kafka=dataclasses.replace(base.kafka, consumer_group=f"{name}-{suffix}"),
        registry=dataclasses.replace(base.registry, url=str(registry_dir)),
        job=job,
    )
    return cfg, (low, high)


def free_port_range(size: int) -> tuple[int, int]:
    """``size`` consecutive free loopback ports (the Prometheus reporter takes a range).

    The search starts at a random place, so that test sessions running side by side on one machine
    do not both pick the first free range and race to bind it. Ports stay below Linux's ephemeral range
    (32768 and up): connecting to a not-yet-listening port there can connect the socket to itself
    (TCP self-connect), and the metrics scrape then reads back its own request.
    """
    bases = list(range(12000, 32000, 97))
    start = random.randrange(len(bases))
    for base in bases[start:] + bases[:start]:
        ports = range(base, base + size)
        if all(_is_free(port) for port in ports):
            return ports[0], ports[-1]
    raise RuntimeError("no free port range on loopback")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class RunningJob:
    cfg: ShopguardConfig
    log_path: Path
    process: subprocess.Popen | None = None
    ports: tuple[int, int] = field(default=(0, 0))
    module: str = DETECT_JOB_MODULE  # the job's entry point, run as ``python -m``
    arguments: tuple[str, ...] = ()  # after ``--config FILE``

    @property
    def flink_log_dir(self) -> Path:
        """Where this job's mini-cluster logs (its own folder: every JVM writes the same file name)."""
        return self.log_path.parent / "flink-log"

    def flink_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.flink_log_dir.glob("*.log")))

    def start(self, ready_timeout_s: float = 180.0) -> "RunningJob":
        config_path = self.log_path.with_suffix(".toml")
        config_path.write_text(to_toml(self.cfg))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "--config", str(config_path), *self.arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "FLINK_LOG_DIR": str(self.flink_log_dir)},
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the job exited with {self.process.returncode}:\n{self.log_tail()}")
            if "events_in" in self.metrics():
                return self
            time.sleep(1.0)
        raise AssertionError(f"the job did not start within {ready_timeout_s} s:\n{self.log_tail()}")

    def _reporter_lines(self):
        """Every line the job's Prometheus reporters expose (one port per JVM component)."""
        low, high = self.ports
        for port in range(low, high + 1):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    yield from response.read().decode().splitlines()
            except (OSError, http.client.HTTPException):  # not listening yet, or not a reporter
                continue

    def metrics(self) -> dict[str, float]:
        """The job's ``shopguard`` counters, summed over subtasks, from every reporter port."""
        totals: dict[str, float] = {}
        for line in self._reporter_lines():
            match = _METRIC_LINE.match(line)
            if match:
                totals[match[1]] = totals.get(match[1], 0.0) + float(match[2])
        return totals

    def task_time_shares(self) -> dict[str, dict[str, float]]:
        """Flink's own busy / back-pressured / idle share of each task's time now (first operator's name).

        A task at ``busy`` 1.0 whose upstream is back-pressured is the job's bottleneck; busy time
        includes time blocked inside an operator (for example waiting for a Python worker's results).
        """
        shares: dict[str, dict[str, float]] = {}
        for line in self._reporter_lines():
            match = _TASK_TIME_LINE.match(line)
            if match:
                task = re.split(r"_{3,}", match[2])[0].strip("_").replace("_", " ")
                shares.setdefault(task, {})[match[1]] = float(match[3]) / 1000
        return shares

    def job_restarts(self) -> float:
        """Flink's own count of job restarts (from the JobManager's metrics)."""
        for line in self._reporter_lines():
            if line.startswith("flink_jobmanager_job_numRestarts"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError("no flink_jobmanager_job_numRestarts metric on the reporter ports")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.is_running():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
