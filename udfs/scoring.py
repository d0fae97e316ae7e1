"""Scoring users' recent behaviour with an ONNX model, a batch of users per call.

:class:`OnnxModel` is the model handler (in the spirit of Apache Beam's ``ModelHandler``): it loads a
model folder (``model.onnx`` + ``card.json``), checks that the model was trained on this job's
feature encoding, and scores a ``[batch, L, features]`` array. :class:`ScoreHistories` is the
vectorized (pandas/Arrow) Flink function that turns a column of encoded windows, and the users'
pattern scores, into the decision with one call per model per Arrow batch; what a model version
serves beside its LSTM is :class:`~shopguard.udfs.detector_ensemble.DetectorEnsemble`.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from pyflink.table.udf import FunctionContext, ScalarFunction

from shopguard.errors import ShopguardError
from shopguard.udfs.alert_types import choose_types
from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION
from shopguard.udfs.model_input import model_input
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS

TYPE_OUTPUT = "anomaly_type_probs"


class ModelRefused(ShopguardError):
    """A model folder that this job cannot serve; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ModelCard:
    """What the job needs to know about a model: who it is, what it reads, where it alerts."""

    model_version: str
    feature_spec_version: str
    threshold: float
    kind: str = "trained"
    type_classes: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> "ModelCard":
        try:
            body = json.loads(path.read_text())
            return cls(
                model_version=str(body["model_version"]),
                feature_spec_version=str(body["feature_spec_version"]),
                threshold=float(body["threshold"]),
                kind=str(body.get("kind", "trained")),
                type_classes=tuple(str(t) for t in body.get("type_classes", ())),
            )
        except FileNotFoundError:
            raise ModelRefused(f"{path}: model card not found; a model folder holds model.onnx and card.json") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelRefused(
                f"{path}: unreadable model card ({exc!r}); it needs model_version, feature_spec_version and threshold"
            ) from None


class OnnxModel:
    """A loaded, checked ONNX model and its card."""

    def __init__(self, session: ort.InferenceSession, card: ModelCard):
        self.session = session
        self.card = card
        self._input = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        self._score_output = "score" if "score" in outputs else outputs[0]
        has_type_head = TYPE_OUTPUT in outputs and len(card.type_classes) > 1
        self._outputs = [self._score_output, TYPE_OUTPUT] if has_type_head else [self._score_output]

    @classmethod
    def load(cls, model_dir: str | Path, threads: int = 1) -> "OnnxModel":
        """Load and check ``model_dir``; raise :class:`ModelRefused` if the job cannot serve it."""
        model_dir = Path(model_dir)
        card = ModelCard.read(model_dir / "card.json")
        if card.feature_spec_version != FEATURE_SPEC_VERSION:
            raise ModelRefused(
                f"{model_dir / 'card.json'}: model {card.model_version} reads features "
                f"{card.feature_spec_version!r}, this job encodes {FEATURE_SPEC_VERSION!r}; "
                "retrain it with this version of shopguard"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # parallel subtasks must not fight over the cores
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for broken files
            raise ModelRefused(f"{model_dir / 'model.onnx'}: onnxruntime cannot load it ({exc})") from None
        model = cls(session, card)
        model._smoke_test()
        return model

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] for ``features`` of shape ``[batch, L, len(FEATURE_NAMES)]``."""
        (scores,) = self.session.run([self._score_output], {self._input: features})
        return scores.reshape(len(features), -1)[:, 0]

    def score_with_types(
        self, features: np.ndarray, new_account_seen: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Scores and, per row, the most likely anomaly type from the model's type head.

        The type is the most probable class other than ``normal`` (the score already says *whether*;
        the head says *which*), or ``unknown`` for a model without a type head; ``new_account_abuse`` only
        for rows with ``new_account_seen`` when it is given, and a type that needs evidence in the window only
        where ``features`` hold it (:func:`~shopguard.udfs.alert_types.choose_types`).
        """
        outputs = self.session.run(self._outputs, {self._input: features})
        scores = outputs[0].reshape(len(features), -1)[:, 0]
        if len(outputs) == 1:
            return scores, ["unknown"] * len(features)
        probabilities = outputs[1].reshape(len(features), -1)
        return scores, choose_types(self.card.type_classes, probabilities, new_account_seen, features)

    def _smoke_test(self) -> None:
        probe = np.zeros((2, 4, len(FEATURE_NAMES)), dtype=np.float32)
        try:
            scores = self.score(probe)
        except Exception as exc:
            raise ModelRefused(
                f"model {self.card.model_version}: smoke inference on a [2, 4, "
                f"{len(FEATURE_NAMES)}] input failed ({exc})"
            ) from None
        if scores.shape != (2,) or not np.all(np.isfinite(scores)):
            raise ModelRefused(
                f"model {self.card.model_version}: smoke inference gave {scores!r}, expected two finite scores"
            )


