"""Fraud_Data as events and labels: the mapping, time order, the split by signup time, the baselines."""

import json

import numpy as np
import pytest

from shopguard.config import ValidationSettings
from shopguard.errors import ShopguardError
from shopguard.training.fraud_data import (
    Account,
    events_in_time_order,
    fraud_events,
    read_fraud_data,
    split_by_signup,
    write_fraud_data,
)
from shopguard.training.fraud_data_baselines import fraud_data_baselines
from shopguard.training.fraud_data_check import targets
from shopguard.training.user_labels import read_labels
from shopguard.udfs.events import parse_event

HEADER = "user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,class\n"
ROWS = [
    "22058,2/24/15 22:55,4/18/15 2:47,34,QVPSPJUOCKZAR,SEO,Chrome,M,39,0\n",
    "1359,1/1/15 18:52,1/1/15 18:52,15,YSSKYOSJHPPLJ,Direct,Opera,M,53,1\n",
    "1360,1/1/15 18:53,1/1/15 18:54,15,YSSKYOSJHPPLJ,Direct,Opera,F,41,1\n",
    "333320,6/7/15 20:39,6/8/15 1:38,16,EOGFQPIZPYXFZ,Ads,Safari,F,53,0\n",
]
CUT_OFF = "266538,1/25/15 22:53,5/21/15 16:44,30,RLHPASMAQSHQQ,Ads,FireFox,M,32,"


@pytest.fixture
def fraud_csv(tmp_path):
    path = tmp_path / "fraud_data.csv"
    path.write_text(HEADER + "".join(ROWS) + CUT_OFF)
    return path


def test_each_row_becomes_a_signup_and_a_purchase_with_its_device_channel_and_browser(fraud_csv):
    data = read_fraud_data(fraud_csv)
    account = next(a for a in data.rows if a.user_id == "22058")
    signup, purchase = fraud_events(account)
    assert (signup.event_type, purchase.event_type) == ("signup", "purchase")
    assert signup.user_id == purchase.user_id == "22058"
    assert signup.device_id == purchase.device_id == "QVPSPJUOCKZAR"
    assert signup.channel == purchase.channel == "SEO" and signup.user_agent == purchase.user_agent == "Chrome"
    assert signup.ts_ms == 1424818500000  # 2015-02-24T22:55:00Z
    assert purchase.ts_ms == 1429325220000  # 2015-04-18T02:47:00Z
    assert (purchase.price, purchase.quantity, purchase.item_id, purchase.ip) == (34.0, 1, None, None)
    assert signup.price is None and signup.event_id != purchase.event_id


def test_the_purchase_event_is_a_valid_canonical_event(fraud_csv):
    _, purchase = fraud_events(read_fraud_data(fraud_csv).rows[0])
    parsed = parse_event(purchase.to_json(), ValidationSettings(), now_ms=1_800_000_000_000)
    assert parsed == purchase


def test_the_cut_off_last_row_is_skipped_and_named(fraud_csv):
    data = read_fraud_data(fraud_csv)
    assert len(data.rows) == 4
    assert list(data.skipped) == [6] and "class" in data.skipped[6]


def test_a_file_that_is_not_fraud_data_is_refused_with_its_name(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ShopguardError, match="other.csv: line 1 has no column"):
        read_fraud_data(other)
    with pytest.raises(ShopguardError, match="data.fraud_data_csv"):
        read_fraud_data(tmp_path / "absent.csv")


def test_events_are_in_time_order_with_a_signup_before_its_purchase_in_the_same_minute(fraud_csv):
    events = events_in_time_order(read_fraud_data(fraud_csv).rows)
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    first = [(e.user_id, e.event_type) for e in events[:4]]
    assert first == [("1359", "signup"), ("1359", "purchase"), ("1360", "signup"), ("1360", "purchase")]


def test_the_split_is_by_signup_time_and_the_halves_do_not_overlap(fraud_csv):
    earlier, later = split_by_signup(read_fraud_data(fraud_csv).rows)
    assert [a.user_id for a in earlier] == ["1359", "1360"]
    assert [a.user_id for a in later] == ["22058", "333320"]
    assert max(a.signup_ms for a in earlier) <= min(a.signup_ms for a in later)


def test_written_files_are_what_shopguard_evaluate_reads(fraud_csv, tmp_path):
    files = write_fraud_data(fraud_csv, tmp_path / "out")
    lines = files.events.read_text().splitlines()
    assert len(lines) == 8 and all(json.loads(line)["ts"] for line in lines)
    reported = read_labels(files.labels)
    assert set(reported) == {"22058", "333320"} and not any(label.abused for label in reported.values())
    fitted = read_labels(files.earlier_labels)
    assert fitted["1359"].anomaly_type == "fraud" and fitted["1359"].onset_ms == 1420138320000


