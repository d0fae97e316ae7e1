"""Hot model reload without Flink: a new current version is swapped in, a broken one is refused."""

import json
import shutil

import pytest

from shopguard.udfs.model_registry import ModelRegistry
from shopguard.udfs.model_source import LiveModel, ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.scoring import ModelRefused


@pytest.fixture
def registry_and_source(tmp_path):
    fallback = write_placeholder_model(tmp_path / "fallback")
    registry = ModelRegistry(str(tmp_path / "registry"))
    source = ModelSource(
        registry_url=registry.url, download_dir=str(tmp_path / "downloads"), fallback_dir=str(fallback)
    )
    return registry, source, tmp_path


def publish(registry, folder):
    registry.set_current(registry.add(folder))


def test_before_anything_is_published_the_fallback_model_serves(registry_and_source):
    _, source, _ = registry_and_source
    live = LiveModel(source, threads=1, poll_interval_s=0)
    assert live.version == "placeholder-1"


def test_a_newly_published_version_is_swapped_in_and_reported(registry_and_source):
    registry, source, tmp = registry_and_source
    publish(registry, write_placeholder_model(tmp / "staging", version="m-1", threshold=0.8))
    changes = []
    live = LiveModel(source, threads=1, poll_interval_s=0, on_change=lambda kind, v: changes.append((kind, v)))
    assert live.version == "m-1" and live.model.card.threshold == 0.8
    publish(registry, write_placeholder_model(tmp / "staging", version="m-2", threshold=0.7))
    live.check_for_new_version()
    assert live.version == "m-2" and live.model.card.threshold == 0.7
    assert changes == [("swapped", "m-2")]
    live.check_for_new_version()  # nothing new: no reload, no report
    assert changes == [("swapped", "m-2")]


@pytest.mark.parametrize("breakage", ["corrupt_onnx", "other_feature_spec", "missing_card"])
def test_a_broken_or_incompatible_model_is_refused_once_and_the_old_one_keeps_serving(registry_and_source, breakage):
    registry, source, tmp = registry_and_source
    publish(registry, write_placeholder_model(tmp / "staging", version="m-1"))
    changes = []
    live = LiveModel(source, threads=1, poll_interval_s=0, on_change=lambda kind, v: changes.append((kind, v)))
    broken = write_placeholder_model(tmp / "staging", version="m-broken")
    if breakage == "corrupt_onnx":
        (broken / "model.onnx").write_bytes(b"this is not an onnx file")
    elif breakage == "other_feature_spec":
        card = json.loads((broken / "card.json").read_text())
        (broken / "card.json").write_text(json.dumps({**card, "feature_spec_version": "event-codes-v0"}))
    registry.add(broken)
    if breakage == "missing_card":
        (tmp / "registry" / "models" / "m-broken" / "card.json").unlink()
    registry.set_current("m-broken")
    live.check_for_new_version()
    live.check_for_new_version()
    assert live.version == "m-1"
    assert changes == [("refused", "m-broken")]


def test_the_watcher_thread_swaps_while_scoring_goes_on(registry_and_source):
    registry, source, tmp = registry_and_source
    live = LiveModel(source, threads=1, poll_interval_s=0.05)
    live.start_watching()
    try:
        publish(registry, write_placeholder_model(tmp / "staging", version="m-9"))
        import time

        deadline = time.monotonic() + 10
        while live.version != "m-9" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.version == "m-9"
    finally:
        live.stop_watching()


def test_the_model_behind_a_score_is_found_by_its_version(registry_and_source):
    registry, source, tmp = registry_and_source
    publish(registry, write_placeholder_model(tmp / "staging", version="m-1"))
    assert source.load_version("m-1", threads=1).card.model_version == "m-1"
    assert source.load_version("placeholder-1", threads=1).card.model_version == "placeholder-1"
    shutil.rmtree(tmp / "registry" / "models" / "m-1")
    with pytest.raises(ModelRefused, match="m-1"):
        source.load_version("m-1", threads=1)