class ScoreHistories(ScalarFunction):
    """Pandas UDF: encoded windows, pattern scores and session bytes in; the decision and every detector's score out.

    The model comes from a :class:`~shopguard.udfs.model_source.ModelSource` and is hot-swapped by
    a :class:`~shopguard.udfs.model_source.LiveModel`; each Arrow batch is scored by one model in
    one ``onnxruntime`` call, and each row carries the version and threshold that judged it.
    Metrics (group ``shopguard``): ``model_swaps``, ``model_refusals``, ``scoring_batches``,
    ``scoring_batch_size`` and ``scoring_latency_us`` (of the last batch), and ``scored_events``
    counted per ``model_version``.
    """

    def __init__(self, source, history_length: int, onnx_threads: int, poll_interval_s: float):
        self.source = source
        self.history_length = history_length
        self.onnx_threads = onnx_threads
        self.poll_interval_s = poll_interval_s
        self.live = None

    def open(self, function_context: FunctionContext) -> None:
        from shopguard.udfs.model_source import LiveModel  # the registry client is only needed on workers

        metrics = function_context.get_metric_group().add_group("shopguard")
        self._swaps, self._refusals = metrics.counter("model_swaps"), metrics.counter("model_refusals")
        self._batches = metrics.counter("scoring_batches")
        self._last_batch = {"size": 0, "latency_us": 0}
        metrics.gauge("scoring_batch_size", lambda: self._last_batch["size"])
        metrics.gauge("scoring_latency_us", lambda: self._last_batch["latency_us"])
        self._metrics = metrics
        self._scored_by_version: dict = {}
        # The watcher thread only queues what happened: Beam counts metrics in the thread that runs the
        # bundle, so an increment from another thread would be lost. eval() reports the queue.
        self._model_changes: collections.deque = collections.deque()
        self.live = LiveModel(
            self.source, self.onnx_threads, self.poll_interval_s, lambda kind, version: self._model_changes.append(kind)
        )
        self.live.start_watching()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop_watching()

    def eval(
        self, windows: pd.Series, pattern_scores: pd.Series, sessions: pd.Series | None = None, *figures: pd.Series
    ) -> pd.DataFrame:
        started = time.perf_counter()
        ensemble = self.live.model  # one model version for the whole batch, even if a swap happens meanwhile
        result = ensemble.score_batch(
            model_input(list(windows), self.history_length),
            pattern_scores.to_numpy(dtype=np.float64, na_value=np.nan),
            list(sessions) if sessions is not None else None,
            entity_figures(figures[: len(ENTITY_FIGURE_FIELDS)]),
            new_account_inputs(figures[len(ENTITY_FIGURE_FIELDS) :]),
        )
        self._count(ensemble.card.model_version, len(windows), time.perf_counter() - started)
        return pd.DataFrame(  # the columns of SCORE_RESULT (udfs/rows.py), in its order
            {
                "score": result.score,
                "model_version": ensemble.card.model_version,
                "threshold": result.threshold,
                "anomaly_type": result.anomaly_type,
                "lstm_score": result.lstm,
                "next_event_score": result.next_event,
                "velocity_rules_score": result.velocity_rules,
                "rarity_score": result.rarity,
                "entities_score": result.entities,
                "new_account_score": result.new_account,
            }
        )

    def _count(self, version: str, rows: int, seconds: float) -> None:
        while self._model_changes:
            (self._swaps if self._model_changes.popleft() == "swapped" else self._refusals).inc()
        self._batches.inc()
        self._last_batch.update(size=rows, latency_us=int(seconds * 1e6))
        if version not in self._scored_by_version:
            self._scored_by_version[version] = self._metrics.add_group("model_version", version).counter(
                "scored_events"
            )
        self._scored_by_version[version].inc(rows)


def new_account_inputs(columns: tuple[pd.Series, ...]) -> tuple[list[str], np.ndarray] | None:
    """The events' types and seconds since signup (``rows.NEW_ACCOUNT_INPUT_FIELDS``), or None without them."""
    if len(columns) < 2:
        return None
    return list(columns[0]), columns[1].to_numpy(dtype=np.float64, na_value=np.nan)


def entity_figures(figures: tuple[pd.Series, ...]) -> np.ndarray | None:
    """The entity figure columns (``rows.ENTITY_FIGURE_FIELDS``, in order) as one ``[rows, figures]`` array."""
    if not figures:
        return None
    return np.column_stack([f.to_numpy(dtype=np.float64, na_value=np.nan) for f in figures])
