"""A standalone Flink session cluster on loopback, and submitting the detection job to it.

``shopguard cluster start`` runs ``bin/start-cluster.sh`` of the Flink home that
:func:`shopguard.local.flink_home.flink_home` prepares (the distribution the ``apache-flink``
wheel ships, with the Kafka connector and the Prometheus reporter in ``lib/``): one JobManager and
``cluster.taskmanagers`` TaskManagers with ``cluster.taskmanager_slots`` slots each, every port bound to
127.0.0.1. The wheel's files
are never changed: the cluster's own ``conf/`` (written from :class:`~shopguard.config.ClusterSettings`
over the wheel's defaults), ``log/``, pid files (``run/``) and temporary files live in
``cluster.data_dir``, and Flink's scripts are pointed at them through ``FLINK_CONF_DIR`` and friends.

``shopguard cluster submit`` runs ``bin/flink run --detached --python <the job module's file>
--pyFiles <zip of the shopguard package> --pyExecutable <this venv's python> ...`` with the effective
configuration written to a TOML file that the job's ``main()`` reads with ``--config``, and waits until
every task of the job runs. ``stop`` cancels the running jobs, runs ``bin/stop-cluster.sh`` and makes
sure the daemons and their Python workers are gone.

Example
-------
>>> from shopguard.config import load_config
>>> conf = flink_conf(load_config(None, ["cluster.rest_port=18081"]), Path("/tmp/cluster"), {})
>>> conf["rest.port"], conf["rest.bind-address"], conf["taskmanager.numberOfTaskSlots"]
(18081, '127.0.0.1', 1)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from shopguard.config import ClusterSettings, ShopguardConfig, to_toml
from shopguard.errors import ShopguardError
from shopguard.local.job_process import DETECT_JOB_MODULE, free_port_range
from shopguard.local.process_exit import wait_for_exit

HOST = "127.0.0.1"
"""Every daemon binds and advertises loopback only: this cluster is for one machine (development, CI)."""

IDENT = "shopguard"
"""``FLINK_IDENT_STRING``: names the pid and log files (Flink's scripts default to ``$USER``, unset in CI)."""

DAEMONS = {
    "standalonesession": "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
    "taskexecutor": "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
}
"""Flink's daemon names (as in its pid files) and the main class each one's ``java`` runs."""

TERMINAL_STATES = {"FINISHED", "CANCELED", "FAILED"}
JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class ClusterError(ShopguardError):
    """The session cluster cannot start, stop or take the job; the message says why and what to do."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    rest_url: str
    data_dir: Path
    pids: Mapping[str, list[int]]
    taskmanagers: int = 0
    slots_total: int = 0
    slots_available: int = 0
    jobs: tuple[JobInfo, ...] = ()

    def describe(self) -> str:
        if not self.running:
            alive = [pid for pids in self.pids.values() for pid in pids]
            extra = f"; Flink processes {alive} own {self.data_dir} but do not answer" if alive else ""
            return f"Flink session cluster not running (would serve {self.rest_url}, data {self.data_dir}){extra}"
        jobs = ", ".join(f"{j.name} {j.state} {j.job_id}" for j in self.jobs if j.state not in TERMINAL_STATES)
        return (
            f"Flink session cluster running at {self.rest_url} (JobManager pid "
            f"{_first(self.pids['standalonesession'])}, {self.taskmanagers} TaskManager(s), "
            f"{self.slots_available} of {self.slots_total} slots free; jobs: {jobs or 'none'}; "
            f"logs in {self.data_dir / 'log'})"
        )


def data_dir_of(cfg: ShopguardConfig) -> Path:
    return Path(cfg.cluster.data_dir) if cfg.cluster.data_dir else Path(cfg.cache_dir) / "flink-cluster"


def private_cluster(settings: ClusterSettings, data_dir: str | Path, **changes) -> ClusterSettings:
    """``settings`` for a session cluster of its own beside others: free loopback ports and ``data_dir``.

    The ports are REST, JobManager RPC, then a Prometheus reporter port for every daemon with as many
    spare (a restarted TaskManager takes a new one). Tests and the benchmark start clusters with it.
    """
    taskmanagers = changes.get("taskmanagers", settings.taskmanagers)
    low, high = free_port_range(2 + 2 * (taskmanagers + 1))
    return dataclasses.replace(
        settings,
        rest_port=low,
        jobmanager_rpc_port=low + 1,
        prometheus_ports=f"{low + 2}-{high}",
        data_dir=str(data_dir),
        **changes,
    )


def flink_conf(cfg: ShopguardConfig, data_dir: Path, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster's ``config.yaml`` as flat keys: the wheel's ``defaults`` with shopguard's settings on top."""
    c = cfg.cluster
    if not 0 < c.heartbeat_interval_ms <= c.heartbeat_timeout_ms:
        raise ClusterError(
            f"cluster.heartbeat_interval_ms = {c.heartbeat_interval_ms} must be above 0 and at most "
            f"cluster.heartbeat_timeout_ms = {c.heartbeat_timeout_ms}"
        )
    if c.taskmanagers < 1 or c.taskmanager_slots < 1:
        raise ClusterError(
            f"cluster.taskmanagers = {c.taskmanagers} and cluster.taskmanager_slots = "
            f"{c.taskmanager_slots} must both be at least 1"
        )
    conf = dict(defaults)
    conf.update(
        {
            "jobmanager.rpc.address": HOST,
            "jobmanager.rpc.port": c.jobmanager_rpc_port,
            "jobmanager.bind-host": HOST,
            "jobmanager.memory.process.size": c.jobmanager_memory,
            "taskmanager.host": HOST,
            "taskmanager.bind-host": HOST,
            "taskmanager.numberOfTaskSlots": c.taskmanager_slots,
            "taskmanager.memory.process.size": c.taskmanager_memory,
            "rest.address": HOST,
            "rest.bind-address": HOST,
            "rest.port": c.rest_port,
            "io.tmp.dirs": str(data_dir / "tmp"),
            "web.upload.dir": str(data_dir / "tmp"),
            # How soon a dead TaskManager is noticed: a job waits this long before it restarts elsewhere.
            "heartbeat.interval": f"{c.heartbeat_interval_ms} ms",
            "heartbeat.timeout": f"{c.heartbeat_timeout_ms} ms",
        }
    )
    if c.prometheus_ports:
        conf["metrics.reporter.prom.factory.class"] = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        conf["metrics.reporter.prom.port"] = c.prometheus_ports
    return conf


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class FlinkSessionCluster:
    """Start, stop, inspect the session cluster described by ``cfg.cluster``, and submit the job to it."""

    def __init__(self, cfg: ShopguardConfig):
        self.cfg = cfg
        self.data_dir = data_dir_of(cfg)
        self.conf_dir = self.data_dir / "conf"
        self.log_dir = self.data_dir / "log"
        self.pid_dir = self.data_dir / "run"
        self.lib_dir = self.data_dir / "lib"
        self.rest_url = f"http://{HOST}:{cfg.cluster.rest_port}"

    # --- inspecting -------------------------------------------------------------------------------

    def status(self) -> ClusterStatus:
        pids = self._live_pids()
        overview = self._rest("GET", "/overview") if pids["standalonesession"] else None
        if overview is None:
            return ClusterStatus(False, self.rest_url, self.data_dir, pids)
        return ClusterStatus(
            True,
            self.rest_url,
            self.data_dir,
            pids,
            overview.get("taskmanagers", 0),
            overview.get("slots-total", 0),
            overview.get("slots-available", 0),
            tuple(self.jobs()),
        )

    def jobs(self) -> list[JobInfo]:
        """Every job the JobManager knows, running or finished (empty when it does not answer)."""
        overview = self._rest("GET", "/jobs/overview") or {}
        return [JobInfo(j["jid"], j["name"], j["state"]) for j in overview.get("jobs", [])]

    def job_state(self, job_id: str) -> tuple[str, list[str]]:
        """The job's state and the states of its tasks (vertices)."""
        job = self._rest("GET", f"/jobs/{job_id}")
        if job is None:
            raise ClusterError(
                f"the JobManager at {self.rest_url} does not know job {job_id} "
                "(or does not answer): see 'shopguard cluster status'"
            )
        return job["state"], [v["status"] for v in job.get("vertices", [])]

    def job_configuration(self, job_id: str) -> dict[str, str]:
        """The configuration the JobManager runs the job with (cluster settings and the job's own)."""
        entries = self._rest("GET", f"/jobs/{job_id}/jobmanager/config") or []
        return {entry["key"]: entry["value"] for entry in entries}

    def job_restarts(self, job_id: str) -> int:
        """Flink's count of the job's restarts (the JobManager's ``numRestarts`` job metric, over REST)."""
        for metric in self._rest("GET", f"/jobs/{job_id}/metrics?get=numRestarts") or []:
            if metric.get("id") == "numRestarts":
                return int(float(metric["value"]))
        raise ClusterError(f"the JobManager at {self.rest_url} reports no numRestarts metric for job {job_id}")

    def task_attempts(self, job_id: str) -> int:
        """The highest execution attempt of any of the job's subtasks: above 0 once a task was restarted.

        Flink's ``numRestarts`` stayed 0 when one of two single-slot TaskManagers was killed and the
        job recovered on a new one (Flink 2.2.1); the attempt numbers do show that restart.
        """
        attempts = [0]
        for vertex in (self._rest("GET", f"/jobs/{job_id}") or {}).get("vertices", []):
            subtasks = (self._rest("GET", f"/jobs/{job_id}/vertices/{vertex['id']}") or {}).get("subtasks", [])
            attempts += [int(subtask.get("attempt", 0)) for subtask in subtasks]
        return max(attempts)

    def processes(self) -> list[int]:
        """Every live process of this cluster: the daemons and their Python workers (found by ``FLINK_CONF_DIR``)."""
        return _processes_with_env("FLINK_CONF_DIR", str(self.conf_dir))

    def job_exceptions(self, job_id: str) -> str:
        """The job's latest failure as Flink's REST API reports it, cut to what a person reads first.

        That is the exception messages (``Caused by: ...``) and the Python frames, not the Java frames
        of Flink's scheduler. ``''`` if the job has not failed.
        """
        info = self._rest("GET", f"/jobs/{job_id}/exceptions") or {}
        history = info.get("exceptionHistory", {}).get("entries", [])
        trace = (history[0].get("stacktrace", "") if history else info.get("root-exception", "")) or ""
        wanted = [line for line in trace.splitlines() if not line.startswith("\tat ") or ".py:" in line]
        return "\n".join(wanted[:40])

    # --- starting and stopping --------------------------------------------------------------------

    def start(self) -> ClusterStatus:
        """Start the JobManager and the TaskManagers and wait until all their slots are registered."""
        current = self.status()
        if current.running:
            print(f"Flink session cluster already running at {self.rest_url}", flush=True)
            return current
        alive = [pid for pids in current.pids.values() for pid in pids]
        if alive:
            raise ClusterError(
                f"Flink processes {alive} own {self.data_dir} but the REST API at {self.rest_url} "
                "does not answer: run 'shopguard cluster stop', then start again"
            )
        for setting, port in (
            ("cluster.rest_port", self.cfg.cluster.rest_port),
            ("cluster.jobmanager_rpc_port", self.cfg.cluster.jobmanager_rpc_port),
        ):
            if not _port_free(port):
                raise ClusterError(
                    f"port {port} on {HOST} is already in use by another program: stop it or "
                    f"choose another port with --set {setting}=..."
                )
        home = self._flink_home()
        self._link_lib(home)
        self._write_conf(home)
        self._run_script(home, "start-cluster.sh", timeout_s=60)
        self._wait_until_ready()
        status = self.status()
        print(
            f"Flink session cluster started at {self.rest_url}: {status.taskmanagers} TaskManager(s), "
            f"{status.slots_total} slots (logs in {self.log_dir})",
            flush=True,
        )
        return status

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Cancel running jobs, stop the daemons cleanly (SIGKILL after ``timeout_s``); False if none ran."""
        daemons = [pid for group in self._live_pids().values() for pid in group]
        if daemons:
            if self._rest("GET", "/overview") is not None:
                for job in self.jobs():
                    if job.state not in TERMINAL_STATES:
                        try:
                            self.cancel(job.job_id, timeout_s=timeout_s)
                        except ClusterError:
                            pass  # stopping the daemons ends it anyway
            try:
                self._run_script(self._flink_home(), "stop-cluster.sh", timeout_s=timeout_s + 30)
            except ClusterError:
                pass  # the checks below kill whatever the script left
            for pid in daemons:
                if not _wait_for_exit(pid, timeout_s):
                    _kill(pid, signal.SIGKILL)
                    _wait_for_exit(pid, 10.0)
        # Python workers end with their TaskManager, but one that crashed can leave them behind.
        leftovers = self.processes()
        for pid in leftovers:
            _kill(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, 5.0):
                _kill(pid, signal.SIGKILL)
        self._forget_pid_files()
        return bool(daemons or leftovers)

    def kill_taskmanager(self, sig: int = signal.SIGKILL, timeout_s: float = 30.0) -> list[int]:
        """Kill the TaskManager process(es) with ``sig`` (a crash, by default), as a fault test does.

        The killed pids leave Flink's pid file, so that ``stop`` and ``taskmanager.sh`` see only live
        daemons; Python workers the TaskManager leaves behind are killed as well (they die with their
        machine in a real crash). Returns the killed TaskManager pids.
        """
        jobmanagers = set(self._live_pids()["standalonesession"])
        killed = self._live_pids()["taskexecutor"]
        for pid in killed:
            _kill(pid, sig)
        for pid in killed:
            if not _wait_for_exit(pid, timeout_s):
                raise ClusterError(f"TaskManager {pid} did not exit within {timeout_s:g} s of signal {sig}")
        path = self.pid_dir / f"flink-{IDENT}-taskexecutor.pid"
        if path.exists():
            kept = [line for line in path.read_text().split() if line.strip().isdigit() and int(line) not in killed]
            path.write_text("".join(f"{pid}\n" for pid in kept))
        for pid in self.processes():
            if pid not in jobmanagers:
                _kill(pid, signal.SIGKILL)
                _wait_for_exit(pid, 10.0)
        return killed

    def start_taskmanager(self) -> int:
        """Start one more TaskManager (``bin/taskmanager.sh start`` with this cluster's environment and conf/).

        Waits until its slots are registered with the JobManager; returns its pid.
        """
        before = set(self._live_pids()["taskexecutor"])
        # Known by id, not by the slot total: the JobManager may drop a killed TaskManager meanwhile.
        known = {tm["id"] for tm in (self._rest("GET", "/taskmanagers") or {}).get("taskmanagers", [])}
        self._run_script(self._flink_home(), "taskmanager.sh", timeout_s=60, args=["start"])
        deadline = time.monotonic() + self.cfg.cluster.start_timeout_s
        while time.monotonic() < deadline:
            # Exited means its pid is in the pid file and gone; a pid whose /proc entry reads as neither
            # flink-daemon.sh nor java (during its exec) is still starting.
            written = [pid for pid in self._pid_file("taskexecutor") if pid not in before]
            if written and not any(_alive(pid) for pid in written):
                raise ClusterError(
                    f"the new TaskManager exited while starting; last lines of its log:\n"
                    f"{self._log_tail('taskexecutor')}"
                )
            started = [pid for pid in self._live_pids()["taskexecutor"] if pid not in before]
            if not started:
                time.sleep(0.5)
                continue
            registered = (self._rest("GET", "/taskmanagers") or {}).get("taskmanagers", [])
            if any(
                tm["id"] not in known and tm.get("slotsNumber", 0) >= self.cfg.cluster.taskmanager_slots
                for tm in registered
            ):
                return started[0]
            time.sleep(0.5)
        raise ClusterError(
            f"the new TaskManager did not register {self.cfg.cluster.taskmanager_slots} slots within "
            f"{self.cfg.cluster.start_timeout_s:g} s; last lines of its log:\n"
            f"{self._log_tail('taskexecutor')}"
        )

    # --- jobs -------------------------------------------------------------------------------------

    def submit(self, module: str = DETECT_JOB_MODULE, arguments: Sequence[str] = ()) -> str:
        """Submit the detection job (or ``module`` with ``arguments``, as the benchmark does) with ``flink run -py``
        (detached) and wait until its tasks run; return its id."""
        status = self.status()
        if not status.running:
            raise ClusterError(
                f"no Flink session cluster answers at {self.rest_url}: start one with "
                "'shopguard cluster start' (same --config/--set)"
            )
        from shopguard.jobs.python_dependencies import package_archive

        home = self._flink_home()
        jobs_dir = self.data_dir / "jobs"
        jobs_dir.mkdir(parents=True, exist_ok=True)
        config_path = jobs_dir / f"{self.cfg.job.job_name}.toml"
        config_path.write_text(
            "# Written by 'shopguard cluster submit': the configuration the job was submitted "
            "with.\n" + to_toml(self.cfg)
        )
        python = sys.executable  # this virtual environment's interpreter, for the client and the workers alike
        command = [
            str(home / "bin" / "flink"),
            "run",
            "--detached",
            "--python",
            job_entry_script(module),
            "--pyFiles",
            str(package_archive(self.cfg.cache_dir)),
            "--pyExecutable",
            python,
            "--pyClientExecutable",
            python,
            "--config",
            str(config_path),
            *arguments,
        ]
        output = self._run(
            command,
            home,
            timeout_s=self.cfg.cluster.submit_timeout_s,
            what="submitting the job ('flink run')",
            setting="cluster.submit_timeout_s",
        )
        match = JOB_ID.search(output)
        if match is None:
            raise ClusterError(
                f"'flink run' did not report a job id; its output ends with:\n{_tail(output)}\n"
                f"(client log in {self.log_dir})"
            )
        job_id = match[1]
        self.wait_until_running(job_id, self.cfg.cluster.submit_timeout_s)
        return job_id

    def wait_until_running(self, job_id: str, timeout_s: float) -> None:
        """Wait until the job and every one of its tasks are RUNNING; raise with Flink's reason otherwise."""
        deadline = time.monotonic() + timeout_s
        state, tasks = "UNKNOWN", []
        while time.monotonic() < deadline:
            state, tasks = self.job_state(job_id)
            if state in TERMINAL_STATES:
                raise ClusterError(
                    f"job {job_id} ended as {state} right after submission:\n"
                    f"{self.job_exceptions(job_id)}\n(TaskManager log in {self.log_dir})"
                )
            if state == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
                return
            if not self._live_pids()["taskexecutor"]:
                raise ClusterError(
                    f"the TaskManager exited while job {job_id} was starting (job {state}); "
                    f"last lines of its log:\n{self._log_tail('taskexecutor')}"
                )
            time.sleep(0.5)
        raise ClusterError(
            f"job {job_id} was not running within {timeout_s:g} s (cluster.submit_timeout_s): "
            f"job {state}, tasks {tasks}; see {self.rest_url} and {self.log_dir}"
        )

    def cancel(self, job_id: str, timeout_s: float = 30.0) -> str:
        """Cancel the job and wait until it is in a terminal state; return that state."""
        if self._rest("PATCH", f"/jobs/{job_id}?mode=cancel") is None:
            raise ClusterError(f"cancelling job {job_id} at {self.rest_url} failed: the JobManager does not answer")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state, _ = self.job_state(job_id)
            if state in TERMINAL_STATES:
                return state
            time.sleep(0.3)
        raise ClusterError(f"job {job_id} was not cancelled within {timeout_s:g} s; see {self.rest_url}")

    # --- internals --------------------------------------------------------------------------------

    def _flink_home(self) -> Path:
        from shopguard.jobs.flink_environment import require_java
        from shopguard.local.flink_home import flink_home

        require_java()
        return flink_home(self.cfg)

    def _link_lib(self, home: Path) -> None:
        """The daemons' ``lib/``: the Flink home's jars plus ``opt/flink-python``.

        In thread mode the TaskManager loads libpython through pemja. When pemja comes with the job (the
        flink-python jar that ``flink run --python`` ships), each job and each restart gets a new class
        loader, and the second one fails on Java 17 with ``NoSuchFieldException: loadedLibraryNames``
        (pemja's workaround for FLINK-26865 reflects on a field Java 17 removed). Loaded once from
        ``lib/``, pemja and libpython are shared by every job and every restart.
        """
        jars = [*(home / "lib").glob("*.jar"), *(home / "opt").resolve().glob("flink-python-*.jar")]
        if not any(jar.name.startswith("flink-python-") for jar in jars):
            raise ClusterError(
                f"no flink-python jar in {(home / 'opt').resolve()}: reinstall apache-flink "
                "(pip install -c constraints.txt -e .)"
            )
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        wanted = {jar.name: jar.resolve() for jar in jars}
        for present in self.lib_dir.iterdir():
            if present.name not in wanted or present.resolve() != wanted[present.name]:
                present.unlink()
        for name, target in wanted.items():
            if not (self.lib_dir / name).is_symlink():
                (self.lib_dir / name).symlink_to(target)

    def _write_conf(self, home: Path) -> None:
        """The cluster's ``conf/``: the wheel's logging files, ``config.yaml``, ``masters`` and ``workers``."""
        wheel_conf = (home / "conf").resolve()
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for source in wheel_conf.iterdir():
            if source.suffix in (".properties", ".xml"):
                shutil.copyfile(source, self.conf_dir / source.name)
        defaults = _flatten(yaml.safe_load((wheel_conf / "config.yaml").read_text()) or {})
        conf = flink_conf(self.cfg, self.data_dir, defaults)
        (self.conf_dir / "config.yaml").write_text(
            "# Written by 'shopguard cluster start' from the wheel's config.yaml and [cluster]; "
            "edits are overwritten.\n" + yaml.safe_dump(conf, default_flow_style=False, sort_keys=False, width=1 << 16)
        )
        (self.conf_dir / "masters").write_text(f"{HOST}:{self.cfg.cluster.rest_port}\n")
        (self.conf_dir / "workers").write_text(f"{HOST}\n" * self.cfg.cluster.taskmanagers)  # one line per TaskManager
        for folder in (self.log_dir, self.pid_dir, self.data_dir / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)

    def _env(self, home: Path) -> dict[str, str]:
        """Flink's scripts resolve symlinks to find their home; these variables keep them on ours.

        ``opt/`` and ``plugins/`` are links to the wheel's folders; they are passed resolved because
        the client walks ``FLINK_OPT_DIR`` for the flink-python jar without following links.
        """
        env = dict(os.environ)
        env.update(
            {
                "FLINK_HOME": str(home),
                "_FLINK_HOME_DETERMINED": "1",
                "FLINK_LIB_DIR": str(self.lib_dir),
                "FLINK_OPT_DIR": str((home / "opt").resolve()),
                "FLINK_PLUGINS_DIR": str((home / "plugins").resolve()),
                "FLINK_CONF_DIR": str(self.conf_dir),
                "FLINK_LOG_DIR": str(self.log_dir),
                "FLINK_PID_DIR": str(self.pid_dir),
                "FLINK_IDENT_STRING": IDENT,
            }
        )
        env.pop("PYFLINK_GATEWAY_PORT", None)  # never attach the client to another process's gateway
        return env

    def _run_script(self, home: Path, script: str, timeout_s: float, args: list[str] | None = None) -> str:
        return self._run(
            ["bash", str(home / "bin" / script), *(args or [])],
            home,
            timeout_s,
            what=f"bin/{' '.join([script, *(args or [])])}",
        )

    def _run(self, command: list[str], home: Path, timeout_s: float, what: str, setting: str = "") -> str:
        """Run one of Flink's scripts in its own session (so Ctrl-C here does not reach the daemons)."""
        try:
            result = subprocess.run(
                command,
                env=self._env(home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout_s,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else expired.stdout
            raise ClusterError(
                f"{what} did not finish within {timeout_s:g} s"
                f"{f' ({setting})' if setting else ''}; its output ends with:\n{_tail(output or '')}"
                f"\n(logs in {self.log_dir})"
            ) from None
        if result.returncode != 0:
            raise ClusterError(
                f"{what} failed with exit code {result.returncode}; its output ends with:\n"
                f"{_tail(result.stdout)}\n(logs in {self.log_dir})"
            )
        return result.stdout

    def _wait_until_ready(self) -> None:
        taskmanagers = self.cfg.cluster.taskmanagers
        slots = taskmanagers * self.cfg.cluster.taskmanager_slots
        deadline = time.monotonic() + self.cfg.cluster.start_timeout_s
        while time.monotonic() < deadline:
            for daemon, name in (("standalonesession", "JobManager"), ("taskexecutor", "TaskManager")):
                if self._exited(daemon):
                    log_tail = self._log_tail(daemon)
                    self.stop()
                    raise ClusterError(f"the {name} exited while starting; last lines of its log:\n{log_tail}")
            overview = self._rest("GET", "/overview")
            if overview and overview.get("taskmanagers", 0) >= taskmanagers and overview.get("slots-total", 0) >= slots:
                return
            time.sleep(0.5)
        log_tail = self._log_tail("taskexecutor") + "\n" + self._log_tail("standalonesession")
        self.stop()
        raise ClusterError(
            f"the cluster did not report {taskmanagers} TaskManager(s) with {slots} slots in all at "
            f"{self.rest_url} within "
            f"{self.cfg.cluster.start_timeout_s:g} s (cluster.start_timeout_s); "
            f"last lines of its logs:\n{log_tail}"
        )

    def _log_tail(self, daemon: str, lines: int = 15) -> str:
        logs = sorted(self.log_dir.glob(f"flink-{IDENT}-{daemon}-*.log"), key=lambda p: p.stat().st_mtime)
        outs = sorted(self.log_dir.glob(f"flink-{IDENT}-{daemon}-*.out"), key=lambda p: p.stat().st_mtime)
        parts = [f"{p.name}:\n{_tail(p.read_text(errors='replace'), lines)}" for p in logs[-1:] + outs[-1:]]
        return "\n".join(parts) or f"(no {daemon} log in {self.log_dir})"

    def _exited(self, daemon: str) -> bool:
        """Whether every pid in the daemon's pid file is gone. A pid that is alive but not yet running
        Java is the launcher's shell about to exec the JVM (seen under load): still starting, not exited."""
        path = self.pid_dir / f"flink-{IDENT}-{daemon}.pid"
        try:
            pids = [int(line) for line in path.read_text().split() if line.strip().isdigit()]
        except FileNotFoundError:
            return False  # the launcher has not written it yet
        return bool(pids) and not any(_alive(pid) for pid in pids)

    def _pid_file(self, daemon: str) -> list[int]:
        """The pids Flink's pid file of ``daemon`` lists, live or not."""
        path = self.pid_dir / f"flink-{IDENT}-{daemon}.pid"
        try:
            return [int(line) for line in path.read_text().split() if line.strip().isdigit()]
        except FileNotFoundError:
            return []

    def _live_pids(self) -> dict[str, list[int]]:
        """The pids in Flink's pid files that still run the daemon they name."""
        return {
            daemon: [pid for pid in self._pid_file(daemon) if _runs(pid, main_class)]
            for daemon, main_class in DAEMONS.items()
        }

    def _forget_pid_files(self) -> None:
        for daemon in DAEMONS:
            (self.pid_dir / f"flink-{IDENT}-{daemon}.pid").unlink(missing_ok=True)

    def _rest(self, method: str, path: str) -> Any:
        """One call to the JobManager's REST API; ``None`` when it does not answer."""
        request = urllib.request.Request(self.rest_url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read()
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return json.loads(body) if body.strip() else {}


def job_entry_script(module: str = DETECT_JOB_MODULE) -> str:
    """The file of ``module`` (the detection job) as installed: ``flink run --python`` runs it as a script."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ClusterError(f"{module} is not importable: install the project (pip install -c constraints.txt -e .)")
    return spec.origin


def cluster_command(cfg: ShopguardConfig, action: str) -> int:
    """``shopguard cluster start|stop|status|submit|cancel``: print what happened, return the exit code.

    ``status`` returns 3 when the cluster is not running; ``cancel`` cancels the running jobs named
    ``job.job_name``.
    """
    from shopguard.local.maven_artifacts import ArtifactError

    cluster = FlinkSessionCluster(cfg)
    try:
        if action == "start":
            cluster.start()
        elif action == "stop":
            print(
                f"Flink session cluster at {cluster.rest_url} stopped"
                if cluster.stop()
                else f"no Flink session cluster was running for {cluster.data_dir}"
            )
        elif action == "submit":
            job_id = cluster.submit()
            print(
                f"job {cfg.job.job_name!r} running on {cluster.rest_url} as {job_id}; "
                f"cancel with 'shopguard cluster cancel'",
                flush=True,
            )
        elif action == "cancel":
            running = [j for j in cluster.jobs() if j.name == cfg.job.job_name and j.state not in TERMINAL_STATES]
            for job in running:
                print(f"job {job.name!r} {job.job_id}: {cluster.cancel(job.job_id)}")
            if not running:
                print(f"no running job named {cfg.job.job_name!r} on {cluster.rest_url}")
        else:
            status = cluster.status()
            print(status.describe())
            return 0 if status.running else 3
        return 0
    except (ClusterError, ArtifactError) as error:
        print(f"shopguard: {error}", file=sys.stderr, flush=True)
        return 1


def _first(pids: list[int]) -> int | None:
    return pids[0] if pids else None


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _port_free(port: int) -> bool:
    """True if nothing listens on ``port`` (connections lingering in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _runs(pid: int, main_class: str) -> bool:
    """True if ``pid`` runs ``main_class``, or is flink-daemon.sh's fork that is about to exec its ``java``."""
    cmdline = _cmdline(pid)
    return main_class.encode() in cmdline or any(arg.endswith(b"/flink-daemon.sh") for arg in cmdline)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _processes_with_env(name: str, value: str) -> list[int]:
    """Live processes whose environment has ``name=value``: this cluster's daemons and their Python workers."""
    wanted = f"{name}={value}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if wanted in environ.read_bytes().split(b"\0"):
                pid = int(environ.parent.name)
                if pid != os.getpid() and _alive(pid):
                    found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    return wait_for_exit(pid, _alive, timeout_s)
