"""The exported LSTM as a detector, scored with onnxruntime exactly as the streaming job scores it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.scoring import OnnxModel


class OnnxSequenceDetector:
    """Scores windows with the ONNX model in ``model_dir``; it arrives trained (``fit`` learns nothing)."""

    def __init__(self, model_dir: str | Path, batch_size: int = 4096, name: str = "lstm"):
        self.name = name
        self.model_dir = str(model_dir)
        self.batch_size = batch_size
        self._model: OnnxModel | None = None

    @property
    def model(self) -> OnnxModel:
        if self._model is None:
            self._model = OnnxModel.load(self.model_dir)
        return self._model

    def fit(self, train: EncodedTraffic) -> "OnnxSequenceDetector":
        return self

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        parts = [
            self.model.score(traffic.features(i, i + self.batch_size)) for i in range(0, len(traffic), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}  # an onnxruntime session does not pickle; reload it
