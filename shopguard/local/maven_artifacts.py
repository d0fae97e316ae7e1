"""Jars from Maven Central, resolved by Maven into shopguard's cache folder.

The Kafka broker and the Flink connectors are Java; rather than download archives from ad-hoc places,
shopguard writes a small ``pom.xml`` per group of artifacts and lets Maven resolve them (and their
dependencies) into ``<cache_dir>/jars/<name>/lib``. A stamp file remembers what was resolved, so the
second call returns at once without running Maven.

Example
-------
>>> pom = pom_for(["org.apache.kafka:kafka_2.13:4.2.0"])
>>> "<artifactId>kafka_2.13</artifactId>" in pom and "<version>4.2.0</version>" in pom
True
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence
from xml.sax.saxutils import escape

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError

LOG4J_VERSION = "2.25.3"
"""The log4j2 release Kafka 4.2's broker is built with; its SLF4J binding is added so the broker logs."""


class ArtifactError(ShopguardError):
    """Maven is missing or could not resolve the artifacts; the message says which and what to do."""


def pom_for(coordinates: Sequence[str]) -> str:
    """A minimal ``pom.xml`` depending on ``group:artifact:version`` coordinates."""
    dependencies = []
    for coordinate in coordinates:
        parts = coordinate.split(":")
        if len(parts) != 3 or not all(parts):
            raise ArtifactError(f"{coordinate!r} is not a Maven coordinate of the form group:artifact:version")
        group, artifact, version = (escape(p) for p in parts)
        dependencies.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n  <modelVersion>4.0.0</modelVersion>\n'
        "  <groupId>local.shopguard</groupId><artifactId>jars</artifactId><version>1</version>"
        "<packaging>pom</packaging>\n  <dependencies>\n" + "\n".join(dependencies) + "\n  </dependencies>\n</project>\n"
    )


def resolve_artifacts(
    name: str,
    coordinates: Sequence[str],
    cache_dir: Path,
    transitive: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """The jars of ``coordinates`` (with their runtime dependencies unless ``transitive`` is False)."""
    folder = Path(cache_dir) / "jars" / name
    lib, stamp = folder / "lib", folder / "resolved.txt"
    wanted = "\n".join([*coordinates, f"transitive={transitive}"]) + "\n"
    jars = sorted(lib.glob("*.jar"))
    if jars and stamp.is_file() and stamp.read_text() == wanted:
        return jars
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError(
            "mvn not found on PATH: install Maven (apt-get install maven); "
            "shopguard uses it to fetch the Kafka and Flink jars from Maven Central"
        )
    (progress or _stderr)(
        f"resolving {len(coordinates)} Maven artifact(s) for {name} "
        "(the first run downloads them from Maven Central)..."
    )
    shutil.rmtree(lib, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pom.xml").write_text(pom_for(coordinates))
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(folder / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]
    if not transitive:
        command.append("-DexcludeTransitive=true")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ArtifactError(f"Maven could not resolve {', '.join(coordinates)} (is Maven Central reachable?):\n{tail}")
    stamp.write_text(wanted)
    return sorted(lib.glob("*.jar"))


def kafka_broker_jars(cfg: ShopguardConfig) -> list[Path]:
    """The classpath of an Apache Kafka broker of ``cfg.versions.kafka``, with a logging binding."""
    versions = cfg.versions
    return resolve_artifacts(
        "kafka-broker",
        [
            f"org.apache.kafka:kafka_{versions.scala}:{versions.kafka}",
            f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
        ],
        Path(cfg.cache_dir),
    )


def flink_kafka_connector_jar(cfg: ShopguardConfig) -> Path:
    """The shaded ``flink-sql-connector-kafka`` jar built for this Flink version."""
    (jar,) = resolve_artifacts(
        "flink-kafka-connector",
        [f"org.apache.flink:flink-sql-connector-kafka:{cfg.versions.flink_kafka_connector}"],
        Path(cfg.cache_dir),
        transitive=False,
    )
    return jar


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
