"""Starting without Java gives one clear sentence, from the broker and from the job alike."""

import dataclasses

import pytest

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.jobs.flink_environment import require_java
from shopguard.local.kafka_broker import BrokerError, LocalKafkaBroker


@pytest.fixture
def no_java(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)


def test_the_broker_without_java_says_to_install_it(no_java, tmp_path):
    cfg = ShopguardConfig()
    cfg = dataclasses.replace(
        cfg, broker=dataclasses.replace(cfg.broker, data_dir=str(tmp_path / "kafka"), port=1, controller_port=2)
    )
    with pytest.raises(BrokerError, match=r"^java not found on PATH: install Java 17"):
        LocalKafkaBroker(cfg).start()


def test_the_job_without_java_says_to_install_it(no_java):
    with pytest.raises(ShopguardError, match=r"^java not found on PATH: install Java 17"):
        require_java()


def test_a_java_home_without_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ShopguardError, match=rf"JAVA_HOME={tmp_path} has no bin/java"):
        require_java()
