"""The Flink environment the detection job runs in: jars, Python workers, checkpoints, metrics.

Everything here comes from :class:`~shopguard.config.ShopguardConfig`; nothing is read from globals.
On the local mini-cluster the JVM is started by PyFlink's gateway from ``FLINK_HOME``; we point that
at :func:`shopguard.local.flink_home.flink_home`, the wheel's distribution plus the Kafka connector and
the Prometheus metrics reporter resolved from Maven Central, as a real cluster's ``lib/`` would hold them.
Under a cluster (``flink run``, the Docker image, Kubernetes) the gateway already runs and that branch,
the job's only use of the local toolkit, is never taken.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from shopguard.config import JobSettings, ShopguardConfig, check
from shopguard.errors import ShopguardError
from shopguard.jobs.python_dependencies import package_archive, site_packages


def flink_configuration(cfg: ShopguardConfig) -> Configuration:
    """The Flink configuration of the detection job."""
    conf = Configuration()
    for key, value in flink_settings(cfg).items():
        conf.set_string(key, value)
    return conf


def flink_settings(cfg: ShopguardConfig) -> dict[str, str]:
    """The Flink settings of the detection job, by Flink's own key."""
    job = check(cfg, "the job's configuration").job  # also built in code, not only loaded
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
        "execution.buffer-timeout.interval": f"{job.buffer_timeout_ms} ms",
        # The Table API part of the job (scoring, the Kafka sinks, whose writers and committers keep state) gets uids
        # from the planner's node ids, so a savepoint restores when the DataStream part changes (entities.engine):
        # without them Flink ids those operators by their place in the whole graph and refuses the savepoint.
        "table.exec.uid.generation": "ALWAYS",
        **restart_strategy_settings(job),
    }
    if job.checkpoint_interval_ms > 0:
        checkpoints = job.checkpoint_dir or str(Path(cfg.cache_dir) / "checkpoints")
        settings.update(
            {
                "execution.checkpointing.interval": f"{job.checkpoint_interval_ms} ms",
                "execution.checkpointing.mode": "EXACTLY_ONCE",
                "execution.checkpointing.dir": checkpoints
                if "://" in checkpoints
                else Path(checkpoints).resolve().as_uri(),
                "state.backend.type": job.state_backend,
            }
        )
    if job.prometheus_ports:
        settings["metrics.reporter.prom.factory.class"] = (
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        )
        settings["metrics.reporter.prom.port"] = job.prometheus_ports
    return settings


def restart_strategy_settings(job: JobSettings) -> dict[str, str]:
    """Flink's ``restart-strategy.*`` keys for ``job.restart_strategy``; none for ``"cluster"``.

    The job's own configuration overrides the cluster's, so whatever is set here wins over the
    cluster's ``config.yaml`` or a FlinkDeployment's ``flinkConfiguration``. ``"cluster"`` sets nothing
    and leaves the decision there. ``"fixed-delay"`` (the default) gives up after ``job.restart_attempts``
    restarts, so a broken deployment fails instead of restarting forever; ``"exponential-delay"`` waits
    longer after each failure and suits outages of unknown length (a broker down for minutes). Their
    numbers are checked with every other setting's range (:func:`shopguard.config.check`).

    >>> restart_strategy_settings(JobSettings(restart_strategy="cluster"))
    {}
    >>> restart_strategy_settings(JobSettings())["restart-strategy.fixed-delay.delay"]
    '5000 ms'
    """
    if job.restart_strategy == "cluster":
        return {}
    if job.restart_strategy == "fixed-delay":
        return {
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": str(job.restart_attempts),
            "restart-strategy.fixed-delay.delay": f"{job.restart_delay_ms} ms",
        }
    prefix = "restart-strategy.exponential-delay."
    settings = {
        "restart-strategy.type": "exponential-delay",
        prefix + "initial-backoff": f"{job.restart_backoff_initial_ms} ms",
        prefix + "max-backoff": f"{job.restart_backoff_max_ms} ms",
        prefix + "backoff-multiplier": repr(float(job.restart_backoff_multiplier)),
        prefix + "jitter-factor": repr(float(job.restart_backoff_jitter)),
        prefix + "reset-backoff-threshold": f"{job.restart_backoff_reset_ms} ms",
    }
    if job.restart_backoff_attempts:  # else Flink's default: no limit
        settings[prefix + "attempts-before-reset-backoff"] = str(job.restart_backoff_attempts)
    return settings


def require_java() -> str:
    """The ``java`` that PyFlink's gateway will start, or one clear sentence saying how to get one."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).is_file():
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "java not found on PATH"
        raise ShopguardError(f"{where}: install Java 17 (apt-get install openjdk-17-jre-headless); Flink runs on it")
    return java


def create_environments(cfg: ShopguardConfig) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """The DataStream and Table environments of the job, on the local mini-cluster or a cluster."""
    require_java()
    if "PYFLINK_GATEWAY_PORT" not in os.environ:
        # PyFlink's gateway reads these when it starts the JVM; without FLINK_HOME it resets them to the wheel's.
        # Under `flink run` or a cluster's PythonDriver (Docker image, Kubernetes) the gateway already runs with
        # that cluster's lib/, and no Maven is needed there.
        from shopguard.local.flink_home import flink_home  # local runs only: a cluster brings its own lib/

        home = flink_home(cfg)
        os.environ["FLINK_HOME"] = str(home)
        for name in ("lib", "opt", "plugins", "conf"):
            os.environ[f"FLINK_{name.upper()}_DIR"] = str(home / name)
        # Every local JVM writes the same log file name: give each job its own folder unless told otherwise.
        os.environ.setdefault("FLINK_LOG_DIR", str(Path(cfg.cache_dir) / "logs" / cfg.job.job_name))
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(cfg))
    env.add_python_file(str(package_archive(cfg.cache_dir)))
    t_env = StreamTableEnvironment.create(env)
    return env, t_env
