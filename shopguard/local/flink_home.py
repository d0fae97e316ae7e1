"""A Flink home for running on this machine: the ``apache-flink`` wheel's distribution plus the extra jars.

``bin/``, ``conf/``, ``opt/`` and ``plugins/`` link to the wheel's; ``lib/`` holds links to the wheel's jars
plus the Kafka connector and the Prometheus metrics reporter resolved from Maven Central, as a real
cluster's ``lib/`` would, and the job's Java steps (:mod:`shopguard.local.java_steps`). The local
mini-cluster (:func:`shopguard.jobs.flink_environment.create_environments`) and the session cluster
(:mod:`shopguard.local.flink_cluster`) start their JVMs from it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyflink

from shopguard.config import ShopguardConfig
from shopguard.local.java_steps import entity_steps_jar
from shopguard.local.maven_artifacts import flink_kafka_connector_jar, resolve_artifacts


def flink_home(cfg: ShopguardConfig) -> Path:
    """A Flink home: the wheel's own distribution, with the Kafka connector and Prometheus reporter in ``lib/``.

    ``bin/``, ``conf/``, ``opt/`` and ``plugins/`` link to the wheel's; ``lib/`` holds links to the
    wheel's jars plus the extra jars resolved from Maven Central, as a real cluster's ``lib/`` would.
    """
    wheel_home = Path(pyflink.__file__).parent.resolve()
    # One home per installed wheel: two checkouts with their own virtual environments must not share links.
    wheel_key = hashlib.sha256(str(wheel_home).encode()).hexdigest()[:8]
    home = Path(cfg.cache_dir) / f"flink-home-{cfg.versions.flink}-{wheel_key}"
    extras = [flink_kafka_connector_jar(cfg), entity_steps_jar(cfg.cache_dir)] + resolve_artifacts(
        "flink-metrics",
        [f"org.apache.flink:flink-metrics-prometheus:{cfg.versions.flink}"],
        Path(cfg.cache_dir),
        transitive=False,
    )
    _link_folder(home / "lib", [*(wheel_home / "lib").glob("*.jar"), *extras])
    for name in ("bin", "conf", "opt", "plugins"):
        link = home / name
        if link.is_symlink() and link.resolve() != (wheel_home / name).resolve():
            link.unlink()
        if (wheel_home / name).exists() and not link.is_symlink():
            link.symlink_to(wheel_home / name)
    return home


def _link_folder(folder: Path, files: list[Path]) -> None:
    """Make ``folder`` hold exactly one link per file in ``files`` (by name)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {f.name: f.resolve() for f in files}
    for present in folder.iterdir():
        if present.name not in wanted or present.resolve() != wanted[present.name]:
            present.unlink()
    for name, target in wanted.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(target)
