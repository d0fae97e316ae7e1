"""The job profile of ``shopguard bench``: stacks, thread dumps and metrics read into stages and states."""

import os
from pathlib import Path

import pytest

from shopguard.bench.profile import (
    NO_PYTHON_FRAME,
    ProcessCpu,
    descendants,
    frame_stage,
    process_role,
    summarise_samples,
    task_thread_states,
)
from shopguard.config import ShopguardConfig
from shopguard.local.job_process import RunningJob

JVM = 'process 20:"java -cp flink-dist.jar org.apache.flink.client.python.PythonGatewayServer"'
CLIENT = 'process 10:"/venv/bin/python -m shopguard.jobs.detect_job --config job.toml"'


@pytest.mark.parametrize(
    "frames, stage",
    [
        (
            [
                "process_element (pyflink/fn_execution/embedded/operations.py:93)",
                "process_element (shopguard/udfs/user_history.py:119)",
                "observe (shopguard/udfs/pattern_matching.py:60)",
                "sequence_id (shopguard/udfs/behaviour_tokens.py:70)",
            ],
            "pattern matching",
        ),
        (
            ["score (udfs/scoring.py:95)", "run (onnxruntime/capi/onnxruntime_inference_collection.py:220)"],
            "detectors and combiner",
        ),
        (["read (shopguard/udfs/event_intake.py:69)", "loads (json/__init__.py:346)"], "parse"),
        (
            ["score_batch (udfs/detector_ensemble.py:99)", "velocity_rule_scores (udfs/velocity_rules.py:40)"],
            "detectors and combiner",
        ),
        (
            ["_read (pyflink/fn_execution/beam/beam_operations.py:10)", "read_all (pyarrow/ipc.py:3)"],
            "runtime: pyarrow",
        ),
        ([], NO_PYTHON_FRAME),
    ],
)
def test_a_stack_counts_for_its_innermost_shopguard_frame_or_else_its_runtime(frames, stage):
    assert frame_stage(frames) == stage


def test_samples_are_shared_by_stage_and_by_the_innermost_sampled_process(tmp_path):
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "\n".join(
            [
                f"{CLIENT};{JVM};process_element (shopguard/udfs/user_history.py:119) 6",
                f"{CLIENT};{JVM} 2",
                f"{CLIENT};worker (pyflink/fn_execution/beam/beam_operations.py:5);score (udfs/scoring.py:95) 2",
                "a line without a count",
            ]
        )
        + "\n"
    )
    summary = summarise_samples(raw)
    assert summary["samples"] == 10
    assert summary["share_by_stage"] == {"state update": 0.6, NO_PYTHON_FRAME: 0.2, "detectors and combiner": 0.2}
    assert summary["share_by_process"] == {
        "Flink JVM (with thread-mode Python)": 0.8,
        "job client (process-mode pandas UDF worker)": 0.2,
    }
    assert summary["hottest_lines"][0] == ("process_element (shopguard/udfs/user_history.py:119)", 0.6)


THREAD_DUMP = """"track user history -> (Map, PythonCalc[2]) (1/2)#0" #80 prio=5 os_prio=0 tid=0x1 nid=0x2 waiting on condition
   java.lang.Thread.State: WAITING (parking)
	at jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)
	at java.util.concurrent.LinkedBlockingQueue.take(java.base@17.0.15/LinkedBlockingQueue.java:435)
	at org.apache.flink.streaming.api.runners.python.beam.BeamPythonFunctionRunner.takeResult(BeamPythonFunctionRunner.java:417)

"track user history -> (Map, PythonCalc[2]) (2/2)#0" #81 prio=5 os_prio=0 tid=0x3 nid=0x4 runnable
   java.lang.Thread.State: RUNNABLE
	at pemja.core.PythonInterpreter.invokeMethodOneArgObject(Native Method)
	at org.apache.flink.streaming.api.operators.python.embedded.AbstractOneInputEmbeddedPythonFunctionOperator.processElement(AbstractOneInputEmbeddedPythonFunctionOperator.java:156)

"OutputFlusher for track user history -> (Map, PythonCalc[2]) (1/2)#0" #82 daemon prio=5 runnable
   java.lang.Thread.State: TIMED_WAITING (sleeping)
	at java.lang.Thread.sleep(java.base@17.0.15/Native Method)

"Source: user-events (Kafka) -> parse and validate (1/1)#0" #70 prio=5 waiting on condition
   java.lang.Thread.State: WAITING (parking)
	at jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)
	at org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailboxImpl.take(TaskMailboxImpl.java:149)

"prometheus-http-1-1" #30 daemon prio=5 runnable
   java.lang.Thread.State: RUNNABLE
	at sun.nio.ch.EPoll.wait(java.base@17.0.15/Native Method)
"""