def account(user, device, gap_s, fraud, signup_s=0):
    return Account(user, signup_s * 1000, (signup_s + gap_s) * 1000, 10.0, device, "SEO", "IE", fraud)


def test_baselines_rank_fast_purchases_and_shared_devices_with_intervals():
    rng = np.random.default_rng(3)
    later = [account(f"n{i}", f"N{i}", int(rng.integers(300, 10**6)), False) for i in range(200)]
    later += [account(f"f{i}", "RING", 30, True) for i in range(10)]
    rows = {
        row["rule"]: row
        for row in fraud_data_baselines([account("e", "RING", 0, True), account("m", "M", 5000, False)], later)
    }
    assert rows["purchase within 2 minutes of signup"]["roc_auc"] == 1.0
    assert rows["both"]["pr_auc"] == 1.0
    low, high = rows["accounts on the same device"]["roc_auc_interval"]
    assert low <= rows["accounts on the same device"]["roc_auc"] <= high
    assert rows["both, fitted on the other half"]["roc_auc"] == 1.0


def test_the_fast_purchase_target_names_who_was_not_alerted():
    reported = [account("a", "D", 30, True), account("b", "D", 60, True), account("c", "E", 30, True)]
    result = {"overall": {"roc_auc": 0.86, "pr_auc": 0.71}}
    found = targets(result, reported, reported, alerted={"a"})
    assert found["fast_on_shared_device_alerted"] == {"accounts": 2, "alerted": 1, "missed": ["b"], "met": False}
    assert found["roc_auc"]["met"] and found["pr_auc"]["met"]


def test_ring_alerts_are_counted_apart_from_users_alerts(tmp_path):
    from shopguard.training.fraud_data_check import fraud_data_lines, ring_figures
    from shopguard.training.labelled_replay import read_replay_output

    events, scores, alerts = tmp_path / "e.jsonl", tmp_path / "s.jsonl", tmp_path / "a.jsonl"
    events.write_text('{"user_id": "a"}\n{"user_id": "b"}\n')
    scores.write_text('{"user_id": "a", "event_ts": 1000, "score": 0.9, "model_version": "m"}\n')
    ring = {"alert_kind": "ring", "entity_type": "device", "accounts": ["a", "b"], "event_ts": 2000}
    alerts.write_text(json.dumps({"user_id": "a", "event_ts": 1000}) + "\n" + json.dumps(ring) + "\n")
    assert read_replay_output(events, scores, alerts).alert_times == {"a": [1000]}
    reported = [account("a", "D", 30, True), account("b", "D", 9000, False)]
    rings = ring_figures({"context": {"alerts": str(alerts)}}, reported)
    assert rings == {"ring_alerts": 1, "reported_accounts_named": 2, "fraud_among_them": 1}
    half = {"accounts": 2, "fraud": 1, "fast_purchases": 1}
    result = {
        "overall": {"roc_auc": 0.9, "pr_auc": 0.8, "roc_auc_interval": [0.85, 0.95]},
        "dataset": {"fitted_half": half, "reported": half, "reported_half": "later", "skipped_rows": {}},
        "baselines": [{"rule": "both", "roc_auc": 0.7, "pr_auc": 0.5}],
        "targets": targets({"overall": {"roc_auc": 0.9, "pr_auc": 0.8}}, reported, reported, {"a"}),
        "rings": rings,
    }
    text = "\n".join(fraud_data_lines(result))
    assert "| the job (highest score per user) | 0.900 [0.85–0.95] | 0.800 |" in text
    assert "1 of 1 (met)" in text and "Ring alerts (about a device or IP, not counted above): 1" in text


def test_judging_the_earlier_half_serves_a_copy_of_the_model_refitted_on_the_later_half(tmp_path):
    from shopguard.training.fraud_data_check import _refitted_copy
    from shopguard.training.new_account_calibration import fit_new_account
    from shopguard.udfs.new_account import NewAccountTables
    from shopguard.udfs.placeholder_model import write_placeholder_model

    model = write_placeholder_model(tmp_path / "model", "m1")
    later = [account(f"n{i}", f"D{i}", 600 + i, False) for i in range(9)] + [account("f", "R", 0, True)]
    copy = _refitted_copy(model, later, tmp_path / "copy")
    tables = NewAccountTables.read(copy)
    assert tables.source == "Fraud_Data, later half by signup time: 9 normal accounts"
    refitted = fit_new_account(later)  # the later half's normal accounts alone (the fraud one is not read)
    assert (tables.seconds, tables.log_shares) == (refitted.seconds, refitted.log_shares)
    assert tables.time_decades([0.0])[0] > 1.0  # none of the 9 normal accounts bought at once
    assert NewAccountTables.read(model) is None and (copy / "card.json").is_file()  # the original is untouched
