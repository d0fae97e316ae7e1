"""``shopguard publish``: put a model folder in the registry and make it current, unless it is worse.

The candidate and the model currently served are scored on the same evaluation data; the candidate is
refused when its test PR-AUC is lower, unless forced. Both figures are printed either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
from shopguard.training.evaluation import evaluate_detector
from shopguard.training.evaluation_data import EvaluationData, build_evaluation_data
from shopguard.udfs.model_registry import Manifest, open_registry
from shopguard.udfs.scoring import OnnxModel


class PublishRefused(ShopguardError):
    """The candidate scored worse than the model being served."""


def publish_model(
    cfg: ShopguardConfig,
    model_dir: str | Path,
    force: bool = False,
    data: EvaluationData | None = None,
    progress: Callable[[str], None] = print,
) -> Manifest:
    """Register ``model_dir`` and make it current; raise :class:`PublishRefused` if it is worse."""
    candidate = OnnxModel.load(model_dir)  # refuses a broken or incompatible model before anything else
    registry = open_registry(cfg)
    current = registry.current()
    if current is not None and not force:
        data = data or build_evaluation_data(cfg, progress)
        rate = cfg.training.target_alert_rate
        new = evaluate_detector(OnnxSequenceDetector(model_dir), data, rate, fit=False)["pr_auc"]
        old = evaluate_detector(
            OnnxSequenceDetector(registry.local_model_dir(current.model_version)), data, rate, fit=False
        )["pr_auc"]
        progress(
            f"test PR-AUC: candidate {candidate.card.model_version} {new:.4f}, "
            f"current {current.model_version} {old:.4f}"
        )
        if new < old:
            raise PublishRefused(
                f"{model_dir}: PR-AUC {new:.4f} is below the current model's {old:.4f}; "
                "not published (use --force to publish anyway)"
            )
    version = candidate.card.model_version
    if version not in registry.versions():
        registry.add(model_dir)
    manifest = registry.set_current(version)
    progress(f"published {version} as current in {registry.url}")
    return manifest
