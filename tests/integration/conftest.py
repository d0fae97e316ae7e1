"""A real Kafka broker (KRaft, from Maven jars) for the integration tests, on free loopback ports; and the
configurations of a private broker or of a private session cluster beside it."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from kafka import KafkaAdminClient

from shopguard.config import ShopguardConfig
from shopguard.local.flink_cluster import private_cluster
from shopguard.local.job_process import free_port_range, isolated_job_config
from shopguard.local.kafka_broker import LocalKafkaBroker


def broker_config(data_dir, base: ShopguardConfig | None = None) -> ShopguardConfig:
    """A configuration for a private broker in ``data_dir`` on two free ports; jars from the usual cache."""
    base = base or ShopguardConfig()
    port, controller_port = free_port_range(2)
    broker = dataclasses.replace(base.broker, port=port, controller_port=controller_port, data_dir=str(data_dir))
    kafka = dataclasses.replace(base.kafka, bootstrap_servers=f"{broker.host}:{port}")
    return dataclasses.replace(base, broker=broker, kafka=kafka)


def cluster_config(
    base: ShopguardConfig, data_dir: Path, registry: Path, name: str = "cluster", **job_changes: Any
) -> ShopguardConfig:
    """``base`` (the session broker) with private topics (no scores topic) and a session cluster of its own on
    free ports, its data in ``data_dir``; ``job_changes`` as :func:`~shopguard.local.job_process.isolated_job_config`
    takes them (``model_path=...``)."""
    cfg, _ = isolated_job_config(base, name, registry, with_scores=False, **job_changes)
    return dataclasses.replace(
        cfg, cluster=private_cluster(base.cluster, data_dir, start_timeout_s=60.0, submit_timeout_s=90.0)
    )


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
