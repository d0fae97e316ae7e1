"""A hand-weighted ONNX model that stands in until a trained LSTM is published.

It reads the same input as the real model (``float32 [batch, L, features]`` from
:func:`shopguard.udfs.encoding.batch_features`) and returns ``score [batch, 1]``: a logistic score
over how many of the user's last L events were failed payments, failed logins, or came less than two
seconds after the previous one. It is honest about what it is: its card says ``kind = "placeholder"``
and it is built with ``onnx.helper``, so no torch is needed to run the job.

Example
-------
>>> import tempfile, numpy as np
>>> from shopguard.udfs.encoding import FEATURE_NAMES
>>> model_dir = write_placeholder_model(tempfile.mkdtemp())
>>> from shopguard.udfs.scoring import OnnxModel
>>> model = OnnxModel.load(model_dir)
>>> x = np.zeros((1, 32, len(FEATURE_NAMES)), dtype=np.float32)
>>> x[0, :, FEATURE_NAMES.index("type=payment_failed")] = 1.0
>>> round(float(model.score(x)[0]), 4), model.card.threshold
(1.0, 0.9)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION
from shopguard.udfs.entities_detector import EntityTables
from shopguard.udfs.rarity import RarityTables

PLACEHOLDER_VERSION = "placeholder-1"
PLACEHOLDER_THRESHOLD = 0.9
PLACEHOLDER_BIAS = -6.0
PLACEHOLDER_WEIGHTS: dict[str, float] = {
    "type=payment_failed": 1.5,
    "type=login_failed": 1.5,
    "fast_gap": 0.4,
}
"""Logit added per event in the window with that feature; everything else weighs nothing."""

PLACEHOLDER_TYPE_CLASSES = ("normal", "bot", "card_testing", "account_takeover")
PLACEHOLDER_TYPE_WEIGHTS: dict[str, str] = {
    "fast_gap": "bot",
    "type=payment_failed": "card_testing",
    "type=login_failed": "account_takeover",
}
"""The type head: each counted feature votes (logit +1 per event) for one anomaly type."""

ONNX_OPSET = 17
ONNX_IR_VERSION = 8


def placeholder_graph() -> onnx.ModelProto:
    """The ONNX graph: sigmoid(bias + sum over the window of features · weights)."""
    weights = np.zeros((len(FEATURE_NAMES), 1), dtype=np.float32)
    for name, weight in PLACEHOLDER_WEIGHTS.items():
        weights[FEATURE_NAMES.index(name), 0] = weight
    type_weights = np.zeros((len(FEATURE_NAMES), len(PLACEHOLDER_TYPE_CLASSES)), dtype=np.float32)
    for name, anomaly_type in PLACEHOLDER_TYPE_WEIGHTS.items():
        type_weights[FEATURE_NAMES.index(name), PLACEHOLDER_TYPE_CLASSES.index(anomaly_type)] = 1.0
    initializers = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "time_axis"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(np.array([PLACEHOLDER_BIAS], dtype=np.float32), "bias"),
        numpy_helper.from_array(type_weights, "type_weights"),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["events", "time_axis"], ["counts"], keepdims=0),
        helper.make_node("MatMul", ["counts", "weights"], ["logit_no_bias"]),
        helper.make_node("Add", ["logit_no_bias", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
        helper.make_node("MatMul", ["counts", "type_weights"], ["type_logits"]),
        helper.make_node("Softmax", ["type_logits"], ["anomaly_type_probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "shopguard_placeholder",
        inputs=[helper.make_tensor_value_info("events", TensorProto.FLOAT, ["batch", "length", len(FEATURE_NAMES)])],
        outputs=[
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info(
                "anomaly_type_probs", TensorProto.FLOAT, ["batch", len(PLACEHOLDER_TYPE_CLASSES)]
            ),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="shopguard")
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model)
    return model


def write_placeholder_model(
    directory: str | Path,
    version: str = PLACEHOLDER_VERSION,
    threshold: float = PLACEHOLDER_THRESHOLD,
    rarity: bool = True,
    entities: bool = True,
) -> Path:
    """Write ``model.onnx`` and ``card.json`` into ``directory/<version>`` and return that folder.

    With ``rarity``, also the rarity tables shipped with the serving code (``rarity.json``), so the
    placeholder's alerts carry the ``rarity`` score and its reasons (it decides on its own score alone); with
    ``entities``, the entity population tables shipped with it (``entities.json``), likewise.
    Other versions and thresholds than the default are for tests of model swaps and refusals.
    """
    model_dir = Path(directory) / version
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(placeholder_graph(), str(model_dir / "model.onnx"))
    card = {
        "model_version": version,
        "kind": "placeholder",
        "feature_spec_version": FEATURE_SPEC_VERSION,
        "threshold": threshold,
        "type_classes": list(PLACEHOLDER_TYPE_CLASSES),
        "feature_names": list(FEATURE_NAMES),
        "description": "hand-set weights on failed payments, failed logins and sub-2s gaps; "
        "replace with a trained model (shopguard train/publish)",
        "metrics": {},
    }
    (model_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    if rarity:
        RarityTables.default().write(model_dir)
    if entities:
        EntityTables.default().write(model_dir)
    return model_dir
