"""Where the job's model comes from, and the model being served, swapped without a restart.

:class:`ModelSource` names the models the job may serve: a fixed folder (``job.model_path``), or
the registry's ``current`` manifest (``registry.url``), with a fallback before anything is published:
the shipped default model, or the placeholder if that cannot be served (:mod:`shopguard.udfs.default_model`).
:class:`LiveModel` holds the model being served: a background thread reads the manifest every
``job.model_poll_interval_s``; a new version is loaded and checked off the hot path (feature-spec
version, input and output shapes, a smoke inference) and swapped in with one reference assignment, so
that every batch is scored by exactly one model. A broken or incompatible model is refused with a log
line and a metric, and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from shopguard.config import ShopguardConfig
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.model_registry import ModelRegistry, RegistryError
from shopguard.udfs.scoring import ModelRefused

log = logging.getLogger("shopguard.model")


@dataclass(frozen=True)
class ModelSource:
    """The models a job may serve (pickled into every scoring function; holds no open resources)."""

    fixed_dir: str = ""
    registry_url: str = ""
    download_dir: str = ""
    fallback_dir: str = ""

    @classmethod
    def from_config(cls, cfg: ShopguardConfig, fallback_dir: str | Path) -> "ModelSource":
        return cls(
            fixed_dir=cfg.job.model_path,
            registry_url=cfg.registry_url,
            download_dir=str(Path(cfg.cache_dir) / "registry-downloads"),
            fallback_dir=str(fallback_dir),
        )

    @property
    def follows_registry(self) -> bool:
        return not self.fixed_dir

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.registry_url, download_dir=self.download_dir)

    def current_version(self) -> str | None:
        """The version ``current.json`` names (None: nothing published, or a fixed model)."""
        if not self.follows_registry:
            return None
        manifest = self.registry().current()
        return manifest.model_version if manifest else None

    def folder_for(self, version: str | None) -> Path:
        """The local folder of ``version`` (None: the fixed folder, else the fallback)."""
        if self.fixed_dir:
            return Path(self.fixed_dir)
        if version is None:
            return Path(self.fallback_dir)
        return self.registry().local_model_dir(version)

    def servable_folder(self, version: str | None) -> Path:
        """:meth:`folder_for`, with a registry failure reported as :class:`ModelRefused` (cannot be served)."""
        try:
            return self.folder_for(version)
        except RegistryError as exc:
            raise ModelRefused(str(exc)) from None

    def load(self, version: str | None, threads: int) -> DetectorEnsemble:
        """Load and check one version; :class:`ModelRefused` says why it cannot be served."""
        return DetectorEnsemble.load(self.servable_folder(version), threads=threads)

    def load_current(self, threads: int) -> DetectorEnsemble:
        """The model the job would serve now; a job checks it before it starts, to refuse a broken one early."""
        return self.load(self.current_version(), threads)

    def load_version(self, version: str, threads: int) -> DetectorEnsemble:
        """The model that produced a score tagged ``version``: registry, fixed folder or fallback."""
        candidates = [None] if not self.follows_registry else [version, None]
        for candidate in candidates:
            try:
                model = self.load(candidate, threads)
            except ModelRefused:
                continue
            if model.card.model_version == version:
                return model
        raise ModelRefused(
            f"model {version} is neither in {self.registry_url or self.fixed_dir} "
            f"nor the fallback model {self.fallback_dir}"
        )


class LiveModel:
    """The model being served, replaced by a newer current version while the job runs.

    ``on_change(kind, version)`` is called with ``"swapped"`` or ``"refused"`` (for metrics).
    """

    def __init__(
        self,
        source: ModelSource,
        threads: int,
        poll_interval_s: float,
        on_change: Callable[[str, str], None] = lambda kind, version: None,
        load: Callable[[str | None], Any] | None = None,
    ):
        self.source = source
        self.threads = threads
        self.poll_interval_s = poll_interval_s
        self.on_change = on_change
        self.refused: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # What is served per version: the detector ensemble by default; the keyed step serves the
        # version's pattern matcher instead. Whatever it is has a ``card`` naming its version.
        self._load = load or (lambda version: source.load(version, threads))
        self.model = self._load(self._current_version_or_none())

    @property
    def version(self) -> str:
        return self.model.card.model_version

    def start_watching(self) -> None:
        """Poll the registry in a daemon thread (nothing to watch for a fixed model)."""
        if self.source.follows_registry and self.poll_interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="shopguard-model-watcher", daemon=True)
            self._thread.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_interval_s + 5)
            self._thread = None

    def check_for_new_version(self) -> None:
        """Load the current version if it is new and servable; otherwise keep serving the old one."""
        version = self._current_version_or_none()
        if version is None or version == self.version or version in self.refused:
            return
        try:
            candidate = self._load(version)
        except ModelRefused as refusal:
            self.refused.add(version)
            log.error("shopguard: refused model %s, still serving %s: %s", version, self.version, refusal)
            self.on_change("refused", version)
            return
        previous, self.model = self.version, candidate  # one reference assignment: batches see old or new
        log.warning("shopguard: now serving model %s (was %s)", version, previous)
        self.on_change("swapped", version)

    def _current_version_or_none(self) -> str | None:
        try:
            return self.source.current_version()
        except (RegistryError, OSError) as exc:  # an unreadable manifest must not stop scoring
            log.error("shopguard: cannot read the registry's current manifest (%s); keeping the model", exc)
            return None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            started = time.monotonic()
            self.check_for_new_version()
            log.debug("shopguard: registry checked in %.3f s", time.monotonic() - started)
