"""The rows between operators are defined once (udfs/rows.py) and every operator agrees with them."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shopguard.config import ShopguardConfig
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import (
    COLUMNS,
    CROSSING_FIELDS,
    CROSSING_ROW,
    PACKED_SCORING_FIELDS,
    PACKED_SCORING_ROW,
    SCORE_FIELDS,
    SCORE_RESULT,
    SCORES_COLUMNS,
    SCORING_FIELDS,
    SCORING_ROW,
    pack_scoring,
    unpack_scoring,
)
from shopguard.udfs.scoring import ScoreHistories

DEFAULT_MODEL = str(Path(__file__).resolve().parents[2] / "udfs" / "default-model")


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


def every_kind_of_value() -> list:
    """One value per scoring column, of the column's type, with the awkward cases: NaN, infinities, empty and
    non-ASCII strings, bytes with zeros and high bytes, large and negative integers."""
    texts = iter(["", "ü-1", "会话:1700000000000", "e\u00e9\U0001f6d2", '{"a":[1,2]}', "~", "d" * 300])
    numbers = iter([float("nan"), float("inf"), -0.0, 1e-300, -float("inf"), 0.1 + 0.2, 7.0])
    integers = iter([2**62, -1, 0])
    blobs = iter([bytes(range(256)), b"", b"\x00" * 33])
    kinds = {"string": texts, "double": numbers, "long": integers, "bytes": blobs}
    values = []
    for name in SCORING_FIELDS:
        kind = kinds[COLUMNS[name][0]]
        value = next(kind, None)
        values.append(
            value
            if value is not None
            else {"string": "x", "double": 2.5, "long": 3, "bytes": b"\x01"}[COLUMNS[name][0]]
        )
    return values


def same_values(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        type(x) is type(y) and (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)))
        for x, y in zip(a, b)
    )


def test_a_packed_scoring_row_gives_back_every_value_with_its_type():
    values = every_kind_of_value()
    assert {COLUMNS[name][0] for name in SCORING_FIELDS} == {"string", "double", "long", "bytes"}
    row = pack_scoring(values)
    assert PACKED_SCORING_ROW.get_field_names() == list(PACKED_SCORING_FIELDS) and len(row) == len(
        PACKED_SCORING_FIELDS
    )
    assert list(row[:3]) == [values[SCORING_FIELDS.index(n)] for n in ("user_id", "device_key", "ip_key")]
    back = unpack_scoring(row)
    assert same_values(back, values) and back is not values
    zero = next(i for i, v in enumerate(values) if isinstance(v, float) and v == 0.0)
    assert math.copysign(1.0, back[zero]) == -1.0  # the sign of zero too
    assert math.isnan(back[SCORING_FIELDS.index("user_patterns_score")])


def test_a_scoring_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="SCORING_FIELDS"):
        pack_scoring(every_kind_of_value()[:-1])


def test_the_user_step_packs_exactly_the_row_it_emits_without_entities():
    from shopguard.bench.hot_path import open_keyed_step, run_keyed_step
    from shopguard.bench.workload import as_records, bench_events

    records = as_records(bench_events(120, 8))
    rows = {}
    for packed in (False, True):
        step, state = open_keyed_step(ShopguardConfig(), ModelSource(fixed_dir=DEFAULT_MODEL), packed_rows=packed)
        rows[packed] = run_keyed_step(step, state, records)
        step.close()
    assert len(rows[True]) == len(rows[False]) == 120
    assert all(same_values(unpack_scoring(p), list(w)) for p, w in zip(rows[True], rows[False]))
