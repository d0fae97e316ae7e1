"""The Fraud_Data ceiling: every column, and each split predicts only accounts its model was not fitted on."""

from __future__ import annotations

import numpy as np

from shopguard.training import fraud_data_ceiling
from shopguard.training.fraud_data import read_fraud_data
from shopguard.training.fraud_data_ceiling import FEATURES, ceiling, ceiling_features, person_columns

HEADER = "user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,class\n"


def write_file(path, rows):
    path.write_text(HEADER + "".join(rows))
    return path


def fraud_file(tmp_path, accounts=240):
    """Fraud buys in the signup's minute on a shared device; normal accounts buy a day later, alone."""
    rows = []
    for n in range(accounts):
        fraud = n % 4 == 0
        day = 1 + n * 27 // accounts
        bought = f"1/{day}/15 10:00" if fraud else f"1/{day + 1}/15 11:30"
        device = f"RING{n % 3}" if fraud else f"DEV{n}"
        rows.append(
            f"{n},1/{day}/15 10:00,{bought},{20 + n % 7},{device},SEO,Chrome,{'MF'[n % 2]},{30 + n % 20},{int(fraud)}\n"
        )
    return write_file(tmp_path / "fraud.csv", rows)


def test_every_column_of_the_file_is_a_feature(tmp_path):
    path = write_file(tmp_path / "f.csv", ["7,1/1/15 18:52,1/1/15 18:53,15,D1,Ads,Opera,F,53,1\n"])
    persons = person_columns(path)
    assert persons == {"7": ("F", 53.0)}
    (row,) = ceiling_features(read_fraud_data(path).rows, persons)
    figures = dict(zip(FEATURES, row))
    assert figures["seconds_signup_to_purchase"] == 60 and figures["age"] == 53 and figures["purchase_hour"] == 18
    assert figures["accounts_on_device_whole_file"] == 1 and figures["purchase_value"] == 15


def test_a_separable_file_reaches_the_ceiling_under_every_split(tmp_path):
    rows = ceiling(fraud_file(tmp_path))
    assert [row["split"] for row in rows] == [
        "later half, fitted on the earlier half",
        "whole file, each half fitted on the other",
        "whole file, 5 random folds",
    ]
    assert rows[0]["accounts"] == 120 and rows[1]["accounts"] == 240
    assert all(row["roc_auc"] == 1.0 for row in rows)


def test_no_split_predicts_an_account_its_model_was_fitted_on(tmp_path, monkeypatch):
    fitted_with = []
    real = fraud_data_ceiling.fitted_on

    def watched(features, fraud, train, test):
        fitted_with.append((set(train.tolist()), set(test.tolist())))
        return real(features, fraud, train, test)

    monkeypatch.setattr(fraud_data_ceiling, "fitted_on", watched)
    ceiling(fraud_file(tmp_path))
    assert len(fitted_with) == 2 + 5
    assert all(not (train & test) for train, test in fitted_with)
    assert np.all([len(train) > 0 for train, _ in fitted_with])
