"""The embedded broker: a real KRaft Kafka that starts, answers, refuses to clash, and stops."""

from __future__ import annotations

import socket
import uuid

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.kafka_broker import BrokerError, LocalKafkaBroker, broker_command
from shopguard.local.producer import send_records
from shopguard.local.topics import delete_topics, ensure_topics
from tests.integration.conftest import broker_config, topics_once

pytestmark = pytest.mark.integration


def test_a_message_produced_to_the_broker_comes_back_to_a_consumer(kafka_config):
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_config, [topic]) == [topic]
    assert ensure_topics(kafka_config, [topic]) == []
    send_records(kafka_config, topic, [("u1", b'{"hello": "kafka"}')])
    assert collect(kafka_config, topic, until=lambda got: len(got) == 1, timeout_s=30) == [{"hello": "kafka"}]


def test_deleting_topics_deletes_those_that_exist_and_skips_the_others(kafka_config):
    kept, gone, never = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("kept", "gone", "never"))
    ensure_topics(kafka_config, [kept, gone])
    assert delete_topics(kafka_config, [gone, never]) == [gone]
    topics = topics_once(kafka_config, lambda topics: gone not in topics)
    assert kept in topics and gone not in topics and never not in topics


def test_start_twice_reports_the_running_broker_and_stop_stops_it(tmp_path, capsys):
    cfg = broker_config(tmp_path / "kafka")
    broker = LocalKafkaBroker(cfg)
    try:
        first = broker.start()
        second = broker.start()
        assert second.running and second.pid == first.pid
        assert "already running" in capsys.readouterr().out
        assert broker_command(cfg, "status") == 0
    finally:
        assert broker.stop()
    assert not broker.status().running
    assert broker_command(cfg, "status") == 3
    with socket.socket() as sock:
        sock.bind((cfg.broker.host, cfg.broker.port))  # the port is free again


def test_running_stops_only_a_broker_it_started(tmp_path, kafka_config):
    broker = LocalKafkaBroker(broker_config(tmp_path / "kafka"))
    with broker.running() as status:
        assert status.running and broker.status().running
    assert not broker.status().running  # started by the block: stopped after it
    already = LocalKafkaBroker(kafka_config)
    with already.running():
        pass
    assert already.status().running  # the session's broker was running before: still running


def test_a_port_taken_by_another_program_gives_one_clear_sentence(tmp_path):
    cfg = broker_config(tmp_path / "kafka")
    with socket.socket() as squatter:
        squatter.bind((cfg.broker.host, cfg.broker.port))
        squatter.listen()
        with pytest.raises(
            BrokerError, match=rf"port {cfg.broker.port} on 127.0.0.1 is already in use by another program"
        ):
            LocalKafkaBroker(cfg).start()


def test_stop_without_a_broker_is_harmless(tmp_path):
    assert LocalKafkaBroker(broker_config(tmp_path / "kafka")).stop() is False
