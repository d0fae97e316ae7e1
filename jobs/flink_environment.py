"""The Flink environment the detection job runs in: jars, Python workers, checkpoints, metrics.

Everything here comes from :class:`~shopguard.config.ShopguardConfig`; nothing is read from globals.
On the local mini-cluster the JVM is started by PyFlink's gateway from ``FLINK_LIB_DIR``; we point
that at a folder holding the jars the wheel ships plus the Kafka connector and the Prometheus metrics
reporter, resolved from Maven Central, as a real cluster's ``lib/`` would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyflink
from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from shopguard.config import ShopguardConfig
from shopguard.jobs.python_dependencies import package_archive, site_packages
from shopguard.maven_artifacts import flink_kafka_connector_jar, resolve_artifacts


def flink_lib_dir(cfg: ShopguardConfig) -> Path:
    """A Flink ``lib/`` folder: the wheel's jars plus the Kafka connector and Prometheus reporter."""
    lib = Path(cfg.cache_dir) / f"flink-lib-{cfg.versions.flink}"
    extras = [flink_kafka_connector_jar(cfg)] + resolve_artifacts(
        "flink-metrics", [f"org.apache.flink:flink-metrics-prometheus:{cfg.versions.flink}"],
        Path(cfg.cache_dir), transitive=False)
    wheel_lib = Path(pyflink.__file__).parent / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    wanted = {jar.name: jar for jar in [*wheel_lib.glob("*.jar"), *extras]}
    for stale in lib.glob("*.jar"):
        if stale.name not in wanted or stale.resolve() != wanted[stale.name].resolve():
            stale.unlink()
    for name, jar in wanted.items():
        if not (lib / name).exists():
            (lib / name).symlink_to(jar.resolve())
    return lib


def flink_configuration(cfg: ShopguardConfig) -> Configuration:
    """The Flink configuration of the detection job."""
    job = cfg.job
    conf = Configuration()
    settings = {
        "pipeline.name": job.job_name,
        "parallelism.default": str(job.parallelism),
        "python.executable": sys.executable,  # PyFlink does not set it; thread mode needs pemja's interpreter
        "python.client.executable": sys.executable,
        "python.pythonpath": site_packages(),  # thread mode's embedded interpreter skips the venv's .pth files
        "python.execution-mode": job.python_execution_mode,
        "python.fn-execution.bundle.size": str(job.bundle_size),
        "python.fn-execution.bundle.time": str(job.bundle_time_ms),
        "python.fn-execution.arrow.batch.size": str(job.arrow_batch_size),
        "execution.checkpointing.interval": f"{job.checkpoint_interval_ms} ms",
    }
    if job.prometheus_ports:
        settings["metrics.reporter.prom.factory.class"] = \
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        settings["metrics.reporter.prom.port"] = job.prometheus_ports
    for key, value in settings.items():
        conf.set_string(key, value)
    return conf


def create_environments(cfg: ShopguardConfig) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """The DataStream and Table environments of the job, on the local mini-cluster or a cluster."""
    os.environ["FLINK_LIB_DIR"] = str(flink_lib_dir(cfg))  # read by PyFlink's gateway when it starts the JVM
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(cfg))
    env.add_python_file(str(package_archive(cfg.cache_dir)))
    t_env = StreamTableEnvironment.create(env)
    return env, t_env
