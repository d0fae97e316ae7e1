"""The model registry: versioned model folders and a ``current`` manifest that is replaced atomically.

Layout under the registry root (a local folder, or any fsspec URL such as ``s3://bucket/shopguard``)::

    models/<version>/model.onnx, card.json, checkpoint.pt
    current.json      {"model_version": ..., "path": "models/<version>", "published_at": ..., "previous": ...}

A model folder is copied in whole before ``current.json`` names it, and ``current.json`` is written
to a temporary name and renamed over the old one (a single object PUT on object stores), so a reader
sees the old manifest or the new one, never half of either.

Example
-------
>>> import tempfile, pathlib, json
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> model = root / "staging" / "m1"; model.mkdir(parents=True)
>>> _ = (model / "card.json").write_text(json.dumps({"model_version": "m1"}))
>>> registry = ModelRegistry(str(root / "registry"))
>>> registry.add(model), registry.current()
('m1', None)
>>> registry.set_current("m1").model_version, registry.versions()
('m1', ['m1'])
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError


class RegistryError(ShopguardError):
    """The registry is missing a model or a manifest, or cannot be written; the message names it."""


@dataclass(frozen=True)
class Manifest:
    model_version: str
    path: str
    published_at: str
    previous: str | None = None


class ModelRegistry:
    def __init__(self, url: str, download_dir: str | Path | None = None):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.download_dir = Path(download_dir) if download_dir else None

    def versions(self) -> list[str]:
        """Every registered version, oldest name first."""
        base = f"{self.root}/models"
        if not self.fs.exists(base):
            return []
        return sorted(Path(p).name for p in self.fs.ls(base, detail=False))

    def add(self, model_dir: str | Path) -> str:
        """Copy a model folder in; return its version (from its card). An existing version is an error."""
        model_dir = Path(model_dir)
        try:
            version = json.loads((model_dir / "card.json").read_text())["model_version"]
        except (OSError, ValueError, KeyError) as exc:
            raise RegistryError(f"{model_dir / 'card.json'}: cannot read the model version ({exc})") from None
        target = f"{self.root}/models/{version}"
        if self.fs.exists(target):
            raise RegistryError(f"{self.url}/models/{version} already exists; versions are immutable")
        staging = f"{self.root}/models/.{version}.{uuid.uuid4().hex[:8]}"
        self.fs.put(str(model_dir), staging, recursive=True)
        self.fs.mv(staging, target, recursive=True)
        return version

    def current(self) -> Manifest | None:
        """The manifest of the model being served, or None before the first publish."""
        path = f"{self.root}/current.json"
        if not self.fs.exists(path):
            return None
        try:
            return Manifest(**json.loads(self.fs.cat_file(path)))
        except (ValueError, TypeError) as exc:
            raise RegistryError(
                f"{self.url}/current.json is not a valid manifest ({exc}); "
                "republish a model with 'shopguard publish --force'"
            ) from None

    def set_current(self, version: str) -> Manifest:
        """Point ``current.json`` at ``version``, atomically."""
        if version not in self.versions():
            raise RegistryError(f"{self.url}/models/{version} does not exist; add the model first")
        previous = self.current()
        manifest = Manifest(
            version,
            f"models/{version}",
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            previous.model_version if previous else None,
        )
        temporary = f"{self.root}/.current.{uuid.uuid4().hex[:8]}.json"
        self.fs.pipe_file(temporary, (json.dumps(asdict(manifest), indent=1) + "\n").encode())
        self.fs.mv(temporary, f"{self.root}/current.json")
        return manifest

    def local_model_dir(self, version: str) -> Path:
        """A local folder holding ``version`` (the registry's own on local disk, a downloaded copy otherwise)."""
        source = f"{self.root}/models/{version}"
        if isinstance(self.fs, LocalFileSystem):
            return Path(source)
        if self.download_dir is None:
            raise RegistryError(f"{self.url} is remote: give the registry a download_dir for model copies")
        copy = self.download_dir / version
        if not copy.exists():
            partial = self.download_dir / f".{version}.{uuid.uuid4().hex[:8]}"
            self.fs.get(source, str(partial), recursive=True)
            partial.rename(copy)
        return copy


def open_registry(cfg: ShopguardConfig) -> ModelRegistry:
    """The registry of ``cfg`` (``registry.url``, default ``<cache_dir>/registry``)."""
    return ModelRegistry(cfg.registry_url, download_dir=Path(cfg.cache_dir) / "registry-downloads")
