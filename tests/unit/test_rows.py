"""The rows between operators are defined once (udfs/rows.py) and every operator agrees with them."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import (
    COLUMNS,
    CROSSING_FIELDS,
    CROSSING_ROW,
    SCORE_FIELDS,
    SCORE_RESULT,
    SCORES_COLUMNS,
    SCORING_FIELDS,
    SCORING_ROW,
)
from shopguard.udfs.scoring import ScoreHistories


def test_every_row_names_only_defined_columns_and_its_types_follow_from_them():
    for fields in (SCORING_FIELDS, SCORE_FIELDS, CROSSING_FIELDS, SCORES_COLUMNS):
        assert set(fields) <= set(COLUMNS) and len(set(fields)) == len(fields)
    assert set(CROSSING_FIELDS) <= set(SCORING_FIELDS) | set(SCORE_FIELDS)
    assert set(SCORES_COLUMNS) <= set(SCORING_FIELDS) | set(SCORE_FIELDS)
    assert SCORING_ROW.get_field_names() == list(SCORING_FIELDS)
    assert CROSSING_ROW.get_field_names() == list(CROSSING_FIELDS)
    assert SCORE_RESULT.field_names() == list(SCORE_FIELDS)
    assert not set(SCORING_FIELDS) & set(SCORE_FIELDS)


def test_the_scoring_step_returns_exactly_the_score_columns_in_order(tmp_path):
    scoring = ScoreHistories(ModelSource(fixed_dir=str(tmp_path)), 32, 1, 3600)
    scoring.live = SimpleNamespace(model=DetectorEnsemble.load(write_placeholder_model(tmp_path)))
    scoring._count = lambda *counted: None  # metrics need Flink's function context
    windows = encode_user_events([Event(f"e{i}", "u", "page_view", 1000 * i) for i in range(3)], 32)
    out = scoring.eval(pd.Series(windows), pd.Series([np.nan] * 3), pd.Series([b""] * 3))
    assert list(out.columns) == list(SCORE_FIELDS) and len(out) == 3
