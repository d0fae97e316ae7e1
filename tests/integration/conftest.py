"""A real Kafka broker (KRaft, from Maven jars) for the integration tests, on free loopback ports."""

from __future__ import annotations

import dataclasses

import pytest

from shopguard.config import ShopguardConfig
from shopguard.local_kafka import LocalKafkaBroker
from shopguard.job_process import free_port_range


def broker_config(data_dir, base: ShopguardConfig | None = None) -> ShopguardConfig:
    """A configuration for a private broker in ``data_dir`` on two free ports; jars from the usual cache."""
    base = base or ShopguardConfig()
    port, controller_port = free_port_range(2)
    broker = dataclasses.replace(base.broker, port=port, controller_port=controller_port, data_dir=str(data_dir))
    kafka = dataclasses.replace(base.kafka, bootstrap_servers=f"{broker.host}:{port}")
    return dataclasses.replace(base, broker=broker, kafka=kafka)


@pytest.fixture(scope="session")
def kafka_config(tmp_path_factory):
    """The configuration of a broker that runs for the whole test session."""
    cfg = broker_config(tmp_path_factory.mktemp("kafka"))
    broker = LocalKafkaBroker(cfg)
    broker.start()
    try:
        yield cfg
    finally:
        broker.stop()
