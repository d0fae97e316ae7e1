"""Kafka's config provider references, resolved as the Java clients resolve them; errors name the property."""

import pytest

from shopguard.local.kafka_config_providers import (
    DIRECTORY,
    ENV,
    FILE,
    ConfigProviderError,
    ConfigProviders,
    read_java_properties,
)


def providers(environ=None, **declared):
    """``name=(class, {param: value})`` → the ConfigProviders those properties declare."""
    properties = {"config.providers": ", ".join(declared)}
    for name, (class_name, params) in declared.items():
        properties[f"config.providers.{name}.class"] = class_name
        properties.update({f"config.providers.{name}.param.{k}": v for k, v in params.items()})
    return ConfigProviders.from_properties(properties, environ or {})


def test_a_file_reference_reads_a_key_of_a_java_properties_file(tmp_path):
    secrets = tmp_path / "kafka.properties"
    secrets.write_text("user = shopguard\npassword:s3cret\n")
    resolver = providers(file=(FILE, {}))
    assert resolver.resolve("p", f"${{file:{secrets}:password}}") == "s3cret"
    assert resolver.resolve("p", f"${{file:{secrets}:user}}/${{file:{secrets}:password}}") == "shopguard/s3cret"
    with pytest.raises(ConfigProviderError, match=f"'p' refers to .*: {secrets} has no key 'token'"):
        resolver.resolve("p", f"${{file:{secrets}:token}}")


def test_a_directory_reference_reads_a_whole_file_as_a_mounted_secret_holds_it(tmp_path):
    (tmp_path / "password").write_text("s3cret")
    assert providers(dir=(DIRECTORY, {})).resolve("p", f"${{dir:{tmp_path}:password}}") == "s3cret"


def test_allowed_paths_and_the_env_allowlist_are_honoured(tmp_path):
    (tmp_path / "kafka.properties").write_text("password=s3cret\n")
    fenced = providers(file=(FILE, {"allowed.paths": "/run/secrets"}))
    with pytest.raises(ConfigProviderError, match="outside 'config.providers.file.param.allowed.paths'"):
        fenced.resolve("p", f"${{file:{tmp_path}/kafka.properties:password}}")
    allowlisted = providers({"KAFKA_PASSWORD": "s3cret", "HOME": "/root"}, env=(ENV, {"allowlist.pattern": "KAFKA_.*"}))
    assert allowlisted.resolve("p", "${env:KAFKA_PASSWORD}") == "s3cret"
    with pytest.raises(ConfigProviderError, match="HOME does not match 'config.providers.env.param.allowlist.pattern'"):
        allowlisted.resolve("p", "${env:HOME}")


def test_text_without_a_provider_reference_is_left_as_it_is():
    resolver = providers(env=(ENV, {}))
    assert resolver.resolve("p", "plain ${no-colon} $notbraced") == "plain ${no-colon} $notbraced"


def test_an_env_reference_with_a_path_is_an_error():
    with pytest.raises(ConfigProviderError, match="EnvVarConfigProvider takes no path"):
        providers({"X": "1"}, env=(ENV, {})).resolve("p", "${env:some/path:X}")


def test_java_properties_files_parse_as_java_parses_them():
    text = (
        "# comment\n! another\n\n"
        "a=1\n"
        "b : 2\n"
        "c 3\n"
        "  d=spaces before the key\n"
        "e=long \\\n    value\n"
        "f=tab\\there \\u00e9\n"
        "g\\ key=escaped separator\n"
        "h=ends with a backslash\\\\\n"
        "i\r\n"
    )
    assert read_java_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "spaces before the key",
        "e": "long value",
        "f": "tab\there é",
        "g key": "escaped separator",
        "h": "ends with a backslash\\",
        "i": "",
    }
