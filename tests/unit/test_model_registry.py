"""The registry: immutable versions, a current manifest replaced whole, clear errors."""

import json

import pytest

from shopguard.udfs.model_registry import ModelRegistry, RegistryError


def model_folder(root, version):
    folder = root / "staging" / version
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"model_version": version}))
    (folder / "model.onnx").write_bytes(b"onnx bytes of " + version.encode())
    return folder


def test_a_published_version_is_copied_whole_and_becomes_current(tmp_path):
    registry = ModelRegistry(str(tmp_path / "registry"))
    assert registry.add(model_folder(tmp_path, "v1")) == "v1"
    manifest = registry.set_current("v1")
    assert registry.current() == manifest and manifest.path == "models/v1" and manifest.previous is None
    assert (registry.local_model_dir("v1") / "model.onnx").read_bytes() == b"onnx bytes of v1"
    registry.add(model_folder(tmp_path, "v2"))
    assert registry.set_current("v2").previous == "v1"
    assert sorted(p.name for p in (tmp_path / "registry").iterdir()) == ["current.json", "models"]


def test_versions_are_immutable(tmp_path):
    registry = ModelRegistry(str(tmp_path / "registry"))
    registry.add(model_folder(tmp_path, "v1"))
    with pytest.raises(RegistryError, match="already exists"):
        registry.add(tmp_path / "staging" / "v1")


def test_an_unknown_version_cannot_become_current(tmp_path):
    with pytest.raises(RegistryError, match="models/nope does not exist"):
        ModelRegistry(str(tmp_path / "registry")).set_current("nope")


def test_a_corrupt_manifest_is_named_with_what_to_do(tmp_path):
    registry = ModelRegistry(str(tmp_path / "registry"))
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "current.json").write_text("{not json")
    with pytest.raises(RegistryError, match="current.json is not a valid manifest"):
        registry.current()


def test_a_folder_without_a_card_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="card.json: cannot read the model version"):
        ModelRegistry(str(tmp_path / "registry")).add(tmp_path / "empty")
