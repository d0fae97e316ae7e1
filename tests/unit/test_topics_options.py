"""One set of Kafka client settings serves Flink (Java names) and the Python clients."""

import dataclasses
import tomllib
from pathlib import Path

import pytest
import yaml

from shopguard.config import KafkaSettings, ShopguardConfig, from_dict, load_config
from shopguard.local.kafka_config_providers import ConfigProviderError
from shopguard.local.topics import TopicError, kafka_python_options


def test_java_names_translate_and_java_only_settings_are_left_to_flink():
    cfg = load_config(
        None,
        [
            'kafka.client_properties={"security.protocol"="SSL", "ssl.cafile"="/ca.pem", '
            '"ssl.truststore.location"="/ts.jks", "request.timeout.ms"="5000"}'
        ],
    )
    assert kafka_python_options(cfg) == {
        "security_protocol": "SSL",
        "ssl_cafile": "/ca.pem",
        "request_timeout_ms": 5000,
    }


def test_an_unknown_client_setting_is_named():
    cfg = load_config(None, ['kafka.client_properties={"secutiry.protocol"="SSL"}'])
    with pytest.raises(TopicError, match="'secutiry.protocol' is not a Kafka client setting"):
        kafka_python_options(cfg)


CONFIGMAP = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "shopguard-config.yaml"


def configmap_config(secrets_dir: Path):
    """The Kubernetes ConfigMap's configuration, with its Secret mounted at ``secrets_dir`` instead."""
    toml_text = yaml.safe_load(CONFIGMAP.read_text())["data"]["shopguard.toml"]
    return from_dict(tomllib.loads(toml_text.replace("/etc/shopguard-secrets", str(secrets_dir))))


def test_the_python_tools_take_the_kubernetes_configmap_s_client_properties(tmp_path):
    (tmp_path / "kafka.properties").write_text(
        "# the Secret's kafka.properties\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n"
        '    username="shopguard" password="s3cret";\n'
        "ssl.truststore.password=changeit\n"
    )
    options = kafka_python_options(configmap_config(tmp_path))
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "shopguard",
        "sasl_plain_password": "s3cret",
    }


def test_without_the_mounted_secret_the_error_names_the_property_and_the_file(tmp_path):
    with pytest.raises(ConfigProviderError, match=r"'sasl.jaas.config' refers to .*cannot read .*kafka.properties"):
        kafka_python_options(configmap_config(tmp_path))


ENV_PROVIDER = {
    "config.providers": "env",
    "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
}


def test_env_references_resolve_from_the_environment_and_a_missing_variable_is_named():
    cfg = with_properties(
        {
            **ENV_PROVIDER,
            "sasl.mechanism": "PLAIN",
            "sasl.plain.username": "shopguard",
            "sasl.plain.password": "${env:KAFKA_PASSWORD}",
        }
    )
    assert kafka_python_options(cfg, {"KAFKA_PASSWORD": "s3cret"})["sasl_plain_password"] == "s3cret"
    with pytest.raises(
        ConfigProviderError, match="'sasl.plain.password' .*environment variable KAFKA_PASSWORD is not set"
    ):
        kafka_python_options(cfg, {})


@pytest.mark.parametrize(
    "properties, message",
    [
        (
            {
                "config.providers": "vault",
                "config.providers.vault.class": "com.example.VaultConfigProvider",
                "sasl.plain.password": "${vault:secret/kafka:password}",
            },
            r"'sasl.plain.password' refers to '\$\{vault:secret/kafka:password\}': provider 'vault' "
            r"\('com.example.VaultConfigProvider'\) cannot be resolved by shopguard's Python Kafka clients",
        ),
        (
            {**ENV_PROVIDER, "sasl.plain.password": "${file:/run/secrets/kafka.properties:password}"},
            r"'sasl.plain.password' .*'config.providers' does not declare a provider 'file' \(declared: env\)",
        ),
        (
            {"config.providers": "env", "sasl.plain.password": "${env:X}"},
            r"'sasl.plain.password' .*provider 'env' \(no 'config.providers.env.class'\)",
        ),
    ],
)
def test_a_provider_the_python_clients_cannot_resolve_is_an_error_naming_the_property(properties, message):
    with pytest.raises(ConfigProviderError, match=message):
        kafka_python_options(with_properties(properties), {"X": "x"})


def test_references_in_java_only_settings_are_left_to_flink():
    cfg = with_properties(
        {
            "config.providers": "vault",
            "config.providers.vault.class": "com.example.Vault",
            "ssl.truststore.password": "${vault:kafka:truststore}",
            "security.protocol": "SSL",
        }
    )
    assert kafka_python_options(cfg, {}) == {"security_protocol": "SSL"}


def test_explicit_credentials_win_over_the_jaas_line_and_other_login_modules_are_left_to_flink():
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="jaas" password="pw";'
    cfg = with_properties({"sasl.jaas.config": jaas, "sasl.plain.username": "explicit"})
    assert kafka_python_options(cfg, {}) == {"sasl_plain_username": "explicit", "sasl_plain_password": "pw"}
    oauth = 'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="x";'
    assert kafka_python_options(with_properties({"sasl.jaas.config": oauth}), {}) == {}


def with_properties(properties: dict[str, str]):
    return dataclasses.replace(ShopguardConfig(), kafka=KafkaSettings(client_properties=properties))
