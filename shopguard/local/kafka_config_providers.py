"""Kafka's config providers, resolved for shopguard's Python Kafka clients.

A Java Kafka client resolves references such as ``${file:/etc/shopguard-secrets/kafka.properties:
sasl.jaas.config}`` in its own properties, through the providers that ``config.providers`` declares; that
is how the Kubernetes ConfigMap keeps secrets out of the repository. kafka-python knows nothing of them, so
:class:`ConfigProviders` does the same for the providers Kafka ships:

- ``org.apache.kafka.common.config.provider.FileConfigProvider``: ``${NAME:/path/to/file.properties:key}``,
  the value of ``key`` in a Java properties file;
- ``org.apache.kafka.common.config.provider.DirectoryConfigProvider``: ``${NAME:/path/to/dir:file}``, the
  content of a file in a folder (a mounted Kubernetes Secret);
- ``org.apache.kafka.common.config.provider.EnvVarConfigProvider``: ``${NAME:VARIABLE}``, an environment
  variable.

``NAME`` is whatever ``config.providers`` calls the provider (``file``, ``env`` by convention). Their
``allowed.paths`` and ``allowlist.pattern`` parameters are honoured. Any other provider (a vault plugin,
say) cannot run in Python: a reference to it is an error that names the property, as is a reference that
does not resolve (Java would pass the text ``${...}`` on as the value).

Example
-------
>>> properties = {"config.providers": "env",
...               "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
...               "sasl.plain.password": "${env:KAFKA_PASSWORD}"}
>>> providers = ConfigProviders.from_properties(properties, {"KAFKA_PASSWORD": "s3cret"})
>>> providers.resolve("sasl.plain.password", properties["sasl.plain.password"])
's3cret'
>>> is_provider_setting("config.providers.env.class"), is_provider_setting("sasl.mechanism")
(True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from shopguard.errors import ShopguardError

PROVIDERS_KEY = "config.providers"
_PACKAGE = "org.apache.kafka.common.config.provider."
FILE, DIRECTORY, ENV = (
    _PACKAGE + "FileConfigProvider",
    _PACKAGE + "DirectoryConfigProvider",
    _PACKAGE + "EnvVarConfigProvider",
)
SUPPORTED = (FILE, DIRECTORY, ENV)

REFERENCE = re.compile(r"\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}")
"""Kafka's own pattern (``ConfigTransformer.DEFAULT_PATTERN``): ``${provider:[path:]key}``."""


class ConfigProviderError(ShopguardError, ValueError):
    """A ``${provider:...}`` reference in ``kafka.client_properties`` cannot be resolved; names the property."""


def is_provider_setting(key: str) -> bool:
    """``config.providers`` and ``config.providers.<name>.*``: they configure resolution, not a client."""
    return key == PROVIDERS_KEY or key.startswith(PROVIDERS_KEY + ".")


