"""The job's Java keyed steps as a jar: ``udfs/java`` compiled by the machine's ``javac`` against PyFlink's jars.

The device and IP steps run in Java (:mod:`shopguard.jobs.entity_keying`, ``entities.engine = "java"``). Their
sources ship with the package (``udfs/java``); :func:`entity_steps_jar` compiles them once per version of the
sources and of Flink into the cache, with no network, and :func:`~shopguard.local.flink_home.flink_home` puts the
jar in ``lib/`` beside the Kafka connector, where the mini-cluster and the session cluster find it. ``shopguard
jars`` (run by ``./dev setup``) builds it; the job image compiles the same sources in its own build stage
(``docker/Dockerfile.job``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from shopguard.errors import ShopguardError


def java_sources() -> Path:
    """Where the Java sources are: ``udfs/java`` of this checkout, or ``shopguard/udfs/java`` of an installed wheel."""
    import shopguard.udfs

    return Path(shopguard.udfs.__file__).resolve().parent / "java"


def flink_jars() -> list[Path]:
    """The jars of the installed PyFlink, which the Java steps compile against (the job runs on the same)."""
    import pyflink

    return sorted((Path(pyflink.__file__).parent / "lib").glob("*.jar"))


def entity_steps_jar(cache_dir: str | Path) -> Path:
    """The jar of the Java steps, compiled by ``javac`` (``$JAVA_HOME/bin`` or on the PATH) against
    :func:`flink_jars` into ``cache_dir/java-steps``, named by the hash of the sources and the jars' names: built
    once per version of either."""
    root = java_sources()
    sources = sorted(root.rglob("*.java"))
    if not sources:
        raise ShopguardError(f"no Java sources under {root}: reinstall shopguard (pip install -e .)")
    jars = flink_jars()
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    digest.update("\0".join(jar.name for jar in jars).encode())
    jar = Path(cache_dir) / "java-steps" / f"shopguard-steps-{digest.hexdigest()[:16]}.jar"
    if jar.is_file():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as tmp:
        classes = Path(tmp) / "classes"
        command = [_javac(), "--release", "17", "-d", str(classes), "-cp", os.pathsep.join(map(str, jars))]
        compiled = subprocess.run([*command, *map(str, sources)], capture_output=True, text=True)
        if compiled.returncode != 0:
            raise ShopguardError(f"javac failed on {root}: {compiled.stderr.strip()}")
        built = Path(tmp) / jar.name
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
            for path in sorted(classes.rglob("*.class")):
                zf.write(path, path.relative_to(classes).as_posix())
        built.replace(jar)
    return jar


def _javac() -> str:
    java_home = os.environ.get("JAVA_HOME")
    javac = str(Path(java_home) / "bin" / "javac") if java_home else shutil.which("javac")
    if not javac or not Path(javac).is_file():
        raise ShopguardError(
            "javac not found (JAVA_HOME or PATH): the job's Java steps need a JDK 17"
            " (apt-get install openjdk-17-jdk-headless)"
        )
    return javac
