"""The ONNX model handler: exact outputs of a hand-weighted model, and refusal of models it cannot serve."""

import json
import math

import numpy as np
import pytest

from shopguard.udfs.encoding import FEATURE_NAMES, batch_features, encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import (
    PLACEHOLDER_BIAS,
    PLACEHOLDER_VERSION,
    PLACEHOLDER_WEIGHTS,
    write_placeholder_model,
)
from shopguard.udfs.scoring import ModelRefused, OnnxModel


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_placeholder_model(tmp_path_factory.mktemp("models"))


def expected_score(counts):
    logit = PLACEHOLDER_BIAS + sum(PLACEHOLDER_WEIGHTS[name] * n for name, n in counts.items())
    return 1 / (1 + math.exp(-logit))


def test_the_placeholder_scores_exactly_its_hand_set_logistic(model_dir):
    model = OnnxModel.load(model_dir)
    t0 = 1_511_658_000_000
    testers = [Event(f"e{i}", "u", "payment_failed", t0 + 3000 * i) for i in range(5)]
    browser = [Event(f"b{i}", "v", "page_view", t0 + 60_000 * i) for i in range(5)]
    x = batch_features([encode_user_events(testers, 32)[-1], encode_user_events(browser, 32)[-1]], 32)
    scores = model.score(x)
    assert scores.shape == (2,)
    assert scores[0] == pytest.approx(expected_score({"type=payment_failed": 5}), abs=1e-6)
    assert scores[1] == pytest.approx(expected_score({}), abs=1e-6)
    assert model.card.model_version == PLACEHOLDER_VERSION


def test_the_model_scores_any_batch_size_and_history_length(model_dir):
    model = OnnxModel.load(model_dir)
    for batch, length in [(1, 1), (3, 8), (257, 32)]:
        assert model.score(np.zeros((batch, length, len(FEATURE_NAMES)), np.float32)).shape == (batch,)


def test_a_model_for_another_feature_spec_is_refused(model_dir, tmp_path):
    card = json.loads((model_dir / "card.json").read_text())
    card["feature_spec_version"] = "event-codes-v0"
    (tmp_path / "card.json").write_text(json.dumps(card))
    (tmp_path / "model.onnx").write_bytes((model_dir / "model.onnx").read_bytes())
    with pytest.raises(ModelRefused, match="event-codes-v0"):
        OnnxModel.load(tmp_path)


def test_a_corrupt_model_file_is_refused_with_its_path(model_dir, tmp_path):
    (tmp_path / "card.json").write_text((model_dir / "card.json").read_text())
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelRefused, match="model.onnx"):
        OnnxModel.load(tmp_path)


def test_a_folder_without_a_card_is_refused(tmp_path):
    with pytest.raises(ModelRefused, match="card.json"):
        OnnxModel.load(tmp_path)


def test_the_type_head_names_the_most_likely_abnormal_type_for_each_row(model_dir):
    model = OnnxModel.load(model_dir)
    t0 = 1_511_658_000_000
    windows = [
        encode_user_events([Event(f"p{i}", "u", "payment_failed", t0 + 3000 * i) for i in range(5)], 32)[-1],
        encode_user_events([Event(f"l{i}", "u", "login_failed", t0 + 3000 * i) for i in range(5)], 32)[-1],
        encode_user_events([Event(f"c{i}", "u", "page_view", t0 + 300 * i) for i in range(9)], 32)[-1],
    ]
    scores, types = model.score_with_types(batch_features(windows, 32))
    assert types == ["card_testing", "account_takeover", "bot"]
    assert np.allclose(scores, model.score(batch_features(windows, 32)))


def test_a_model_without_a_type_head_reports_unknown(tmp_path, model_dir):
    import shutil

    import onnx

    folder = tmp_path / "no-head"
    shutil.copytree(model_dir, folder)
    graph = onnx.load(str(folder / "model.onnx"))
    del graph.graph.output[1]
    onnx.save(graph, str(folder / "model.onnx"))
    scores, types = OnnxModel.load(folder).score_with_types(np.zeros((2, 4, len(FEATURE_NAMES)), np.float32))
    assert types == ["unknown", "unknown"] and scores.shape == (2,)
