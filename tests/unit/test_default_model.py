"""The trained default model shipped in udfs/default-model/: served from the start, without torch."""

import dataclasses
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.jobs.detect_job import model_source
from shopguard.udfs.default_model import DEFAULT_MODEL_DIR, fallback_model_dir
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION
from shopguard.udfs.pattern_store import PATTERNS_FILE

MAX_SHIPPED_BYTES = 3_000_000  # the repository carries it: a few MB at most


def test_the_shipped_folder_is_a_trained_model_the_job_can_serve():
    ensemble = DetectorEnsemble.load(DEFAULT_MODEL_DIR)
    assert ensemble.card.kind != "placeholder" and ensemble.card.feature_spec_version == FEATURE_SPEC_VERSION
    assert ensemble.combiner is not None and ensemble.next_event is not None
    assert (DEFAULT_MODEL_DIR / PATTERNS_FILE).is_file() and (DEFAULT_MODEL_DIR / "README.md").is_file()
    scores = ensemble.score_batch(np.zeros((3, 32, len(FEATURE_NAMES)), np.float32), np.full(3, np.nan))
    assert scores.score.shape == (3,) and np.isfinite(scores.score).all()


def test_the_shipped_folder_is_small_and_says_how_it_was_made():
    size = sum(path.stat().st_size for path in DEFAULT_MODEL_DIR.rglob("*") if path.is_file())
    assert size <= MAX_SHIPPED_BYTES
    readme = (DEFAULT_MODEL_DIR / "README.md").read_text()
    version = json.loads((DEFAULT_MODEL_DIR / "card.json").read_text())["model_version"]
    assert "shopguard train" in readme and "training.seed" in readme and version in readme


def test_loading_the_shipped_folder_needs_no_torch():
    check = (
        "import sys; from shopguard.udfs.default_model import DEFAULT_MODEL_DIR; "
        "from shopguard.udfs.detector_ensemble import DetectorEnsemble; DetectorEnsemble.load(DEFAULT_MODEL_DIR); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", check], check=True)


def test_the_job_serves_the_shipped_model_when_the_registry_has_none(tmp_path):
    cfg = dataclasses.replace(ShopguardConfig(), cache_dir=str(tmp_path))
    source = model_source(cfg)
    assert source.current_version() is None
    assert source.folder_for(None) == DEFAULT_MODEL_DIR
    assert source.load_current(threads=1).card.kind != "placeholder"


def test_a_shipped_folder_the_job_cannot_serve_falls_back_to_the_placeholder(tmp_path):
    stale = tmp_path / "stale"
    shutil.copytree(DEFAULT_MODEL_DIR, stale)
    card = json.loads((stale / "card.json").read_text())
    (stale / "card.json").write_text(json.dumps(card | {"feature_spec_version": "event-codes-v0"}))
    served = fallback_model_dir(tmp_path / "cache", shipped=stale)
    assert DetectorEnsemble.load(served).card.kind == "placeholder"


def test_the_package_installs_every_file_of_the_shipped_folder():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["shopguard.udfs"]
    udfs = DEFAULT_MODEL_DIR.parent
    packaged = {path for pattern in patterns for path in udfs.glob(pattern) if path.is_file()}
    assert {path for path in DEFAULT_MODEL_DIR.rglob("*") if path.is_file()} <= packaged
