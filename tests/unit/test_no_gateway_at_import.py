"""Importing the job's modules must not start PyFlink's Java gateway.

The local job points ``FLINK_HOME`` at a Flink home with the Kafka connector before the gateway starts
(:mod:`shopguard.jobs.flink_environment`). A module that builds a PyFlink schema or type at import time
starts the gateway earlier, from the wheel's own jars, and the job then fails with "Could not found the
Java class 'org.apache.flink.connector.kafka.source.KafkaSource.builder'".
"""

from __future__ import annotations

import subprocess
import sys

MODULES = ("shopguard.cli", "shopguard.jobs.detect_job", "shopguard.jobs.replay_job", "shopguard.bench.job")


def test_importing_the_job_starts_no_java_gateway():
    probe = "import importlib, pyflink.java_gateway as g\n"
    probe += "".join(f"importlib.import_module({name!r})\n" for name in MODULES)
    probe += "print('started' if g._gateway is not None else 'not started')\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "not started"