def test_task_threads_are_classified_and_helper_threads_left_out():
    assert task_thread_states(THREAD_DUMP) == {
        "track user history: waiting for the process-mode Python worker (end of bundle)": 1,
        "track user history: running thread-mode Python (pemja)": 1,
        "Source: user-events: waiting (for input, or for its output to drain)": 1,
    }


def test_flink_task_time_metrics_are_read_per_task(tmp_path):
    job = RunningJob(ShopguardConfig(), tmp_path / "job.log", ports=(1, 1))
    job._reporter_lines = lambda: iter(
        [
            'flink_taskmanager_job_task_busyTimeMsPerSecond{host="h",task_name="track_user_history_____Map___",'
            'subtask_index="0",} 1000.0',
            'flink_taskmanager_job_task_backPressuredTimeMsPerSecond{task_name="Source:_user_events__Kafka_____parse",} 716.0',
            'flink_taskmanager_job_task_idleTimeMsPerSecond{task_name="Source:_user_events__Kafka_____parse",} 9.0',
            'flink_taskmanager_job_task_operator_shopguard_events_in{task_name="x",} 5.0',
        ]
    )
    assert job.task_time_shares() == {
        "track user history": {"busy": 1.0},
        "Source: user events  Kafka": {"backPressured": 0.716, "idle": 0.009},
    }


def test_cpu_is_read_per_process_and_per_thread_of_this_process():
    cpu = ProcessCpu()
    cpu.begin(descendants(os.getpid()))
    sum(i * i for i in range(300_000))
    by_role, by_thread = cpu.seconds(descendants(os.getpid()))
    assert sum(by_role.values()) >= 0 and all(":" in name for name in by_thread)


@pytest.mark.parametrize(
    "cmdline, role",
    [
        ("/usr/bin/java -Xmx512m -cp kafka-data/x.jar kafka.Kafka server.properties", "Kafka broker"),
        (
            "java -cp flink.jar org.apache.flink.client.python.PythonGatewayServer",
            "Flink JVM (with thread-mode Python)",
        ),
        ("python -m pyflink.fn_execution.beam.beam_boot --id=1-1", "Beam boot (starts the loopback worker)"),
        ("python -m shopguard.jobs.detect_job --config a.toml", "job client (process-mode pandas UDF worker)"),
        ("bash", "other"),
    ],
)
def test_processes_are_named_by_what_they_are_in_the_job(cmdline, role):
    assert process_role(cmdline) == role


def test_a_missing_py_spy_is_reported_not_raised(tmp_path, monkeypatch):
    from shopguard.bench import profile as bench_profile

    monkeypatch.setattr(bench_profile.shutil, "which", lambda name: None)
    monkeypatch.setattr(bench_profile.sys, "executable", str(tmp_path / "python"))
    profiler = bench_profile.JobProfiler(os.getpid(), 1, tmp_path / "out.txt").start()
    summary = profiler.finish()
    assert "py-spy is not installed" in summary["problem"]
    assert summary["task_threads"]["problem"]  # no JVM below this process, and no jstack found
    assert not Path(tmp_path / "out.txt").exists()
