"""Where the running job's time goes: CPU per process, and py-spy samples of its Python code by stage.

The per-stage costs of :mod:`shopguard.bench.baselines` are measured in one Python process; this module
looks inside the *real* job while it drains a backlog. Two views, over the same window:

- **CPU seconds per process** (from ``/proc/<pid>/stat``): the Flink JVM (which also hosts the
  thread-mode Python operators through pemja), the job's client process (on the mini-cluster PyFlink
  runs the process-mode pandas UDF worker there, in Beam's loopback mode), and the Kafka broker. Java
  work (Kafka source and sink, serialization between operators) shows only here.
- **py-spy samples** of every Python thread of the job, embedded or not, each attributed to the
  innermost shopguard frame on its stack (so onnxruntime time counts as the detectors that call it)
  and, when no shopguard frame is on it, to the runtime package at the leaf (PyFlink, Beam, gRPC,
  pyarrow, pandas): the cost of moving rows between the JVM and Python.

py-spy is in the ``dev`` extra; without it, or where the kernel refuses ``ptrace``, the report says so
instead of failing.

Example
-------
>>> stack = ('process 9:"java ...";run (pyflink/fn_execution/embedded/operations.py:93);'
...          'process_element (shopguard/udfs/user_history.py:80);observe (shopguard/udfs/pattern_matching.py:60)')
>>> frame_stage(stack.split(";")[1:])
'pattern matching'
>>> frame_stage(["run (pyflink/fn_execution/beam/beam_operations.py:10)", "decode (pyarrow/ipc.py:3)"])
'runtime: pyarrow'
>>> frame_stage([])
'no Python frame that py-spy could read (Java or pemja work, a wait for the GIL, or unread Python)'
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# innermost shopguard module on a stack -> the stage it belongs to
STAGE_OF_MODULE = {
    "event_intake": "parse",
    "events": "parse",
    "event_time": "parse",
    "user_history": "state update",
    "user_state": "state update",
    "admission": "state update",
    "session_features": "state update",
    "cool_down": "state update",
    "encoding": "encoding",
    "behaviour_tokens": "pattern matching",
    "pattern_matching": "pattern matching",
    "pattern_store": "pattern matching",
    "served_patterns": "pattern matching",
    "scoring": "detectors and combiner",
    "detector_ensemble": "detectors and combiner",
    "score_combiner": "detectors and combiner",
    "model_source": "detectors and combiner",
    "velocity_rules": "detectors and combiner",
    "alerts": "alerts",
    "alert_decision": "alerts",
    "explanations": "alerts",
    "identifier_hashing": "alerts",
}
_PROCESS = re.compile(r'^process \d+:"')
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


NO_PYTHON_FRAME = "no Python frame that py-spy could read (Java or pemja work, a wait for the GIL, or unread Python)"


def _shopguard_path(frame: str) -> str | None:
    """The file of a py-spy frame (``function (path:line)``) when it is shopguard's own code, else None.

    Installed in editable mode, shopguard's files show as ``shopguard/...`` or, for the top-level
    packages the design card lays out, as ``udfs/...``, ``jobs/...`` and ``training/...``.
    """
    match = _FRAME.match(frame)
    path = match.group("file") if match else ""
    parts = path.split("/")
    return path if "shopguard" in parts[:-1] or parts[0] in ("udfs", "jobs", "training") else None


def frame_stage(frames: list[str]) -> str:
    """The stage one sampled stack (root first) belongs to.

    A stack with no Python frame is :data:`NO_PYTHON_FRAME`: py-spy saw the thread but no frame it could read. In
    the JVM that is a task thread in Java or in pemja's native code (converting rows, or waiting for the interpreter's
    lock, which every thread-mode operator of a TaskManager shares), or Python py-spy could not read; the samples
    alone cannot tell which (the bench's Bottleneck line says how much of a task's busy time was on a CPU).
    """
    if not frames:
        return NO_PYTHON_FRAME
    for frame in reversed(frames):
        path = _shopguard_path(frame)
        if path is not None:
            module = Path(path).stem
            return STAGE_OF_MODULE.get(module, f"other shopguard ({module})")
    leaf = _FRAME.match(frames[-1])
    package = (leaf.group("file").split("/")[0] if leaf else "") or "unknown"
    return f"runtime: {package.removesuffix('.py')}"


@dataclass
class ProcessCpu:
    """CPU seconds of the job's processes (and the broker), and of their threads, between two readings.

    Threads are grouped by the name Linux keeps for them (15 characters: ``track user hist`` is the
    keyed operator's task thread, ``Source: user-ev`` the source chain's, ``GC Thread#0`` a collector).
    """

    start: dict[tuple[str, str], float] = field(default_factory=dict)

    @staticmethod
    def read(pids: list[int]) -> dict[tuple[str, str], float]:
        """CPU seconds per (process role, thread name), summed over ``pids``' threads."""
        tick = os.sysconf("SC_CLK_TCK")
        readings: Counter[tuple[str, str]] = Counter()
        for pid in pids:
            role = role_of(pid)
            try:
                tasks = list(Path(f"/proc/{pid}/task").iterdir())
            except OSError:
                continue
            for task in tasks:
                try:
                    name, fields = task.joinpath("stat").read_text().split("(", 1)[1].rsplit(")", 1)
                except (OSError, ValueError):
                    continue
                values = fields.split()
                readings[(role, re.sub(r"\d+", "#", name))] += (int(values[11]) + int(values[12])) / tick
        return dict(readings)

    def begin(self, pids: list[int]) -> None:
        self.start = self.read(pids)

    def seconds(self, pids: list[int]) -> tuple[dict[str, float], dict[str, float]]:
        """CPU seconds since :meth:`begin`, by process role and by ``role: thread``."""
        by_role: Counter[str] = Counter()
        by_thread: Counter[str] = Counter()
        for (role, thread), seconds in self.read(pids).items():
            spent = seconds - self.start.get((role, thread), 0.0)
            by_role[role] += spent
            by_thread[f"{role}: {thread}"] += spent
        return dict(by_role), dict(by_thread.most_common(10))


def task_thread_seconds(task: str, cpu_seconds_by_thread: dict[str, float]) -> float | None:
    """CPU seconds of the thread that runs Flink task ``task``, from :meth:`ProcessCpu.seconds`' ``role: thread`` keys.

    Linux keeps 15 characters of a thread's name, and Flink's metrics turn a task name's punctuation into spaces,
    so the two are matched on their letters and digits: the thread's are a prefix of the task's.

    >>> threads = {"Flink JVM (with thread-mode Python): track user hist": 22.5, "job client: python": 12.0}
    >>> task_thread_seconds("track user history", threads), task_thread_seconds("decide alert", threads)
    (22.5, None)
    """
    letters = re.sub(r"[^0-9a-z]", "", task.lower())
    for key, seconds in cpu_seconds_by_thread.items():
        thread = re.sub(r"[^0-9a-z]", "", key.rsplit(": ", 1)[-1].lower())
        if thread and letters.startswith(thread):
            return seconds
    return None


def process_role(cmdline: str) -> str:
    """What a process of the benchmark is, from its command line."""
    if "kafka.Kafka" in cmdline or "kafka-data" in cmdline:
        return "Kafka broker"
    if "java" in cmdline.split(" ", 1)[0]:
        return "Flink JVM (with thread-mode Python)"
    if "beam_boot" in cmdline or "fn_execution" in cmdline or "pyflink-udf-runner" in cmdline:
        return "Beam boot (starts the loopback worker)"
    if "detect_job" in cmdline:
        # On the mini-cluster PyFlink runs process-mode workers in loopback: inside the client process
        return "job client (process-mode pandas UDF worker)"
    return "other"


def role_of(pid: int) -> str:
    """:func:`process_role` of a running process ("gone" once it has exited)."""
    try:
        return process_role(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    except OSError:
        return "gone"


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def broker_pids() -> tuple[int, ...]:
    """Local Kafka brokers on this machine (their CPU is part of what the job costs here)."""
    return tuple(int(proc.name) for proc in Path("/proc").glob("[0-9]*") if role_of(int(proc.name)) == "Kafka broker")


# What a Flink task thread is doing, from the first matching frame of its stack (top = innermost)
THREAD_STATE_RULES = (
    ("BeamPythonFunctionRunner.takeResult", "waiting for the process-mode Python worker (end of bundle)"),
    ("pemja.", "running thread-mode Python (pemja)"),
    ("requestMemorySegmentBlocking", "back-pressured (waiting for an output buffer)"),
    ("requestBufferBuilderBlocking", "back-pressured (waiting for an output buffer)"),
    ("TaskMailboxImpl.take", "waiting (for input, or for its output to drain)"),
    ("MailboxProcessor.suspend", "waiting (for input, or for its output to drain)"),
    ("beam.", "sending rows to the process-mode Python worker"),
    ("flink.table.runtime", "Table runtime (conversion, generated code)"),
    ("connector.kafka", "Kafka source or sink"),
    ("org.apache.kafka", "Kafka source or sink"),
)
_TASK_THREAD = re.compile(r'^"(?P<name>.*\(\d+/\d+\)#\d+)"')
_HELPER_THREAD = re.compile(r"^(OutputFlusher|Time Trigger|System Time Trigger|Source Data Fetcher|Legacy Source)")


def task_thread_states(thread_dump: str) -> Counter[str]:
    """``task: state`` of every Flink task thread in one ``jstack`` dump (see :data:`THREAD_STATE_RULES`)."""
    states: Counter[str] = Counter()
    for block in thread_dump.split("\n\n"):
        header = _TASK_THREAD.match(block.strip())
        if not header or _HELPER_THREAD.match(header["name"]):
            continue
        task = re.split(r" -> |\(", header["name"])[0].strip()
        frames = [line.strip() for line in block.splitlines() if line.strip().startswith("at ")]
        state = next(
            (label for frame in frames for key, label in THREAD_STATE_RULES if key in frame),
            "Java operator work" if frames else "unknown",
        )
        states[f"{task}: {state}"] += 1
    return states


class ThreadStateSampler:
    """``jstack`` of the Flink JVM about once a second; what its task threads were doing, by share."""

    def __init__(self, jvm_pid: int | None, interval_s: float = 1.0):
        self.jvm_pid, self.interval_s = jvm_pid, interval_s
        self.states: Counter[str] = Counter()
        self.dumps = 0
        self.problem = "" if shutil.which("jstack") else "jstack is not on the PATH (it comes with a JDK)"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "ThreadStateSampler":
        if self.jvm_pid is None:
            self.problem = "no Flink JVM found under the job's process"
        if not self.problem:
            self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        totals: Counter[str] = Counter()
        for key, count in self.states.items():
            totals[key.split(": ", 1)[0]] += count
        return {
            "dumps": self.dumps,
            "problem": self.problem,
            "share_by_task_state": {
                key: round(count / totals[key.split(": ", 1)[0]], 3) for key, count in sorted(self.states.items())
            },
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                dump = subprocess.run(["jstack", str(self.jvm_pid)], capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.problem = f"jstack failed: {exc}"
                return
            if dump.returncode == 0:
                self.states.update(task_thread_states(dump.stdout))
                self.dumps += 1


class JobProfiler:
    """py-spy on a running job's process tree for a fixed window, plus CPU per process over that window."""

    def __init__(self, root_pid: int, seconds: float, out: Path, extra_pids: tuple[int, ...] = ()):
        self.root_pid, self.seconds, self.out, self.extra_pids = root_pid, seconds, out, extra_pids
        self.cpu = ProcessCpu()
        self.sampler: subprocess.Popen | None = None
        self.threads: ThreadStateSampler | None = None
        self.task_readings: list[dict[str, dict[str, float]]] = []
        self.problem = ""

    def start(self) -> "JobProfiler":
        self.cpu.begin(self._pids())
        self.started = time.monotonic()
        jvm = [pid for pid in self._pids() if role_of(pid) == "Flink JVM (with thread-mode Python)"]
        self.threads = ThreadStateSampler(jvm[0] if jvm else None).start()
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            self.problem = "py-spy is not installed (it is in the dev extra: pip install -e '.[dev]')"
            return self
        self.sampler = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(self.root_pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                "100",
                "--duration",
                str(max(1, int(self.seconds))),
                "--format",
                "raw",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def observe_tasks(self, shares: dict[str, dict[str, float]]) -> None:
        """One reading of Flink's busy / back-pressured / idle shares per task, while the window is open."""
        if time.monotonic() - self.started <= self.seconds:
            self.task_readings.append(shares)

    def _mean_task_shares(self) -> dict[str, dict[str, float]]:
        sums: dict[str, Counter[str]] = {}
        for reading in self.task_readings:
            for task, kinds in reading.items():
                sums.setdefault(task, Counter()).update(kinds)
        return {
            task: {kind: round(total / len(self.task_readings), 3) for kind, total in kinds.items()}
            for task, kinds in sums.items()
        }

    def finish(self) -> dict:
        """Wait for the sampling window to end, then summarise both views over it."""
        if self.sampler is not None:
            try:
                _, errors = self.sampler.communicate(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                self.sampler.kill()
                _, errors = self.sampler.communicate()
            if not self.out.is_file():
                self.problem = f"py-spy wrote no profile: {errors.strip()[-300:]}"
        task_threads = self.threads.stop() if self.threads else None
        cpu, threads = self.cpu.seconds(self._pids())
        summary = {
            "cpu_seconds_by_process": cpu,
            "cpu_seconds_by_thread": threads,
            "window_s": round(time.monotonic() - self.started, 2),
            "task_threads": task_threads,
            "flink_task_time": self._mean_task_shares(),
            "problem": self.problem,
        }
        if not self.problem:
            summary.update(summarise_samples(self.out))
        return summary

    def _pids(self) -> list[int]:
        return descendants(self.root_pid) + list(self.extra_pids)


def summarise_samples(raw: Path) -> dict:
    """Sample shares by stage and by process role, and the hottest shopguard lines, from py-spy's raw output."""
    by_stage: Counter[str] = Counter()
    by_role: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for text in raw.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        # with --subprocesses a stack starts with every process from the root down to the sampled one
        depth = max(i for i, part in enumerate(parts) if i == 0 or _PROCESS.match(part))
        process, frames = parts[depth], parts[depth + 1 :]
        samples = int(count)
        by_stage[frame_stage(frames)] += samples
        by_role[process_role(_PROCESS.sub("", process))] += samples
        ours = [f for f in frames if _shopguard_path(f) is not None]
        if ours:
            lines[ours[-1]] += samples
    samples = sum(by_stage.values())
    total = max(samples, 1)
    return {
        "samples": samples,
        "share_by_stage": {k: round(v / total, 4) for k, v in by_stage.most_common()},
        "share_by_process": {k: round(v / total, 4) for k, v in by_role.most_common()},
        "hottest_lines": [(k, round(v / total, 4)) for k, v in lines.most_common(12)],
    }
