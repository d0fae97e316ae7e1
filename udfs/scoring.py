"""Scoring users' recent behaviour with an ONNX model, a batch of users per call.

:class:`OnnxModel` is the model handler (in the spirit of Apache Beam's ``ModelHandler``): it loads a
model folder (``model.onnx`` + ``card.json``), checks that the model was trained on this job's
feature encoding, and scores a ``[batch, L, features]`` array. :class:`ScoreHistories` is the
vectorized (pandas/Arrow) Flink function that turns a column of encoded windows into a column of
scores with one ``onnxruntime`` call per Arrow batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from pyflink.table.udf import FunctionContext, ScalarFunction

from shopguard.errors import ShopguardError
from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION, batch_features


class ModelRefused(ShopguardError):
    """A model folder that this job cannot serve; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ModelCard:
    """What the job needs to know about a model: who it is, what it reads, where it alerts."""

    model_version: str
    feature_spec_version: str
    threshold: float
    kind: str = "trained"

    @classmethod
    def read(cls, path: Path) -> "ModelCard":
        try:
            body = json.loads(path.read_text())
            return cls(model_version=str(body["model_version"]),
                       feature_spec_version=str(body["feature_spec_version"]),
                       threshold=float(body["threshold"]), kind=str(body.get("kind", "trained")))
        except FileNotFoundError:
            raise ModelRefused(f"{path}: model card not found; a model folder holds model.onnx and card.json") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelRefused(f"{path}: unreadable model card ({exc!r}); it needs model_version, "
                               "feature_spec_version and threshold") from None


class OnnxModel:
    """A loaded, checked ONNX model and its card."""

    def __init__(self, session: ort.InferenceSession, card: ModelCard):
        self.session = session
        self.card = card
        self._input = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        self._score_output = "score" if "score" in outputs else outputs[0]

    @classmethod
    def load(cls, model_dir: str | Path, threads: int = 1) -> "OnnxModel":
        """Load and check ``model_dir``; raise :class:`ModelRefused` if the job cannot serve it."""
        model_dir = Path(model_dir)
        card = ModelCard.read(model_dir / "card.json")
        if card.feature_spec_version != FEATURE_SPEC_VERSION:
            raise ModelRefused(f"{model_dir / 'card.json'}: model {card.model_version} reads features "
                               f"{card.feature_spec_version!r}, this job encodes {FEATURE_SPEC_VERSION!r}; "
                               "retrain it with this version of shopguard")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # parallel subtasks must not fight over the cores
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(model_dir / "model.onnx"), options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for broken files
            raise ModelRefused(f"{model_dir / 'model.onnx'}: onnxruntime cannot load it ({exc})") from None
        model = cls(session, card)
        model._smoke_test()
        return model

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] for ``features`` of shape ``[batch, L, len(FEATURE_NAMES)]``."""
        (scores,) = self.session.run([self._score_output], {self._input: features})
        return scores.reshape(len(features), -1)[:, 0]

    def _smoke_test(self) -> None:
        probe = np.zeros((2, 4, len(FEATURE_NAMES)), dtype=np.float32)
        try:
            scores = self.score(probe)
        except Exception as exc:
            raise ModelRefused(f"model {self.card.model_version}: smoke inference on a [2, 4, "
                               f"{len(FEATURE_NAMES)}] input failed ({exc})") from None
        if scores.shape != (2,) or not np.all(np.isfinite(scores)):
            raise ModelRefused(f"model {self.card.model_version}: smoke inference gave {scores!r}, "
                               "expected two finite scores")


class ScoreHistories(ScalarFunction):
    """Pandas UDF: a column of encoded windows (bytes) in, a column of scores (float) out."""

    def __init__(self, model_dir: str, history_length: int, onnx_threads: int):
        self.model_dir = model_dir
        self.history_length = history_length
        self.onnx_threads = onnx_threads
        self.model: OnnxModel | None = None

    def open(self, function_context: FunctionContext) -> None:
        self.model = OnnxModel.load(self.model_dir, threads=self.onnx_threads)

    def eval(self, windows: pd.Series) -> pd.Series:
        features = batch_features(list(windows), self.history_length)
        return pd.Series(self.model.score(features).astype(np.float64))
