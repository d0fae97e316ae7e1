"""Entity streams end to end: real Kafka broker, real Flink mini-cluster, ring and user alerts read back from Kafka.

Six accounts test stolen cards from one device (each: failed payments seconds apart, then a small
purchase), beside shoppers on devices of their own. The device's entity step must raise one ring alert
naming the accounts (updated as accounts join), and the accounts' own alerts must carry the device's
figures in words; no alert may hold the raw device id or IP.
"""

from __future__ import annotations

import json
import random

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.demo_traffic import card_tester
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration

T0 = 1_600_000_000_000
RING = [f"it-ring-{n}" for n in range(6)]
RING_DEVICE, RING_IP = "it-ring-device-7f3a", "192.0.2.77"
SHOPPERS = [f"it-shopper-{n}" for n in range(10)]


def ring_events() -> list[Event]:
    events = []
    for n, user in enumerate(RING):
        for event in card_tester(user, T0 + 40_000 * n, random.Random(n)):
            events.append(event._replace(device_id=RING_DEVICE, ip=RING_IP))
    return events


def shopper_events() -> list[Event]:
    return [
        Event(
            f"{user}-{k}",
            user,
            "page_view",
            T0 + 7_000 * k + n,
            item_id=f"item-{k}",
            device_id=f"{user}-phone",
            ip=f"10.1.0.{n}",
        )
        for n, user in enumerate(SHOPPERS)
        for k in range(30)
    ]


@pytest.fixture(scope="module")
def detection(kafka_config, tmp_path_factory):
    placeholder = write_placeholder_model(tmp_path_factory.mktemp("models"))
    cfg, ports = isolated_job_config(
        kafka_config, "entities", tmp_path_factory.mktemp("empty-registry"), model_path=str(placeholder)
    )
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    try:
        events = sorted(ring_events() + shopper_events(), key=lambda e: e.ts_ms)
        send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])
        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: (
                {a.get("user_id") for a in got} >= set(RING)
                and any(a["alert_kind"] == "ring" and set(a["accounts"]) == set(RING) for a in got)
            ),
            timeout_s=180,
        )
        scores = collect(cfg, cfg.topics.scores, until=lambda got: len(got) >= len(events), timeout_s=60)
        yield {"alerts": alerts, "scores": scores, "events": events}
    finally:
        job.stop()


def test_the_ring_raises_one_ring_alert_naming_its_accounts(detection):
    rings = [a for a in detection["alerts"] if a["alert_kind"] == "ring"]
    assert rings, "no ring alert"
    assert {a["entity_type"] for a in rings} == {"device", "ip"}  # one device, one IP: both see the ring
    device = [a for a in rings if a["entity_type"] == "device"]
    assert len({a["alert_id"] for a in device}) == 1
    newest = max(device, key=lambda a: a["revision"])
    assert set(newest["accounts"]) == set(RING)
    assert newest["entity"].startswith("h:") and newest["user_id"] is None
    assert any(t["activity"] == "failed_payments" and t["accounts"] >= 4 for t in newest["together"])
    assert newest["reasons"][0]["text"].startswith("this device: ")


def test_the_accounts_own_alerts_carry_the_device_figures_in_words(detection):
    users = [a for a in detection["alerts"] if a["alert_kind"] == "user" and a["user_id"] in RING]
    assert {a["user_id"] for a in users} == set(RING)
    later = [a for a in users if a["user_id"] in RING[2:]]  # by then the device had seen several accounts
    for alert in later:
        texts = [r["text"] for r in alert["reasons"]]
        assert any(t.startswith("this device: ") and "accounts in 24 h" in t for t in texts), texts
        assert "entities" in alert["detectors"]


def test_shoppers_on_their_own_devices_raise_nothing(detection):
    alerted = {a.get("user_id") for a in detection["alerts"]} | {
        account for a in detection["alerts"] if a["alert_kind"] == "ring" for account in a["accounts"]
    }
    assert not alerted & set(SHOPPERS)


def test_no_alert_holds_a_raw_device_id_or_ip(detection):
    text = json.dumps(detection["alerts"])
    assert RING_DEVICE not in text and RING_IP not in text
