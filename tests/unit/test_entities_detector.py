"""The entities detector: population-relative scores, off without tables, reasons in words."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import FEATURE_NAMES
from shopguard.udfs.entities_detector import ENTITIES_FILE, EntityTables
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS
from shopguard.udfs.score_combiner import TailTable
from shopguard.udfs.scoring import ModelRefused

TABLES = EntityTables(
    (
        TailTable("device_accounts_24h", (0.69, 1.1, 1.39), (0.0, -2.0, -3.0)),  # 1, 2, 3 accounts
        TailTable("ip_accounts_24h", (0.69, 2.4, 3.9), (0.0, -1.0, -2.0)),  # 1, 10, 50 accounts
        TailTable("device_new_accounts_24h", (0.0, 0.69), (0.0, -2.5)),
    ),
    "test population",
)


def figures(**values) -> np.ndarray:
    row = np.full(len(ENTITY_FIGURE_FIELDS), np.nan)
    for name, value in values.items():
        row[ENTITY_FIGURE_FIELDS.index(name)] = value
    return row


def test_sharing_the_population_finds_rare_scores_higher_and_no_entity_scores_nan():
    rows = np.array(
        [
            figures(device_accounts_24h=1, ip_accounts_24h=5, device_new_accounts_24h=0),
            figures(device_accounts_24h=7, ip_accounts_24h=3, device_new_accounts_24h=3),
            figures(),
        ]
    )
    quiet, ring, nothing = TABLES.score(rows)
    assert quiet < 0.5 < ring and math.isnan(nothing)


def test_a_busy_ip_is_normal_where_the_population_shares_ips():
    assert TABLES.score(figures(ip_accounts_24h=45))[0] < TABLES.score(figures(device_accounts_24h=4))[0]


def test_reasons_name_the_figures_in_words_and_never_an_identifier():
    reasons = TABLES.reasons(dict(zip(ENTITY_FIGURE_FIELDS, figures(device_accounts_24h=7, device_new_accounts_24h=3))))
    assert reasons[0]["text"] == "this device: 7 accounts in 24 h, 3 of them new"
    assert TABLES.reasons(dict(zip(ENTITY_FIGURE_FIELDS, figures(device_accounts_24h=1)))) == []


def test_a_model_folder_without_tables_serves_the_detector_off(tmp_path):
    folder = write_placeholder_model(tmp_path / "m", "m1", threshold=0.9)
    (folder / ENTITIES_FILE).unlink(missing_ok=True)
    ensemble = DetectorEnsemble.load(folder)
    assert "entities" not in ensemble.available
    features = np.zeros((1, 4, len(FEATURE_NAMES)), dtype=np.float32)
    result = ensemble.score_batch(features, np.array([np.nan]), None, figures(device_accounts_24h=9)[None, :])
    assert math.isnan(result.entities[0])


def test_a_model_folder_with_tables_scores_and_can_combine_them(tmp_path):
    folder = write_placeholder_model(tmp_path / "m", "m1", threshold=0.9)
    TABLES.write(folder)
    combiner = {
        "detectors": ["lstm", "entities"],
        "transforms": ["logit", "logit"],
        "weights": [1.0, 1.0],
        "intercept": 0.0,
        "threshold": 0.5,
    }
    (folder / "combiner.json").write_text(json.dumps(combiner))
    ensemble = DetectorEnsemble.load(folder)
    features = np.zeros((2, 4, len(FEATURE_NAMES)), dtype=np.float32)
    both = np.array([figures(device_accounts_24h=1), figures(device_accounts_24h=9)])
    result = ensemble.score_batch(features, np.array([np.nan, np.nan]), None, both)
    assert result.entities[0] < result.entities[1] and result.score[0] < result.score[1]


def test_unreadable_tables_refuse_the_model_naming_the_file(tmp_path):
    folder = write_placeholder_model(tmp_path / "m", "m1", threshold=0.9)
    (folder / ENTITIES_FILE).write_text('{"tails": [{"detector": "device_id", "scores": [], "log_tails": []}]}')
    with pytest.raises(ModelRefused, match=ENTITIES_FILE):
        DetectorEnsemble.load(folder)
