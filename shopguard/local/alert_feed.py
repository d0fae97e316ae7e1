"""Reading alerts and dead letters back from Kafka, as a risk team's consumer would.

Consumers use ``isolation_level="read_committed"`` so that, once the job writes with Kafka
transactions (exactly-once), they never see alerts of an aborted attempt.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from shopguard.config import ShopguardConfig
from shopguard.local.topics import TopicError, kafka_python_options
from shopguard.udfs.detection_rules import made_by_rules


def open_consumer(cfg: ShopguardConfig, *topics: str, from_start: bool) -> KafkaConsumer:
    """A group-less consumer of ``topics``, positioned at their start or their current end."""
    consumer = KafkaConsumer(
        bootstrap_servers=cfg.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_python_options(cfg),
    )
    partitions = [
        TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    consumer.assign(partitions)
    if from_start:
        consumer.seek_to_beginning(*partitions)
    else:
        consumer.seek_to_end(*partitions)
    for partition in partitions:
        consumer.position(partition)  # fix the position now, not at the first poll
    return consumer


def records(
    consumer: KafkaConsumer, stop: Callable[[], bool], poll_ms: int = 500
) -> Iterator[tuple[str, str | None, Any]]:
    """``(topic, key, value)`` for every record until ``stop()``; values are parsed JSON where they are JSON."""
    while not stop():
        for batch in consumer.poll(timeout_ms=poll_ms).values():
            for record in batch:
                key = record.key.decode("utf-8", "replace") if record.key is not None else None
                yield record.topic, key, json_or_text(record.value)


def collect(cfg: ShopguardConfig, topic: str, until: Callable[[list[Any]], bool], timeout_s: float) -> list[Any]:
    """Read ``topic`` from its start until ``until(values)`` holds or ``timeout_s`` passes."""
    consumer = open_consumer(cfg, topic, from_start=True)
    deadline = time.monotonic() + timeout_s
    values: list[Any] = []
    try:
        for _, _, value in records(consumer, stop=lambda: time.monotonic() > deadline or until(values)):
            values.append(value)
    finally:
        consumer.close()
    return values


def describe_alert(alert: dict[str, Any]) -> str:
    """One line an analyst reads: who, what, how sure, and the strongest reason."""
    reason = alert["reasons"][0]["text"] if alert.get("reasons") else "score above threshold"
    made = ", ".join(f"{rule['id']} v{rule['version']}" for rule in made_by_rules(alert))
    decided = f"< {alert['threshold']:.3f}, made by rule {made}" if made else f">= {alert['threshold']:.3f}"
    return (
        f"ALERT {alert['anomaly_type']:<16} user={alert['user_id']:<24} score={alert['score']:.3f} "
        f"({decided}) model={alert['model_version']}: {reason}"
    )


def describe_dead_letter(letter: dict[str, Any]) -> str:
    record = letter.get("record", "")
    return f"DEAD LETTER {letter.get('reason')}: {letter.get('detail')} | {record[:80]}"


def json_or_text(value: bytes | None) -> Any:
    """The record's JSON value; its text when it is not JSON; None for a record without a value."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def committed_values(cfg: ShopguardConfig, topic: str, timeout_s: float, parse: bool = True) -> list[Any]:
    """Every committed value of ``topic`` up to its end as of now (JSON-parsed when ``parse``), or as far as
    ``timeout_s`` allows. Under ``read_committed`` the end offsets are the last stable ones: records of an
    open transaction are not waited for."""
    try:
        consumer = open_consumer(cfg, topic, from_start=True)
    except KafkaError:
        raise TopicError(
            f"no Kafka broker answers at {cfg.kafka.bootstrap_servers} to read {topic!r}: start one with "
            "'shopguard kafka start' or set kafka.bootstrap_servers"
        ) from None
    try:
        partitions: list[TopicPartition] = sorted(consumer.assignment())
        if not partitions:
            raise TopicError(f"topic {topic!r} does not exist on {cfg.kafka.bootstrap_servers}: run 'shopguard topics'")
        end = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        values: list[Any] = []
        while any(consumer.position(p) < end[p] for p in partitions) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values += [(_json_or_bytes(r.value) if parse else r.value) for r in batch if r.value is not None]
        return values
    finally:
        consumer.close()


def _json_or_bytes(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
