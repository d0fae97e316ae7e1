"""What the Python side of the job needs on a Flink worker: the project's code and its libraries.

Flink ships :func:`package_archive` (a zip of the ``shopguard`` package as it is imported here, so
the source layout of ``jobs/``, ``udfs/``, ``training/`` and ``bench/`` does not matter) to every Python worker.
In thread mode the worker is an interpreter embedded in the JVM that does not read this virtual
environment's ``.pth`` files, so ``python.pythonpath`` must name its site-packages explicitly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
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


def package_folders() -> dict[str, Path]:
    """Each package to ship and its folder, found without importing any of them: the job is on the serving side,
    which never imports training or the benchmark (the README's dependency rule), even to find their folders.

    >>> folders = package_folders()
    >>> folders["shopguard.udfs"].name, "shopguard.training.detectors" in folders
    ('udfs', True)
    """
    folders = {}
    for top in TOP_PACKAGES:
        spec = importlib.util.find_spec(top)  # imports the parent ``shopguard`` only, not ``top`` itself
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{top} is not an installed package", name=top)
        pending = [(top, Path(spec.submodule_search_locations[0]))]
        while pending:
            name, folder = pending.pop()
            folders[name] = folder
            if top != PACKAGE:  # the folders under shopguard/ (shopguard.local) are never shipped
                pending += [(f"{name}.{sub.name}", sub) for sub in sorted(folder.iterdir()) if is_package(sub)]
    return folders


def is_package(folder: Path) -> bool:
    return folder.is_dir() and folder.name.isidentifier() and (folder / "__init__.py").is_file()


def package_sources() -> dict[str, bytes]:
    """Every module of the ``shopguard`` package, and the tables it ships, by path inside a zip, e.g.
    ``shopguard/udfs/events.py``, ``shopguard/udfs/shipped-tables/rarity.json``."""
    sources: dict[str, bytes] = {}
    for name, folder in package_folders().items():
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
