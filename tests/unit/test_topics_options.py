"""One set of Kafka client settings serves Flink (Java names) and the Python clients."""

import pytest

from shopguard.config import load_config
from shopguard.topics import TopicError, kafka_python_options


def test_java_names_translate_and_java_only_settings_are_left_to_flink():
    cfg = load_config(None, ['kafka.client_properties={"security.protocol"="SSL", "ssl.cafile"="/ca.pem", '
                             '"ssl.truststore.location"="/ts.jks", "request.timeout.ms"="5000"}'])
    assert kafka_python_options(cfg) == {"security_protocol": "SSL", "ssl_cafile": "/ca.pem",
                                         "request_timeout_ms": 5000}


def test_an_unknown_client_setting_is_named():
    cfg = load_config(None, ['kafka.client_properties={"secutiry.protocol"="SSL"}'])
    with pytest.raises(TopicError, match="'secutiry.protocol' is not a Kafka client setting"):
        kafka_python_options(cfg)