@dataclass(frozen=True)
class Provider:
    name: str
    class_name: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfigProviders:
    """The providers ``config.providers`` declares, and the environment ``${env:...}`` reads."""

    providers: Mapping[str, Provider]
    environ: Mapping[str, str]

    @classmethod
    def from_properties(cls, properties: Mapping[str, str], environ: Mapping[str, str]) -> "ConfigProviders":
        names = [n.strip() for n in properties.get(PROVIDERS_KEY, "").split(",") if n.strip()]
        providers = {}
        for name in names:
            prefix = f"{PROVIDERS_KEY}.{name}."
            params = {
                key[len(prefix + "param.") :]: value
                for key, value in properties.items()
                if key.startswith(prefix + "param.")
            }
            providers[name] = Provider(name, properties.get(prefix + "class", "").strip(), params)
        return cls(providers, environ)

    def resolve(self, key: str, value: str) -> str:
        """``value`` with every ``${provider:[path:]key}`` reference replaced; ``key`` names the property in errors."""
        return REFERENCE.sub(lambda match: self._lookup(key, match), value)

    def _lookup(self, key: str, match: re.Match) -> str:
        name, path, item = match[1], match[2], match[3]
        where = f"kafka.client_properties: {key!r} refers to {match[0]!r}"
        provider = self.providers.get(name)
        if provider is None:
            declared = ", ".join(self.providers) or "none"
            raise ConfigProviderError(
                f"{where}, but {PROVIDERS_KEY!r} does not declare a provider {name!r} (declared: {declared})"
            )
        if provider.class_name not in SUPPORTED:
            what = repr(provider.class_name) if provider.class_name else f"no '{PROVIDERS_KEY}.{name}.class'"
            raise ConfigProviderError(
                f"{where}: provider {name!r} ({what}) cannot be resolved by shopguard's Python Kafka clients "
                f"(topics, produce, alerts), which resolve FileConfigProvider, DirectoryConfigProvider and "
                f"EnvVarConfigProvider; give them a configuration that holds the value itself (--config FILE)"
            )
        if provider.class_name == ENV:
            return self._environment_variable(where, provider, path, item)
        return self._file_value(where, provider, path, item)

    def _environment_variable(self, where: str, provider: Provider, path: str | None, name: str) -> str:
        if path:
            raise ConfigProviderError(f"{where}: EnvVarConfigProvider takes no path; write ${{{provider.name}:{name}}}")
        allowlist = provider.params.get("allowlist.pattern")
        if allowlist is not None and not re.fullmatch(allowlist, name):
            raise ConfigProviderError(
                f"{where}: {name} does not match '{PROVIDERS_KEY}.{provider.name}.param."
                f"allowlist.pattern' ({allowlist!r})"
            )
        if name not in self.environ:
            raise ConfigProviderError(f"{where}: environment variable {name} is not set")
        return self.environ[name]

    def _file_value(self, where: str, provider: Provider, path: str | None, item: str) -> str:
        if not path:
            raise ConfigProviderError(
                f"{where}: {provider.class_name.rsplit('.', 1)[1]} needs a path, "
                f"e.g. ${{{provider.name}:/path/to/file:{item}}}"
            )
        allowed = [p.strip() for p in provider.params.get("allowed.paths", "").split(",") if p.strip()]
        resolved = Path(path).resolve()
        if allowed and not any(resolved.is_relative_to(Path(a).resolve()) for a in allowed):
            raise ConfigProviderError(
                f"{where}: {path} is outside '{PROVIDERS_KEY}.{provider.name}.param."
                f"allowed.paths' ({', '.join(allowed)})"
            )
        target = Path(path) / item if provider.class_name == DIRECTORY else Path(path)
        try:
            text = target.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigProviderError(f"{where}: cannot read {target} ({error.strerror or error})") from None
        if provider.class_name == DIRECTORY:
            return text
        values = read_java_properties(text)
        if item not in values:
            raise ConfigProviderError(f"{where}: {path} has no key {item!r}")
        return values[item]


def read_java_properties(text: str) -> dict[str, str]:
    r"""Parse a ``.properties`` file as ``java.util.Properties.load`` does.

    ``key=value``, ``key: value`` or ``key value``; ``#`` and ``!`` comments; a backslash at the end of a
    line continues it; ``\t``, ``\n``, ``\uXXXX`` and ``\=`` style escapes.

    >>> read_java_properties('# secrets\nsasl.jaas.config=a required \\\n    username="u";\nempty\nk\\=1 : v')
    {'sasl.jaas.config': 'a required username="u";', 'empty': '', 'k=1': 'v'}
    """
    properties: dict[str, str] = {}
    lines = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(lines):
        line = lines[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1] + (lines[index].lstrip(" \t\f") if index < len(lines) else "")
            index += 1
        key, value = _split_key(line)
        properties[_unescape(key)] = _unescape(value)
    return properties


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split_key(line: str) -> tuple[str, str]:
    escaped = False
    for position, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "=: \t\f":
            rest = line[position:].lstrip(" \t\f")
            if rest[:1] in ("=", ":"):
                rest = rest[1:].lstrip(" \t\f")
            return line[:position], rest
    return line, ""


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else _ESCAPES.get(m[1], m[1]),
        text,
        flags=re.DOTALL,
    )
