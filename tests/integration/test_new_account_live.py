"""A purchase made seconds after signup, on a device other new accounts use, alerted by the live job.

Real broker, real mini-cluster: a small Fraud_Data-like file (a ring of accounts opened on one device that
each buy within a minute, and accounts that buy weeks after signing up) goes through the converter of
``shopguard evaluate --dataset fraud-data`` onto the events topic; the job serves a copy of the shipped
default model with its new_account tables and hinge (``add_new_account``).
"""

from __future__ import annotations

import shutil

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.training.fraud_data import events_in_time_order, read_fraud_data
from shopguard.training.new_account_calibration import add_new_account
from shopguard.udfs.default_model import DEFAULT_MODEL_DIR

pytestmark = pytest.mark.integration

HEADER = "user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,class\n"
RING = [f"9{n:02d},3/2/17 10:{n:02d},3/2/17 10:{n:02d},{40 + n},RINGDEVICE01,Direct,Chrome,M,30,1" for n in range(4)]
NORMAL = [
    f"5{n:02d},3/1/17 9:{n:02d},4/{10 + n}/17 18:30,{20 + n},OWNDEVICE{n:03d},SEO,Safari,F,41,0" for n in range(6)
]


@pytest.fixture(scope="module")
def alerts(kafka_config, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "default-model"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    add_new_account(folder)
    cfg, ports = isolated_job_config(
        kafka_config, "newaccount", tmp_path_factory.mktemp("registry"), model_path=str(folder)
    )
    ensure_topics(cfg)
    csv = tmp_path_factory.mktemp("data") / "fraud_data.csv"
    csv.write_text(HEADER + "\n".join(RING + NORMAL) + "\n")
    events = events_in_time_order(read_fraud_data(csv).rows)
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    try:
        send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])
        ring = {row.split(",")[0] for row in RING}
        got = collect(cfg, cfg.topics.alerts, until=lambda got: ring <= {a["user_id"] for a in got}, timeout_s=120)
        scores = collect(cfg, cfg.topics.scores, until=lambda got: len(got) >= len(events), timeout_s=60)
        yield {"alerts": got, "scores": scores, "ring": ring, "events": events}
    finally:
        job.stop()


def test_every_account_of_the_ring_that_bought_at_once_is_alerted_with_the_reason_in_words(alerts):
    by_user = {}
    for alert in alerts["alerts"]:
        if alert.get("alert_kind", "user") == "user":
            by_user.setdefault(alert["user_id"], []).append(alert)
    assert alerts["ring"] <= set(by_user)
    for user in alerts["ring"]:
        reasons = [r["text"] for alert in by_user[user] for r in alert["reasons"]]
        assert any(text.startswith("bought 0 s after opening the account") for text in reasons), reasons
        assert any(alert["detectors"].get("new_account", 0) > 0.8 for alert in by_user[user])
    later = sorted(alerts["ring"])[1:]  # after the first, the device has other new accounts
    assert any("other new account" in r["text"] for user in later for alert in by_user[user] for r in alert["reasons"])


def test_accounts_that_buy_weeks_after_signing_up_are_not_alerted_as_new_accounts(alerts):
    normal = {row.split(",")[0] for row in NORMAL}
    for alert in alerts["alerts"]:
        if alert["user_id"] in normal:
            assert not any(r.get("feature") == "new_account" for r in alert["reasons"])
    assert len(alerts["scores"]) >= len(alerts["events"])  # every event scored, the signups included
