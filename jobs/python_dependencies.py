"""What the Python side of the job needs on a Flink worker: the project's code and its libraries.

Flink ships :func:`package_archive` (a zip of the ``shopguard`` package as it is imported here, so
the source layout of ``jobs/``, ``udfs/``, ``training/`` and ``bench/`` does not matter) to every Python worker.
In thread mode the worker is an interpreter embedded in the JVM that does not read this virtual
environment's ``.pth`` files, so ``python.pythonpath`` must name its site-packages explicitly.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pkgutil
import sysconfig
import zipfile
from pathlib import Path

PACKAGE = "shopguard"
TOP_PACKAGES = (PACKAGE, f"{PACKAGE}.jobs", f"{PACKAGE}.udfs", f"{PACKAGE}.training", f"{PACKAGE}.bench")
"""The packages pyproject.toml maps from the repository's top folders (they are not nested on disk)."""
DATA_FOLDER = "shipped-tables"
"""Package data the serving code reads (udfs/shipped_tables.py): shipped in the zip beside the modules."""


def site_packages() -> str:
    """The site-packages folder of the running interpreter (where PyFlink, numpy and onnxruntime live)."""
    return sysconfig.get_paths()["purelib"]


def package_sources() -> dict[str, bytes]:
    """Every module of the ``shopguard`` package, and the tables it ships, by path inside a zip, e.g.
    ``shopguard/udfs/events.py``, ``shopguard/udfs/shipped-tables/rarity.json``."""
    sources: dict[str, bytes] = {}
    packages = list(TOP_PACKAGES)
    for top in TOP_PACKAGES[1:]:
        packages += [
            info.name
            for info in pkgutil.walk_packages(importlib.import_module(top).__path__, prefix=f"{top}.")
            if info.ispkg
        ]
    for name in packages:
        folder = Path(importlib.import_module(name).__path__[0])
        for source in sorted(folder.glob("*.py")) + sorted(folder.glob(f"{DATA_FOLDER}/*.json")):
            sources[f"{name.replace('.', '/')}/{source.relative_to(folder)}"] = source.read_bytes()
    return sources


def package_archive(cache_dir: str | Path) -> Path:
    """A zip of the current ``shopguard`` code, named by its content hash (written once per version)."""
    sources = package_sources()
    digest = hashlib.sha256()
    for arcname in sorted(sources):
        digest.update(arcname.encode() + b"\0" + sources[arcname])
    archive = Path(cache_dir) / "python-packages" / f"{PACKAGE}-{digest.hexdigest()[:16]}.zip"
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for arcname in sorted(sources):
                zf.writestr(arcname, sources[arcname])
        tmp = archive.with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(archive)
    return archive
