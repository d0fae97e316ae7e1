"""The new_account detector: sooner is rarer, a shared device adds only to a new account's purchase, its
tables come from normal accounts only, and a model folder without them still serves."""

import json
import math

import numpy as np
import pytest

from shopguard.training.fraud_data import Account
from shopguard.training.new_account_calibration import fit_new_account, lower_tail_log_share
from shopguard.udfs.new_account import (
    NEW_ACCOUNT_FILE,
    NewAccountRefused,
    NewAccountTables,
    tables_for,
)
from shopguard.udfs.new_account_defaults import DEFAULT_TABLES

TABLES = NewAccountTables.from_dict(DEFAULT_TABLES)


def test_sooner_after_signup_scores_higher_and_only_spending_events_score():
    seconds = np.array([0.0, 40.0, 600.0, 86400.0, 30 * 86400.0, 200 * 86400.0])
    scores = TABLES.score(["purchase"] * len(seconds), seconds, np.zeros(len(seconds)))
    assert np.all(np.diff(scores) <= 0) and scores[0] > 0.8 and scores[-1] == 0.0
    assert TABLES.score(["page_view", "signup", "checkout"], np.zeros(3), np.zeros(3)).tolist()[:2] == [0.0, 0.0]
    assert TABLES.score(["payment_failed"], [5.0], [0.0])[0] > 0.8


def test_without_a_signup_seen_or_without_a_device_nothing_is_unusual():
    assert TABLES.score(["purchase"], [math.nan], [7.0]).tolist() == [0.0]
    assert TABLES.score(["purchase"], [30.0], [math.nan])[0] == TABLES.score(["purchase"], [30.0], [1.0])[0]


def test_a_shared_device_strengthens_a_new_account_s_purchase_but_not_an_old_one_s():
    alone, shared = TABLES.score(["purchase"] * 2, [40.0, 40.0], [1.0, 6.0])
    assert shared > alone
    old_alone, old_shared = TABLES.score(["purchase"] * 2, [90 * 86400.0] * 2, [0.0, 6.0])
    assert old_alone == old_shared  # a busy device alone is the entities detector's business


def test_the_reason_says_how_soon_and_how_many_other_new_accounts_in_words():
    (reason,) = TABLES.reasons("purchase", 40.0, 6.0)
    assert (
        reason["text"]
        == "bought 40 s after opening the account, on a device 5 other new accounts used in the last 24 h"
    )
    assert reason["suggests"] == "new_account_abuse" and reason["feature"] == "new_account"
    (alone,) = TABLES.reasons("checkout", 720.0, 1.0)
    assert alone["text"] == "checked out 12 min after opening the account"
    assert TABLES.reasons("purchase", 60 * 86400.0, 0.0) == []


def test_tables_round_trip_and_a_broken_file_is_refused_with_its_name(tmp_path):
    TABLES.write(tmp_path)
    assert NewAccountTables.read(tmp_path) == TABLES
    (tmp_path / NEW_ACCOUNT_FILE).write_text(json.dumps(TABLES.to_dict() | {"seconds": [5.0, 1.0] * 11}))
    with pytest.raises(NewAccountRefused, match="new_account.json: knots must be ascending"):
        NewAccountTables.read(tmp_path)
    (tmp_path / NEW_ACCOUNT_FILE).write_text("{")
    with pytest.raises(NewAccountRefused, match="new_account.json: unreadable"):
        NewAccountTables.read(tmp_path)


def test_a_model_folder_without_its_calibration_serves_the_shipped_tables(tmp_path):
    assert tables_for(tmp_path) == TABLES
    own = NewAccountTables((0.0, 10.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), "own")
    own.write(tmp_path)
    assert tables_for(tmp_path) == own


def test_calibration_reads_normal_accounts_only():
    normal = [Account(f"n{i}", 0, (3600 + 60 * i) * 1000, 1.0, f"D{i}", "", "", False) for i in range(999)]
    fraud = [Account(f"f{i}", 0, 0, 1.0, "RING", "", "", True) for i in range(500)]
    tables = fit_new_account(normal + fraud)
    gaps = np.array([3600.0 + 60 * i for i in range(999)])
    # no normal account bought at once: rarer than the 1 in 1,000 a count can show, as the fastest normal ones say
    assert tables.time_decades([0.0])[0] == pytest.approx(-lower_tail_log_share(gaps, 0.0)) and -math.log10(
        20 / 1000 * 1 / 4800
    ) == pytest.approx(tables.time_decades([0.0])[0])
    assert tables.shared_decades([1.0])[0] == pytest.approx(3.0)  # nor shared a device with a new account
    assert tables.source == "999 normal accounts"


