"""Exporting the LSTM to ONNX with its model card, and proving the export scores like PyTorch.

A model folder holds ``model.onnx`` (input ``events [batch, length, features]``, outputs ``score
[batch, 1]`` and ``anomaly_type_probs [batch, classes]``), ``card.json`` (what the job and people need
to know) and ``checkpoint.pt`` (to rebuild the PyTorch model). The export is refused unless the ONNX
model's scores match PyTorch's within :data:`PARITY_TOLERANCE` on real encoded windows.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from shopguard.training.lstm_model import TYPE_CLASSES, SequenceClassifier, ServingModel
from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION
from shopguard.udfs.scoring import OnnxModel

PARITY_TOLERANCE = 1e-5
ONNX_OPSET = 17


class ParityError(AssertionError):
    """The ONNX export does not score like the PyTorch model."""


def export_model(
    model: SequenceClassifier, folder: str | Path, card: dict, checkpoint: dict, parity_inputs: np.ndarray
) -> Path:
    """Export the supervised LSTM (outputs ``score`` and ``anomaly_type_probs``)."""
    return export_serving_module(
        ServingModel(model),
        ("score", "anomaly_type_probs"),
        folder,
        {"kind": "lstm", "type_classes": list(TYPE_CLASSES), **card},
        checkpoint,
        parity_inputs,
    )


def export_serving_module(
    serving: torch.nn.Module,
    output_names: tuple[str, ...],
    folder: str | Path,
    card: dict,
    checkpoint: dict,
    parity_inputs: np.ndarray,
) -> Path:
    """Write the model folder for any module whose first output is ``score [batch, 1]``; check parity."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    serving = serving.eval()
    example = torch.zeros(2, 4, len(FEATURE_NAMES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation on every call
        torch.onnx.export(
            serving,
            (example,),
            str(folder / "model.onnx"),
            input_names=["events"],
            output_names=list(output_names),
            opset_version=ONNX_OPSET,
            dynamo=False,
            dynamic_axes={"events": {0: "batch", 1: "length"}, **{n: {0: "batch"} for n in output_names}},
        )
    full_card = {"feature_spec_version": FEATURE_SPEC_VERSION, "feature_names": list(FEATURE_NAMES), **card}
    (folder / "card.json").write_text(json.dumps(full_card, indent=2, default=_plain) + "\n")
    torch.save(checkpoint, folder / "checkpoint.pt")
    full_card["parity_max_abs_diff"] = check_parity(serving, folder, parity_inputs)
    (folder / "card.json").write_text(json.dumps(full_card, indent=2, default=_plain) + "\n")
    return folder


def check_parity(serving: torch.nn.Module, folder: Path, inputs: np.ndarray) -> float:
    """Largest absolute difference between PyTorch and onnxruntime scores; raise past the tolerance."""
    with torch.no_grad():
        output = serving(torch.from_numpy(inputs))
        expected = (output[0] if isinstance(output, tuple) else output).numpy()[:, 0]
    actual = OnnxModel.load(folder).score(inputs)
    difference = float(np.max(np.abs(expected - actual))) if len(inputs) else 0.0
    if difference > PARITY_TOLERANCE:
        raise ParityError(
            f"{folder / 'model.onnx'}: ONNX scores differ from PyTorch by {difference:.2e} "
            f"(tolerance {PARITY_TOLERANCE:g})"
        )
    return difference


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} into a model card")
