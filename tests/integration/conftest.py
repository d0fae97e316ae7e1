"""A real Kafka broker (KRaft, from Maven jars) for the integration tests, on free loopback ports."""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import pytest
from kafka import KafkaAdminClient

from shopguard.config import ShopguardConfig
from shopguard.local.job_process import free_port_range
from shopguard.local.kafka_broker import LocalKafkaBroker


def broker_config(data_dir, base: ShopguardConfig | None = None) -> ShopguardConfig:
    """A configuration for a private broker in ``data_dir`` on two free ports; jars from the usual cache."""
    base = base or ShopguardConfig()
    port, controller_port = free_port_range(2)
    broker = dataclasses.replace(base.broker, port=port, controller_port=controller_port, data_dir=str(data_dir))
    kafka = dataclasses.replace(base.kafka, bootstrap_servers=f"{broker.host}:{port}")
    return dataclasses.replace(base, broker=broker, kafka=kafka)


def broker_topics(cfg: ShopguardConfig) -> set[str]:
    """Every topic on ``cfg``'s broker, Kafka's own (``__consumer_offsets``, ...) included."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def topics_once(cfg: ShopguardConfig, settled: Callable[[set[str]], bool], wait_s: float = 15.0) -> set[str]:
    """The broker's topics as soon as ``settled(topics)`` holds, or after ``wait_s``: it deletes asynchronously."""
    deadline = time.monotonic() + wait_s
    while not settled(topics := broker_topics(cfg)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return topics


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
