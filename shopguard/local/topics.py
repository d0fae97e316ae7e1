"""Kafka topics and client settings for the Python-side clients (admin, producer, consumer).

``kafka.client_properties`` in the configuration is written with Java client names, because the Flink
source and sinks take them as they are; :func:`kafka_python_options` translates the ones kafka-python
understands, so one set of security settings serves every client. It resolves Kafka's config provider
references (``${file:...}``, ``${env:...}``, see :mod:`shopguard.local.kafka_config_providers`) the way the
Java clients do, and takes the user name and password of a PLAIN or SCRAM ``sasl.jaas.config``.

Example
-------
>>> from shopguard.config import load_config
>>> cfg = load_config(None, ['kafka.client_properties={"security.protocol"="SASL_SSL", "sasl.mechanism"="PLAIN"}'])
>>> kafka_python_options(cfg)
{'security_protocol': 'SASL_SSL', 'sasl_mechanism': 'PLAIN'}
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.kafka_config_providers import ConfigProviders, is_provider_setting

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

JAAS_WITH_PASSWORD = (
    "org.apache.kafka.common.security.plain.PlainLoginModule",
    "org.apache.kafka.common.security.scram.ScramLoginModule",
)
"""Login modules whose ``username``/``password`` options kafka-python takes as ``sasl_plain_username``/``_password``."""
_JAAS_OPTION = re.compile(r'([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))')


class TopicError(ShopguardError):
    """Topics could not be created; the message names the bootstrap servers and what to do."""


def kafka_python_options(cfg: ShopguardConfig, environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """kafka-python keyword arguments for ``cfg.kafka.client_properties``; unknown keys are an error.

    ``${provider:...}`` references in the properties kafka-python uses are resolved first (``environ``,
    by default this process's environment, serves ``${env:...}``); one that cannot be resolved is an
    error naming the property. Java-only settings are left to Flink and never resolved here.
    """
    properties = cfg.kafka.client_properties
    providers = ConfigProviders.from_properties(properties, os.environ if environ is None else environ)
    options: dict[str, object] = {}
    credentials: dict[str, str] = {}
    for key, raw in properties.items():
        if is_provider_setting(key):
            continue
        if key == "sasl.jaas.config":
            credentials = jaas_credentials(providers.resolve(key, raw))
        elif key in JAVA_TO_KAFKA_PYTHON:
            value = providers.resolve(key, raw)
            name = JAVA_TO_KAFKA_PYTHON[key]
            if name == "ssl_check_hostname":
                options[name] = value.lower() == "https"
            elif name.endswith("_ms"):
                options[name] = int(value)
            else:
                options[name] = value
        elif not key.startswith(JAVA_ONLY_PREFIXES):
            raise TopicError(
                f"kafka.client_properties: {key!r} is not a Kafka client setting shopguard "
                f"knows; known: {', '.join(sorted(JAVA_TO_KAFKA_PYTHON))}, config.providers* and "
                f"Java-only {', '.join(p + '*' for p in JAVA_ONLY_PREFIXES)}"
            )
    for name, value in credentials.items():
        options.setdefault(name, value)  # sasl.plain.username/password, when given, win
    return options


def jaas_credentials(jaas: str) -> dict[str, str]:
    r"""``sasl_plain_username``/``_password`` from a PLAIN or SCRAM JAAS line; nothing for other login modules.

    >>> jaas_credentials('org.apache.kafka.common.security.scram.ScramLoginModule required '
    ...                  'username="shopguard" password="p\\"w";')
    {'sasl_plain_username': 'shopguard', 'sasl_plain_password': 'p"w'}
    """
    parts = jaas.split(None, 2)  # login module, control flag, options
    if not parts or parts[0] not in JAAS_WITH_PASSWORD:
        return {}  # e.g. OAUTHBEARER or Kerberos: for the Java clients only
    options = {}
    for match in _JAAS_OPTION.finditer(parts[2] if len(parts) > 2 else ""):
        options[match[1]] = re.sub(r"\\(.)", r"\1", match[2]) if match[2] is not None else match[3]
    return {f"sasl_plain_{name}": options[name] for name in ("username", "password") if name in options}


def configured_topics(cfg: ShopguardConfig) -> list[str]:
    """The topics ``cfg`` names: events, alerts, dead letters, late events, scores (when set), feedback, rules and
    risk signals."""
    t = cfg.topics
    names = (t.events, t.alerts, t.dead_letters, t.late, t.scores, t.feedback, t.rules, t.risk_signals)
    return [name for name in names if name]


def topic_settings(cfg: ShopguardConfig, name: str) -> dict[str, str]:
    """Broker settings a topic is created with: the rules topic is compacted (the newest rule per id stays).

    >>> from shopguard.config import load_config
    >>> topic_settings(load_config(None, []), "detection-rules")
    {'cleanup.policy': 'compact'}
    """
    return {"cleanup.policy": "compact"} if name == cfg.topics.rules else {}


def _admin(cfg: ShopguardConfig) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            bootstrap_servers=cfg.kafka.bootstrap_servers, request_timeout_ms=10000, **kafka_python_options(cfg)
        )
    except KafkaError:  # kafka-python 3 raises KafkaTimeoutError when it cannot bootstrap
        raise TopicError(
            f"no Kafka broker answers at {cfg.kafka.bootstrap_servers}: start one with "
            "'shopguard kafka start' or set kafka.bootstrap_servers"
        ) from None


def ensure_topics(cfg: ShopguardConfig, names: list[str] | None = None, partitions: int | None = None) -> list[str]:
    """Create the configured topics that do not exist yet; return the names created."""
    names = names or configured_topics(cfg)
    partitions = partitions or cfg.topics.partitions
    admin = _admin(cfg)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        created = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=cfg.topics.replication_factor,
                            topic_configs=topic_settings(cfg, name),
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as error:
        raise TopicError(
            f"creating topics {', '.join(names)} on {cfg.kafka.bootstrap_servers} failed: {error}"
        ) from None
    finally:
        admin.close()


def delete_topics(cfg: ShopguardConfig, names: list[str]) -> list[str]:
    """Delete those of ``names`` that exist; return the names deleted.

    For the private topics of one run (the benchmark's): left behind, every run's topics stay on the
    broker's disk and in what it loads at start-up, and the local broker starts slower with every one.
    """
    admin = _admin(cfg)
    try:
        on_broker = set(admin.list_topics())
        existing = [name for name in names if name in on_broker]
        if existing:
            admin.delete_topics(existing)
        return existing
    except KafkaError as error:
        raise TopicError(
            f"deleting topics {', '.join(names)} on {cfg.kafka.bootstrap_servers} failed: {error}"
        ) from None
    finally:
        admin.close()
