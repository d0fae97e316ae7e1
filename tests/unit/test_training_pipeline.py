"""Training end to end on a tiny configuration: export, parity, card, publish policy."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from shopguard.config import load_config
from shopguard.training.evaluation_data import build_evaluation_data
from shopguard.training.lstm_model import SequenceClassifier, SequenceModelConfig
from shopguard.training.onnx_export import PARITY_TOLERANCE, export_model
from shopguard.training.publishing import PublishRefused, publish_model
from shopguard.training.train_lstm import TrainingRun, checkpoint
from shopguard.training.train_pipeline import train_and_export
from shopguard.udfs.encoding import FEATURE_NAMES, FEATURE_SPEC_VERSION
from shopguard.udfs.model_registry import open_registry
from shopguard.udfs.scoring import OnnxModel

TINY = ["training.simulated_users=1500", "training.abused_share=0.1", "training.span_days=1.0"]


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(None, TINY + [f'cache_dir="{tmp_path_factory.mktemp("cache")}"'])


@pytest.fixture(scope="module")
def data(cfg):
    return build_evaluation_data(cfg, progress=lambda line: None)


@pytest.fixture(scope="module")
def trained(cfg, data, tmp_path_factory):
    return train_and_export(
        cfg,
        data,
        tmp_path_factory.mktemp("models"),
        SequenceModelConfig(hidden=8),
        TrainingRun(epochs=1, batch_size=512),
        progress=lambda line: None,
    )


def test_an_exported_model_with_hand_set_weights_scores_exactly(tmp_path):
    model = SequenceClassifier(SequenceModelConfig(hidden=4))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.abuse_head.bias.fill_(0.3)
    inputs = np.random.default_rng(0).random((5, 32, len(FEATURE_NAMES)), dtype=np.float32)
    folder = export_model(model, tmp_path / "m", {"model_version": "hand-set", "threshold": 0.5}, {}, inputs)
    scores = OnnxModel.load(folder).score(inputs)
    np.testing.assert_allclose(scores, 1 / (1 + math.exp(-0.3)), atol=1e-7)


def test_training_exports_a_model_the_job_can_serve_with_a_complete_card(trained):
    card = json.loads((trained / "card.json").read_text())
    assert card["feature_spec_version"] == FEATURE_SPEC_VERSION and card["kind"] == "lstm"
    assert card["parity_max_abs_diff"] <= PARITY_TOLERANCE
    assert 0.0 < card["threshold"] <= 1.0 and "simulated users=1500" in card["training_data"]
    for figure in ("pr_auc", "roc_auc", "recall_at_0.1pct_fpr", "median_delay_events", "real_normal_fpr", "per_type"):
        assert figure in card["metrics"]
    assert card["model_config"]["hidden"] == 8 and (trained / "checkpoint.pt").is_file()
    model = OnnxModel.load(trained)
    assert model.card.threshold == card["threshold"]
    assert model.score(np.zeros((3, 7, len(FEATURE_NAMES)), np.float32)).shape == (3,)


def test_publish_refuses_a_worse_model_unless_forced(cfg, data, trained, tmp_path):
    cfg = dataclasses.replace(cfg, registry=dataclasses.replace(cfg.registry, url=str(tmp_path / "registry")))
    quiet = lambda line: None  # noqa: E731
    assert publish_model(cfg, trained, data=data, progress=quiet).model_version == trained.name
    torch.manual_seed(0)
    untrained = SequenceClassifier(SequenceModelConfig(hidden=8))
    worse = export_model(
        untrained,
        tmp_path / "worse",
        {"model_version": "untrained", "threshold": 0.5},
        checkpoint(untrained, TrainingRun()),
        data.validation.features(0, 64),
    )
    with pytest.raises(PublishRefused, match="below the current model's"):
        publish_model(cfg, worse, data=data, progress=quiet)
    assert open_registry(cfg).current().model_version == trained.name
    assert publish_model(cfg, worse, force=True, data=data, progress=quiet).previous == trained.name
