"""The rarity detector in the job: served with the model folder, scored in the vectorized step, combined,
explained in the alert, and identical to what the offline detector computes for the same events."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shopguard.config import ShopguardConfig
from shopguard.training.detectors.rarity import RarityDetector
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.rarity_calibration import fit_rarity
from shopguard.udfs.alert_decision import CROSSING_FIELDS, rarity_reasons
from shopguard.udfs.alerts import build_alert
from shopguard.udfs.detector_ensemble import DetectorEnsemble
from shopguard.udfs.encoding import batch_features
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rarity import RARITY_FILE, RarityTables
from shopguard.udfs.score_combiner import ScoreCombiner
from shopguard.udfs.scoring import ModelRefused, ScoreHistories
from shopguard.udfs.user_history import SCORING_ROW, TrackUserHistory
from tests.unit.flink_fakes import Runtime

CFG = ShopguardConfig()
T0 = 1_511_658_000_000


def _real(users=200):
    """Real shoppers arriving a minute apart, so the data follows them for over three hours."""
    rng = np.random.default_rng(0)
    return [
        Event(f"u{u}-{i}", f"u{u}", "page_view", T0 + 60_000 * (u + i), item_id=f"i{i}", category_id=f"c{u % 3}")
        for u in range(users)
        for i in range(int(rng.integers(1, 6)))
    ]


def _crawler(views=25):
    return [
        Event(f"x-{i}", "x", "page_view", T0 + 100_000 * i, item_id=f"x{i}", category_id=f"k{i * 7919}")
        for i in range(views)
    ]


@pytest.fixture(scope="module")
def tables():
    return fit_rarity([_real()], source="test")


@pytest.fixture
def folder(tmp_path, tables):
    folder = write_placeholder_model(tmp_path, rarity=False)
    tables.write(folder)
    return folder


def _job_rows(folder, events):
    """The keyed step's scoring rows for ``events`` (in order), as the job emits them (one keyed state per user)."""
    source = ModelSource(fixed_dir=str(folder))
    hashing = IdentifierHashing.from_settings(CFG.privacy, {})
    steps = {}
    rows = []
    try:
        for event in events:
            if event.user_id not in steps:
                steps[event.user_id] = TrackUserHistory(CFG.job, CFG.validation, hashing, CFG.patterns, source)
                steps[event.user_id].open(Runtime())
            rows += steps[event.user_id].process_element(event.to_json().encode(), None)
    finally:
        for step in steps.values():
            step.close()
    return [dict(zip(SCORING_ROW.get_field_names(), row)) for row in rows]


def test_a_folder_with_rarity_tables_serves_rarity_and_one_without_gives_nan(folder, tmp_path):
    events = _crawler()
    rows = _job_rows(folder, events)
    features = batch_features([row["codes"] for row in rows], CFG.job.history_length)
    served = DetectorEnsemble.load(folder)
    assert "rarity" in served.available
    result = served.score_batch(features, np.full(len(rows), np.nan), [row["session"] for row in rows])
    assert result.rarity[-1] > 0.999 and result.rarity[0] < 0.5
    bare = DetectorEnsemble.load(write_placeholder_model(tmp_path / "bare", rarity=False))
    assert "rarity" not in bare.available
    assert np.isnan(bare.score_batch(features, np.full(len(rows), np.nan), [r["session"] for r in rows]).rarity).all()


def test_the_combiner_may_combine_rarity_and_a_folder_without_its_tables_is_refused(folder):
    ScoreCombiner(("lstm", "rarity"), ("logit", "logit"), (0.0, 1.0), 0.0, 0.9).write(folder)
    rows = _job_rows(folder, _crawler())
    features = batch_features([row["codes"] for row in rows], CFG.job.history_length)
    result = DetectorEnsemble.load(folder).score_batch(
        features, np.full(len(rows), np.nan), [r["session"] for r in rows]
    )
    assert result.score[-1] > 0.9 > result.score[0]
    (folder / RARITY_FILE).unlink()
    with pytest.raises(ModelRefused, match="rarity"):
        DetectorEnsemble.load(folder)


def test_malformed_tables_refuse_the_folder_naming_the_file(folder):
    (folder / RARITY_FILE).write_text("{not json")
    with pytest.raises(ModelRefused, match=RARITY_FILE):
        DetectorEnsemble.load(folder)


def test_the_scoring_step_outputs_a_rarity_score_per_row(folder):
    rows = _job_rows(folder, _crawler())
    scoring = ScoreHistories(ModelSource(fixed_dir=str(folder)), CFG.job.history_length, 1, 3600)
    scoring.live = SimpleNamespace(model=DetectorEnsemble.load(folder))  # what open() would watch
    scoring._count = lambda *counted: None  # metrics need Flink's function context
    out = scoring.eval(
        pd.Series([r["codes"] for r in rows]),
        pd.Series([np.nan] * len(rows)),
        pd.Series([r["session"] for r in rows]),
    )
    assert len(out) == len(rows) and out["rarity_score"].iloc[-1] > 0.999
    assert "rarity_score" in CROSSING_FIELDS


def test_offline_detector_and_the_job_give_identical_scores_for_the_same_events(folder, tables):
    events = sorted(_real(30) + _crawler(), key=lambda e: e.ts_ms)
    rows = _job_rows(folder, events)
    features = batch_features([row["codes"] for row in rows], CFG.job.history_length)
    job = DetectorEnsemble.load(folder).score_batch(
        features, np.full(len(rows), np.nan), [row["session"] for row in rows]
    )
    job_by_event = dict(zip((row["event_id"] for row in rows), job.rarity))
    traffic = encode_traffic(LabelledTraffic(events, []), CFG.job.history_length, CFG.job)
    offline = RarityDetector.for_folder(folder).score(traffic)
    assert np.array_equal(offline, np.array([job_by_event[e] for e in traffic.event_ids]))


def test_the_alert_names_the_rarity_score_and_says_in_words_what_is_rare(folder):
    rows = _job_rows(folder, _crawler())
    last = rows[-1]
    served = DetectorEnsemble.load(folder)
    score = float(served.rarity.score([last["session"]])[0])
    alert = build_alert(
        user_id="x",
        session_id=last["session_id"],
        event_id=last["event_id"],
        event_ts=last["event_ts"],
        codes=last["codes"],
        recent_event_ids=["x-24"],
        score=0.99,
        threshold=0.9,
        model_version="m",
        detected_at_ms=T0,
        detectors={"rarity": score},
        rarity_reasons=rarity_reasons(served, last["session"], score),
    )
    assert alert["detectors"]["rarity"] > 0.999
    texts = [r["text"] for r in alert["reasons"] if r["feature"].startswith("rarity:")]
    assert texts and texts[0].startswith("25 page views in ") and "of shoppers" in texts[0]
    assert rarity_reasons(served, last["session"], 0.5) == [] and rarity_reasons(None, last["session"], 1.0) == []


def test_the_placeholder_serves_the_tables_shipped_with_the_serving_code(tmp_path):
    served = DetectorEnsemble.load(write_placeholder_model(tmp_path))
    assert "rarity" in served.available and served.detectors == ("lstm", "velocity_rules")
    assert served.rarity.to_dict() == RarityTables.default().to_dict()
    rows = _job_rows(write_placeholder_model(tmp_path / "p"), _crawler(30))
    assert served.rarity.score([rows[-1]["session"]])[0] > 0.999 > served.rarity.score([rows[0]["session"]])[0]
