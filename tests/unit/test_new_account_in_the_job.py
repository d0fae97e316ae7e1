"""The new_account detector in the job: served with every model folder (its own tables or the shipped ones),
scored in the vectorized step from the row's event type, seconds since signup and device figure, combined
when the combiner names it, and explained in the alert in words."""

import numpy as np
import pandas as pd

from shopguard.udfs.alert_decision import new_account_reasons
from shopguard.udfs.alerts import build_alert
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features
from shopguard.udfs.new_account import NewAccountTables, tables_for
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import CROSSING_FIELDS, ENTITY_FIGURE_FIELDS, SCORING_INPUT_FIELDS
from shopguard.udfs.score_combiner import Hinge, ScoreCombiner
from shopguard.udfs.scoring import ScoreHistories

DEVICE_NEW = ENTITY_FIGURE_FIELDS.index("device_new_accounts_24h")


def figures(device_new_accounts: list[float]) -> np.ndarray:
    rows = np.full((len(device_new_accounts), len(ENTITY_FIGURE_FIELDS)), np.nan)
    rows[:, DEVICE_NEW] = device_new_accounts
    return rows


def batch(rows: int, history_length: int = 8) -> np.ndarray:
    return batch_features([b""] * rows, history_length)


def test_a_folder_without_new_account_json_serves_the_shipped_tables(tmp_path):
    ensemble = DetectorEnsemble.load(write_placeholder_model(tmp_path, "m1"))
    assert "new_account" in ensemble.available and ensemble.new_account == tables_for(None)
    scores = ensemble.score_batch(
        batch(3),
        np.full(3, np.nan),
        None,
        figures([1.0, 6.0, 1.0]),
        (["purchase", "purchase", "page_view"], [40.0] * 3),
    ).new_account
    assert 0.8 < scores[0] < scores[1] and scores[2] == 0.0


def test_a_folder_s_own_tables_are_served_and_without_inputs_the_score_is_nan(tmp_path):
    folder = write_placeholder_model(tmp_path, "m1")
    own = NewAccountTables((0.0, 100.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), "own")
    own.write(folder)
    ensemble = DetectorEnsemble.load(folder)
    assert ensemble.new_account == own
    assert np.isnan(ensemble.score_batch(batch(2), np.full(2, np.nan)).new_account).all()


def test_a_combiner_naming_new_account_lets_a_fast_purchase_cross_the_threshold(tmp_path):
    folder = write_placeholder_model(tmp_path, "m1")
    ScoreCombiner(
        ("lstm", "new_account"), ("logit", "logit"), (0.0, 0.0), -5.0, 0.5, hinges=(Hinge("new_account", 0.7, 10.0),)
    ).write(folder)
    ensemble = DetectorEnsemble.load(folder)
    result = ensemble.score_batch(
        batch(2), np.full(2, np.nan), None, figures([1.0, 0.0]), (["purchase", "purchase"], [30.0, 60 * 86400.0])
    )
    assert result.score[0] >= result.threshold[0] > result.score[1]


def test_the_scoring_step_reads_the_event_type_and_seconds_since_signup_after_the_entity_figures(tmp_path):
    assert SCORING_INPUT_FIELDS[-2:] == ("event_type", "seconds_since_signup")
    scorer = ScoreHistories(None, 8, 1, 60.0)
    scorer.live = type("Live", (), {"model": DetectorEnsemble.load(write_placeholder_model(tmp_path, "m1"))})()
    scorer._count = lambda *args: None
    entity_columns = [pd.Series(column) for column in figures([3.0, 1.0]).T]
    out = scorer.eval(
        pd.Series([b"", b""]),
        pd.Series([np.nan, np.nan]),
        None,
        *entity_columns,
        pd.Series(["purchase", "purchase"]),
        pd.Series([12.0, np.nan]),
    )
    assert out["new_account_score"][0] > 0.8 and out["new_account_score"][1] == 0.0


def test_the_alert_names_the_new_account_evidence_in_words(tmp_path):
    ensemble = DetectorEnsemble.load(write_placeholder_model(tmp_path, "m1"))
    crossing = dict.fromkeys(CROSSING_FIELDS) | {
        "event_type": "purchase",
        "seconds_since_signup": 40.0,
        "device_new_accounts_24h": 6.0,
    }
    (reason,) = new_account_reasons(ensemble, crossing)
    assert (
        reason["text"]
        == "bought 40 s after opening the account, on a device 5 other new accounts used in the last 24 h"
    )
    alert = build_alert(
        user_id="u1",
        session_id="s1",
        event_id="e1",
        event_ts=0,
        codes=b"",
        recent_event_ids=["e1"],
        score=0.99,
        threshold=0.9,
        model_version="m1",
        detected_at_ms=0,
        detectors={"new_account": 0.89},
        new_account_reasons=[reason],
    )
    assert alert["reasons"][0]["text"].startswith("bought 40 s") and alert["detectors"]["new_account"] == 0.89
    assert new_account_reasons(ensemble, crossing | {"seconds_since_signup": None}) == []
    assert new_account_reasons(ensemble, crossing | {"device_new_accounts_24h": None})[0]["text"].endswith("account")
