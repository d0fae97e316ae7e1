"""The model a job serves before anything is published: the trained default model shipped with the code.

``udfs/default-model/`` is a model folder made by ``shopguard train`` with a fixed seed (its
``README.md`` says exactly how, and how to make it again); it installs with the package, so
``shopguard run``, ``shopguard detect`` and ``./dev run`` serve the real detectors from the start,
without torch. :func:`fallback_model_dir` is what a job serves when ``job.model_path`` is empty and
the registry has no current model: the shipped folder, checked as any model is (feature-spec version,
shapes, a smoke inference); if it cannot be served (say the event encoding changed and nobody made
it again), the hand-weighted placeholder (:mod:`shopguard.udfs.placeholder_model`), with a warning
that says why.

Example
-------
>>> import tempfile
>>> fallback_model_dir(tempfile.mkdtemp()) == DEFAULT_MODEL_DIR
True
"""

from __future__ import annotations

import logging
from pathlib import Path

from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.scoring import ModelRefused

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default-model"

log = logging.getLogger("shopguard.model")


def fallback_model_dir(cache_dir: str | Path, shipped: Path = DEFAULT_MODEL_DIR) -> Path:
    """The shipped default model folder if the job can serve it, else the placeholder written under ``cache_dir``."""
    try:
        DetectorEnsemble.load(shipped)
        return shipped
    except ModelRefused as refusal:
        log.warning(
            "shopguard: the shipped default model cannot be served (%s); serving the hand-weighted placeholder "
            "until a model is published. Make the default again as %s says.",
            refusal,
            shipped / "README.md",
        )
        return write_placeholder_model(Path(cache_dir) / "models")
