"""Kafka topics and client settings for the Python-side clients (admin, producer, consumer).

``kafka.client_properties`` in the configuration is written with Java client names, because the Flink
source and sinks take them as they are; :func:`kafka_python_options` translates the ones kafka-python
understands, so one set of security settings serves every client.

Example
-------
>>> from shopguard.config import load_config
>>> cfg = load_config(None, ['kafka.client_properties={"security.protocol"="SASL_SSL", "sasl.mechanism"="PLAIN"}'])
>>> kafka_python_options(cfg)
{'security_protocol': 'SASL_SSL', 'sasl_mechanism': 'PLAIN'}
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError

JAVA_TO_KAFKA_PYTHON = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.plain.username": "sasl_plain_username",
    "sasl.plain.password": "sasl_plain_password",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "ssl.cafile": "ssl_cafile",
    "ssl.certfile": "ssl_certfile",
    "ssl.keyfile": "ssl_keyfile",
    "ssl.password": "ssl_password",
    "ssl.endpoint.identification.algorithm": "ssl_check_hostname",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
}
"""Java client property → kafka-python keyword. Java-only settings (keystores, JAAS) are for Flink only."""

JAVA_ONLY_PREFIXES = ("sasl.jaas.", "ssl.truststore.", "ssl.keystore.", "ssl.key.", "sasl.login.", "sasl.client.")


class TopicError(ShopguardError):
    """Topics could not be created; the message names the bootstrap servers and what to do."""


def kafka_python_options(cfg: ShopguardConfig) -> dict[str, object]:
    """kafka-python keyword arguments for ``cfg.kafka.client_properties``; unknown keys are an error."""
    options: dict[str, object] = {}
    for key, value in cfg.kafka.client_properties.items():
        if key in JAVA_TO_KAFKA_PYTHON:
            name = JAVA_TO_KAFKA_PYTHON[key]
            if name == "ssl_check_hostname":
                options[name] = value.lower() == "https"
            elif name.endswith("_ms"):
                options[name] = int(value)
            else:
                options[name] = value
        elif not key.startswith(JAVA_ONLY_PREFIXES):
            raise TopicError(f"kafka.client_properties: {key!r} is not a Kafka client setting shopguard "
                             f"knows; known: {', '.join(sorted(JAVA_TO_KAFKA_PYTHON))} and Java-only "
                             f"{', '.join(p + '*' for p in JAVA_ONLY_PREFIXES)}")
    return options


def ensure_topics(cfg: ShopguardConfig, names: list[str] | None = None, partitions: int | None = None) -> list[str]:
    """Create the configured topics that do not exist yet; return the names created."""
    names = names or [name for name in (cfg.topics.events, cfg.topics.alerts, cfg.topics.dead_letters,
                                         cfg.topics.late, cfg.topics.scores) if name]
    partitions = partitions or cfg.topics.partitions
    try:
        admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers, request_timeout_ms=10000,
                                 **kafka_python_options(cfg))
    except KafkaError:  # kafka-python 3 raises KafkaTimeoutError when it cannot bootstrap
        raise TopicError(f"no Kafka broker answers at {cfg.kafka.bootstrap_servers}: start one with "
                         "'shopguard kafka start' or set kafka.bootstrap_servers") from None
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        created = []
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=cfg.topics.replication_factor)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as error:
        raise TopicError(f"creating topics {', '.join(names)} on {cfg.kafka.bootstrap_servers} failed: {error}") from None
    finally:
        admin.close()
