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

PLACEHOLDER_VERSION = "placeholder-1"
PLACEHOLDER_THRESHOLD = 0.9
PLACEHOLDER_BIAS = -6.0
PLACEHOLDER_WEIGHTS: dict[str, float] = {
    "type=payment_failed": 1.5,
    "type=login_failed": 1.5,
    "fast_gap": 0.4,
}
"""Logit added per event in the window with that feature; everything else weighs nothing."""

ONNX_OPSET = 17
ONNX_IR_VERSION = 8


def placeholder_graph() -> onnx.ModelProto:
    """The ONNX graph: sigmoid(bias + sum over the window of features · weights)."""
    weights = np.zeros((len(FEATURE_NAMES), 1), dtype=np.float32)
    for name, weight in PLACEHOLDER_WEIGHTS.items():
        weights[FEATURE_NAMES.index(name), 0] = weight
    initializers = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "time_axis"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(np.array([PLACEHOLDER_BIAS], dtype=np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("ReduceSum", ["events", "time_axis"], ["counts"], keepdims=0),
        helper.make_node("MatMul", ["counts", "weights"], ["logit_no_bias"]),
        helper.make_node("Add", ["logit_no_bias", "bias"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "shopguard_placeholder",
        inputs=[helper.make_tensor_value_info("events", TensorProto.FLOAT, ["batch", "length", len(FEATURE_NAMES)])],
        outputs=[helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="shopguard")
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model)
    return model


def write_placeholder_model(directory: str | Path) -> Path:
    """Write ``model.onnx`` and ``card.json`` into ``directory/placeholder-1`` and return that folder."""
    model_dir = Path(directory) / PLACEHOLDER_VERSION
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(placeholder_graph(), str(model_dir / "model.onnx"))
    card = {
        "model_version": PLACEHOLDER_VERSION,
        "kind": "placeholder",
        "feature_spec_version": FEATURE_SPEC_VERSION,
        "threshold": PLACEHOLDER_THRESHOLD,
        "feature_names": list(FEATURE_NAMES),
        "description": "hand-set weights on failed payments, failed logins and sub-2s gaps; "
                       "replace with a trained model (shopguard train/publish)",
        "metrics": {},
    }
    (model_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return model_dir
