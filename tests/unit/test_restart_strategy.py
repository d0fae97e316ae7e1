"""The job's restart strategy is a setting: fixed-delay, exponential-delay, or left to the cluster."""

import zipfile
from pathlib import Path

import pyflink
import pytest

from shopguard.config import ConfigError, load_config
from shopguard.jobs.flink_environment import restart_strategy_settings


def job(*overrides):
    return load_config(None, [f"job.{item}" for item in overrides]).job


def flink_option_names(class_name: str) -> bytes:
    """The constant pool of one of Flink's ``*Options`` classes, where its option keys are spelt out."""
    (dist,) = (Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar")
    with zipfile.ZipFile(dist) as jar:
        return jar.read(f"org/apache/flink/configuration/{class_name}.class")


def test_the_default_gives_up_after_three_restarts_five_seconds_apart():
    assert restart_strategy_settings(job()) == {
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "3",
        "restart-strategy.fixed-delay.delay": "5000 ms",
    }


def test_exponential_delay_carries_its_backoff_and_no_attempt_limit_unless_one_is_set():
    settings = restart_strategy_settings(job('restart_strategy="exponential-delay"', "restart_backoff_max_ms=30000"))
    assert settings == {
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1000 ms",
        "restart-strategy.exponential-delay.max-backoff": "30000 ms",
        "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
        "restart-strategy.exponential-delay.jitter-factor": "0.1",
        "restart-strategy.exponential-delay.reset-backoff-threshold": "3600000 ms",
    }
    limited = restart_strategy_settings(job('restart_strategy="exponential-delay"', "restart_backoff_attempts=10"))
    assert limited["restart-strategy.exponential-delay.attempts-before-reset-backoff"] == "10"


def test_cluster_sets_nothing_so_that_the_cluster_s_configuration_decides():
    assert restart_strategy_settings(job('restart_strategy="cluster"')) == {}


def test_every_key_is_one_of_flink_s_own_restart_options():
    known = flink_option_names("RestartStrategyOptions")
    for strategy in ("fixed-delay", "exponential-delay"):
        settings = restart_strategy_settings(job(f'restart_strategy="{strategy}"', "restart_backoff_attempts=5"))
        for key in settings:
            assert key.encode() in known, key


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ['restart_strategy="failure-rate"'],
            "job.restart_strategy: 'failure-rate' is not one of 'fixed-delay', 'exponential-delay', 'cluster'",
        ),
        (["restart_attempts=-1"], "job.restart_attempts = -1: use 0 (never restart) or more"),
        (
            ['restart_strategy="exponential-delay"', "restart_backoff_initial_ms=90000"],
            "job.restart_backoff_initial_ms = 90000: use more than 0 and at most job.restart_backoff_max_ms (60000)",
        ),
        (['restart_strategy="exponential-delay"', "restart_backoff_multiplier=0.5"], "job.restart_backoff_multiplier"),
        (['restart_strategy="exponential-delay"', "restart_backoff_jitter=2.0"], "job.restart_backoff_jitter"),
    ],
)
def test_a_setting_that_cannot_work_is_named_when_the_configuration_is_loaded(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        job(*overrides)
