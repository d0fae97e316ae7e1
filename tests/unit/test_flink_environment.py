"""The detection job's Flink settings, read from the one configuration object (no JVM needed)."""

import dataclasses

import pytest

from shopguard.config import load_config
from shopguard.errors import ShopguardError
from shopguard.jobs.flink_environment import flink_settings


def test_records_wait_in_a_network_buffer_at_most_the_configured_timeout():
    assert flink_settings(load_config(None, []))["execution.buffer-timeout.interval"] == "10 ms"
    assert flink_settings(load_config(None, ["job.buffer_timeout_ms=0"]))["execution.buffer-timeout.interval"] == "0 ms"


def test_a_negative_buffer_timeout_is_refused_naming_the_setting():
    with pytest.raises(ShopguardError, match="--set: job.buffer_timeout_ms = -1: use 0"):
        load_config(None, ["job.buffer_timeout_ms=-1"])


def test_a_configuration_built_in_code_is_checked_where_the_job_is_built():
    cfg = load_config(None, [])
    bad = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, alert_hold_ms=-2))
    with pytest.raises(ShopguardError, match="the job's configuration: job.alert_hold_ms = -2: use 0"):
        flink_settings(bad)


def test_the_vectorized_step_gets_the_configured_bundle_and_batch_sizes():
    settings = flink_settings(
        load_config(None, ["job.bundle_size=500", "job.bundle_time_ms=30", "job.arrow_batch_size=250"])
    )
    assert (
        settings["python.fn-execution.bundle.size"],
        settings["python.fn-execution.bundle.time"],
        settings["python.fn-execution.arrow.batch.size"],
    ) == ("500", "30", "250")


def test_the_table_part_of_the_job_takes_uids_from_the_planner_so_savepoints_outlive_changes_around_it():
    assert flink_settings(load_config(None, []))["table.exec.uid.generation"] == "ALWAYS"
