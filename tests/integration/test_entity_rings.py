"""Entity streams end to end: real Kafka broker, real Flink mini-cluster, ring and user alerts read back from Kafka.

With either engine of the entity steps (Java, the default, and the Python reference): six accounts test stolen
cards from one device (each: failed payments seconds apart, then a small purchase), beside shoppers on devices
of their own. The device's entity step must raise one ring alert naming the accounts (updated as accounts join),
and the accounts' own alerts must carry the device's figures in words; no alert may hold the raw device id or
IP. Meanwhile eight accounts, each on a phone and network of its own, give one item 1 star within 35 minutes
without buying it, while shoppers who bought another item rate it as people do: the item step must alert the
first item, naming the eight, with its reasons.
"""

from __future__ import annotations

import dataclasses
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
RATERS = [f"it-rater-{n}" for n in range(8)]
RATED_ITEM, LIKED_ITEM = "it-rival-item", "it-liked-item"


def rating_events() -> list[Event]:
    """The raters' 1-star reviews of RATED_ITEM (5 minutes apart, no purchase); four buyers buy and rate LIKED_ITEM."""
    burst = [
        Event(
            f"{user}-r",
            user,
            "review",
            T0 + 300_000 * n,
            item_id=RATED_ITEM,
            rating=1,
            device_id=f"{user}-phone",
            ip=f"198.51.100.{n + 1}",
        )
        for n, user in enumerate(RATERS)
    ]
    liked = []
    for n, stars in enumerate((5, 4, 5, 3)):
        user = f"it-buyer-{n}"
        common = dict(item_id=LIKED_ITEM, device_id=f"{user}-phone", ip=f"10.2.0.{n}")
        liked.append(Event(f"{user}-buy", user, "purchase", T0 + 60_000 * n + 5, price=20.0, quantity=1, **common))
        liked.append(Event(f"{user}-rate", user, "review", T0 + 60_000 * n + 180_005, rating=stars, **common))
    return burst + liked


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


@pytest.fixture(scope="module", params=["java", "python"])
def detection(request, kafka_config, tmp_path_factory):
    """The job's alerts with each engine of the entity steps (``entities.engine``): the same is asked of both."""
    placeholder = write_placeholder_model(tmp_path_factory.mktemp("models"))
    cfg, ports = isolated_job_config(
        kafka_config,
        f"entities-{request.param}",
        tmp_path_factory.mktemp("empty-registry"),
        model_path=str(placeholder),
    )
    cfg = dataclasses.replace(cfg, entities=dataclasses.replace(cfg.entities, engine=request.param))
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    try:
        events = sorted(ring_events() + shopper_events() + rating_events(), key=lambda e: e.ts_ms)
        send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])
        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: (
                {a.get("user_id") for a in got} >= set(RING)
                and any(a["alert_kind"] == "ring" and set(a["accounts"]) == set(RING) for a in got)
                and any(a.get("entity_type") == "item" and set(a["accounts"]) == set(RATERS) for a in got)
            ),
            timeout_s=180,
        )
        scores = collect(cfg, cfg.topics.scores, until=lambda got: len(got) >= len(events), timeout_s=60)
        yield {"alerts": alerts, "scores": scores, "events": events}
    finally:
        job.stop()


def test_the_ring_raises_one_ring_alert_naming_its_accounts(detection):
    rings = [a for a in detection["alerts"] if a["alert_kind"] == "ring" and a["entity_type"] != "item"]
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


def test_a_rating_burst_on_one_item_is_alerted_with_its_reasons_and_accounts(detection):
    items = [a for a in detection["alerts"] if a["alert_kind"] == "ring" and a["entity_type"] == "item"]
    assert {a["entity"] for a in items} == {RATED_ITEM}  # the item the shoppers bought and rated raises nothing
    assert len({a["alert_id"] for a in items}) == 1 and all(a["anomaly_type"] == "review_abuse" for a in items)
    newest = max(items, key=lambda a: a["revision"])
    assert set(newest["accounts"]) == set(RATERS) and newest["user_id"] is None
    assert newest["reasons"][0]["text"] == "8 accounts gave this item 1 star within 35 min; none of them bought it"
    assert newest["since"].startswith("2020-09-13T12:26:40")


def test_shoppers_on_their_own_devices_raise_nothing(detection):
    alerted = {a.get("user_id") for a in detection["alerts"]} | {
        account for a in detection["alerts"] if a["alert_kind"] == "ring" for account in a["accounts"]
    }
    assert not alerted & set(SHOPPERS)


def test_no_alert_holds_a_raw_device_id_or_ip(detection):
    text = json.dumps(detection["alerts"])
    assert RING_DEVICE not in text and RING_IP not in text
