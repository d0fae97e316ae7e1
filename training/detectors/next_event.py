"""The unsupervised next-event detector: trained on normal users at ``fit``, scored through its ONNX export."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.next_event_model import (
    NextEventConfig,
    SurpriseScore,
    next_event_checkpoint,
    train_next_event_model,
)


def _silent(line: str) -> None:
    """Default progress: say nothing (a module-level function, so the detector pickles)."""


class NextEventDetector:
    name = "next_event"

    def __init__(self, config: NextEventConfig | None = None, export_dir: str | Path | None = None, progress=_silent):
        self.config = config or NextEventConfig()
        self.export_dir = str(export_dir) if export_dir else None
        self.progress = progress
        self.scorer = None

    def fit(self, train: EncodedTraffic) -> "NextEventDetector":
        from shopguard.training.detectors.onnx_sequence import OnnxSequenceDetector
        from shopguard.training.onnx_export import export_serving_module

        model = train_next_event_model(train, self.config, self.progress)
        folder = Path(self.export_dir or tempfile.mkdtemp(prefix="shopguard-next-event-")) / "next-event"
        card = {"model_version": "next-event-evaluation", "kind": "next_event", "threshold": 0.5}
        export_serving_module(
            SurpriseScore(model), ("score",), folder, card, next_event_checkpoint(model), train.features(0, 512)
        )
        self.scorer = OnnxSequenceDetector(folder)
        return self

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        return self.scorer.score(traffic)