def test_sooner_than_every_normal_account_is_rarer_the_sooner_and_never_rarer_than_a_flat_density_says():
    rng = np.random.default_rng(5)
    clustered = [
        Account(f"c{i}", 0, int(rng.uniform(3000, 3100)) * 1000, 1.0, f"D{i}", "", "", False) for i in range(500)
    ]
    tables = fit_new_account(clustered)  # every normal account bought 50 to 52 minutes after signup
    knots = np.array([0.0, 1.0, 2.0, 10.0, 60.0, 600.0, 1800.0])  # knots of the tables below the fastest
    decades = tables.time_decades(knots)
    assert np.all(np.diff(decades) <= 0) and decades[0] == decades[1]  # a second is the labelled times' resolution
    assert np.all(decades >= -math.log10(1 / 501) - 1e-9)  # never less rare than counting alone says
    flat = -np.log10(20 / 501 * knots[1:] / np.sort([a.purchase_ms / 1000 for a in clustered])[20])
    assert np.all(decades[1:] <= np.maximum(flat, -math.log10(1 / 501)) + 1e-9)  # a steep cluster: no more than flat
    spread = [Account(f"s{i}", 0, (240 + 60 * i) * 1000, 1.0, f"D{i}", "", "", False) for i in range(500)]
    assert fit_new_account(spread).time_decades([10.0])[0] < tables.time_decades([10.0])[0]  # sooner normal, less rare


def test_the_combiner_hinge_is_fixed_idempotent_and_lets_a_clear_new_account_alert_alone(tmp_path):
    from shopguard.training.new_account_calibration import CLEAR_DECADES, add_new_account
    from shopguard.udfs.score_combiner import ScoreCombiner

    base = ScoreCombiner(("lstm", "velocity_rules"), ("logit", "log1p"), (0.8, 1.0), -3.0, 0.95)
    base.write(tmp_path)
    path = tmp_path / "combiner.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"real_shoppers": {"users": 5}}))
    first = add_new_account(tmp_path)
    second = add_new_account(tmp_path)  # again, e.g. after shopguard calibrate moved the threshold
    assert first == second and json.loads(path.read_text())["real_shoppers"] == {"users": 5}
    combiner = ScoreCombiner.read(tmp_path)
    assert combiner.detectors.count("new_account") == 1 and [h.detector for h in combiner.hinges] == ["new_account"]
    clear = CLEAR_DECADES / (1 + CLEAR_DECADES)
    worst = {"lstm": np.array([1e-9]), "velocity_rules": np.array([0.0]), "new_account": np.array([clear])}
    assert combiner.combine(worst)[0] >= combiner.threshold
    ordinary = {"lstm": np.array([0.5]), "velocity_rules": np.array([0.0])}  # offline: new_account not computed
    assert combiner.combine(ordinary)[0] == base.combine(ordinary)[0]
    assert NewAccountTables.read(tmp_path) == TABLES


def test_no_signup_no_device_and_infinities_read_as_they_did_with_nan_to_num():
    seconds = np.array([np.nan, np.inf, -np.inf, 0.0, 30.0, 600.0, 1e9])
    others = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, 3.0, 50.0])
    time_as_it_was = np.where(
        np.isnan(seconds),
        0.0,
        np.maximum(-np.interp(np.nan_to_num(seconds, nan=np.inf), TABLES.seconds, TABLES.log_shares), 0.0),
    )
    shared_as_it_was = np.maximum(
        -np.interp(np.nan_to_num(others, nan=0.0), TABLES.others, TABLES.others_log_tails), 0.0
    )
    assert TABLES.time_decades(seconds).tobytes() == time_as_it_was.tobytes()
    assert TABLES.shared_decades(others).tobytes() == shared_as_it_was.tobytes()
