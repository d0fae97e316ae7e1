"""The detectors' tables shipped as JSON package data, and their one loader."""

import tomllib
from pathlib import Path

import pytest

from shopguard.errors import ShopguardError
from shopguard.udfs import shipped_tables
from shopguard.udfs.entities_detector import EntityTables
from shopguard.udfs.new_account import tables_for
from shopguard.udfs.rarity import RarityTables
from shopguard.udfs.shipped_tables import SHIPPED_TABLES, read_shipped_tables, shipped_tables_path, write_shipped_tables


def test_every_shipped_table_is_a_json_object_the_package_installs():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["shopguard.udfs"]
    udfs = shipped_tables.FOLDER.parent
    packaged = {path for pattern in patterns for path in udfs.glob(pattern)}
    for name in SHIPPED_TABLES:
        assert shipped_tables_path(name) in packaged
        assert isinstance(read_shipped_tables(name), dict)
    assert set(shipped_tables.FOLDER.iterdir()) == {shipped_tables_path(name) for name in SHIPPED_TABLES}


def test_the_detectors_serve_the_shipped_tables_when_a_folder_has_none(tmp_path):
    assert RarityTables.default().tables
    assert EntityTables.default().tails
    assert tables_for(tmp_path).source == read_shipped_tables("new_account")["source"]


def test_written_tables_read_back_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped_tables, "FOLDER", tmp_path)
    body = {"version": 1, "source": "test", "values": [0.5, -1.25, 3.0]}
    assert write_shipped_tables("rarity", body) == tmp_path / "rarity.json"
    assert read_shipped_tables("rarity") == body
    with pytest.raises(ValueError):
        write_shipped_tables("rarity", {"values": [float("nan")]})  # JSON has no NaN: refused, not written


def test_an_unreadable_table_names_its_file_and_the_command_that_makes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped_tables, "FOLDER", tmp_path)
    with pytest.raises(ShopguardError, match=r"rarity\.json: .*python -m shopguard.training.rarity_calibration"):
        read_shipped_tables("rarity")
    (tmp_path / "entities.json").write_text("[1, 2]")
    with pytest.raises(ShopguardError, match=r"entities\.json: not a JSON object"):
        read_shipped_tables("entities")
