"""The detection job end to end: real Kafka broker, real Flink mini-cluster, contents checked in Kafka.

One job runs for the whole module (parallelism 2, thread mode, as PyFlink's own tests shake out
ordering bugs); the tests read what it wrote to the alert, dead-letter, late and scores topics and
its metrics, then replay the same events with ``shopguard detect`` and compare.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from shopguard.config import to_toml
from shopguard.local.alert_feed import collect
from shopguard.local.demo_traffic import account_taker, card_tester, click_bot
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.training.datasets import read_taobao
from shopguard.udfs.alerts import ALERT_FIELDS
from shopguard.udfs.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"
T0 = 1_511_658_000_000
NORMAL_EVENTS = 400
DUPLICATES = 7  # abnormal events sent twice (a producer retry): dropped by event_id
LATE_EVENT_ID = "it-late-event"

ABNORMAL = {
    "it-card-tester": ("card_testing", card_tester),
    "it-click-bot": ("bot", click_bot),
    "it-account-taker": ("account_takeover", account_taker),
}


def event(**fields) -> bytes:
    body = {"event_id": f"bad-{uuid.uuid4()}", "user_id": "it-bad-input", "event_type": "page_view", "ts": T0}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


BAD_RECORDS: dict[str, bytes] = {
    "malformed_json": b'{"event_id": "x", "user_id": "u", ',
    "not_utf8": b'{"user_id": "\xff\xfe"}',
    "not_an_object": b"[1, 2, 3]",
    "missing_field": event(user_id=...),
    "wrong_type": event(price="cheap"),
    "unknown_event_type": event(event_type="teleport"),
    "bad_timestamp": event(ts="last tuesday"),
    "timestamp_too_old": event(ts=15 * 1000),  # the Taobao slice's real corrupt row, in milliseconds
    "timestamp_in_future": event(ts=int(time.time() * 1000) + 30 * 86_400_000),
    "oversized": event(user_agent="x" * 200, padding="y" * 70_000),
    "field_too_long": event(device_id="d" * 1000),
    "bad_price": event(price=-5),
    "bad_quantity": event(quantity=-1),
    "bad_rating": event(rating=5),  # a page_view carries no stars
}


@pytest.fixture(scope="module")
def detection(kafka_config, tmp_path_factory):
    """Start the job on fresh topics, feed it normal, abnormal and bad records, and yield what came out."""
    # The hand-weighted placeholder, not the shipped default model: these tests check the job's mechanics
    # (alert format, dedup, lateness, explanations, replay), and the placeholder's scores do not move
    # when the default model is trained again. tests/unit/test_default_model.py covers the default's choice.
    placeholder = write_placeholder_model(tmp_path_factory.mktemp("models"))
    cfg, ports = isolated_job_config(
        kafka_config, "detect", tmp_path_factory.mktemp("empty-registry"), model_path=str(placeholder)
    )
    topics = cfg.topics
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    try:
        normal, _ = read_taobao(TAOBAO)
        normal = normal[:NORMAL_EVENTS]
        abnormal = [e for user, (_, make) in ABNORMAL.items() for e in make(user, T0, random.Random(5))]
        valid = normal + abnormal
        records = [(e.user_id, e.to_json().encode()) for e in valid]
        records += [("it-bad-input", raw) for raw in BAD_RECORDS.values()]
        records.append(("it-tombstone", None))  # a Kafka tombstone: the connector skips null values
        duplicates = abnormal[3 : 3 + DUPLICATES]
        records += [(e.user_id, e.to_json().encode()) for e in duplicates]
        send_records(cfg, topics.events, records)
        # A valid abnormal user after all the bad input: its alert proves the job kept running.
        after = card_tester("it-after-bad-input", T0 + 600_000, random.Random(9))
        send_records(cfg, topics.events, [(e.user_id, e.to_json().encode()) for e in after])
        valid += after

        alerts = collect(
            cfg, topics.alerts, until=lambda got: {"it-after-bad-input"} <= {a["user_id"] for a in got}, timeout_s=120
        )
        # An event an hour older than its user's newest one is beyond the allowed lateness.
        late = normal[0]._replace(event_id=LATE_EVENT_ID, ts_ms=T0 - 3_600_000)
        send_records(cfg, topics.events, [(late.user_id, late.to_json().encode())])
        late_events = collect(cfg, topics.late, until=lambda got: len(got) >= 1, timeout_s=60)
        time.sleep(3)  # let the last normal events be scored too, then read everything once more
        alerts = collect(cfg, topics.alerts, until=lambda got: False, timeout_s=5)
        scores = collect(cfg, topics.scores, until=lambda got: len(got) >= len(valid), timeout_s=60)
        dead = collect(cfg, topics.dead_letters, until=lambda got: len(got) >= len(BAD_RECORDS), timeout_s=60)
        replay_input = tmp_path_factory.mktemp("replay") / "events.jsonl"
        replay_input.write_text("".join(e.to_json() + "\n" for e in normal + abnormal + duplicates + after + [late]))
        yield {
            "cfg": cfg,
            "job": job,
            "alerts": alerts,
            "dead": dead,
            "normal": normal,
            "late": late_events,
            "scores": scores,
            "valid": valid,
            "replay_input": replay_input,
            "metrics": job.metrics(),
            "running_after_input": job.is_running(),
        }
    finally:
        job.stop()


def test_every_abnormal_user_is_alerted_with_its_type_and_reasons(detection):
    by_user: dict[str, list[dict]] = {}
    for alert in detection["alerts"]:
        by_user.setdefault(alert["user_id"], []).append(alert)
    for user, (anomaly_type, _) in ABNORMAL.items():
        assert user in by_user, f"no alert for {user}"
        strongest = max(by_user[user], key=lambda a: a["score"])
        assert strongest["anomaly_type"] == anomaly_type
        assert strongest["score"] >= strongest["threshold"] == 0.9
        assert strongest["model_version"] == "placeholder-1"
        assert strongest["reasons"] and strongest["reasons"][0]["text"]
        assert strongest["event_ids"] and all(i.startswith(user) for i in strongest["event_ids"])


def test_alerts_are_canonical_json(detection):
    ring_fields = {
        "alert_kind",
        "alert_id",
        "user_id",
        "revision",
        "entity_type",
        "entity",
        "accounts",
        "account_count",
        "together",
        "since",
        "event_id",
        "event_ts",
        "detected_at",
        "score",
        "anomaly_type",
        "figures",
        "reasons",
    }
    assert detection["alerts"]
    for alert in detection["alerts"]:
        if alert["alert_kind"] == "ring":  # accounts acting together on one device or IP: no one user's alert
            assert set(alert) == ring_fields and alert["user_id"] is None
            continue
        assert alert["alert_kind"] == "user"
        assert tuple(alert) == ALERT_FIELDS and isinstance(alert["rules"], list)
        assert alert["detectors"]["lstm"] == alert["score"]


def test_normal_taobao_shoppers_are_not_alerted(detection):
    normal_users = {e.user_id for e in detection["normal"]}
    assert not [a for a in detection["alerts"] if a["user_id"] in normal_users]


def test_every_bad_record_lands_in_the_dead_letter_topic_with_its_reason(detection):
    reasons = sorted(letter["reason"] for letter in detection["dead"])
    assert reasons == sorted(BAD_RECORDS)
    by_reason = {letter["reason"]: letter for letter in detection["dead"]}
    assert by_reason["malformed_json"]["record"] == BAD_RECORDS["malformed_json"].decode()
    assert by_reason["unknown_event_type"]["user_id"] == "it-bad-input"
    assert "teleport" in by_reason["unknown_event_type"]["detail"]
    assert by_reason["oversized"]["record_bytes"] == len(BAD_RECORDS["oversized"])
    assert len(by_reason["oversized"]["record"]) < len(BAD_RECORDS["oversized"])


def test_bad_input_is_counted_in_metrics_and_the_job_keeps_running(detection):
    metrics = detection["metrics"]
    assert detection["running_after_input"]
    assert metrics["dead_letters"] == len(BAD_RECORDS)
    for reason in BAD_RECORDS:
        assert metrics[f"dead_letters_{reason}"] == 1, reason
    valid = len(detection["valid"])
    assert metrics["events_valid"] == valid + DUPLICATES + 1
    assert metrics["events_in"] == valid + DUPLICATES + 1 + len(BAD_RECORDS)
    assert metrics["state_reset_unreadable"] == 0  # registered by every keyed step (label state), none reset here


def test_no_raw_ip_or_device_id_leaves_the_job(detection):
    identifiers = {value for e in detection["valid"] for value in (e.ip, e.device_id) if value}
    assert len(identifiers) > 5  # the abnormal users' IPs and devices
    alerts = json.dumps(detection["alerts"])
    assert not [value for value in identifiers if value in alerts]
    (too_long,) = [letter for letter in detection["dead"] if letter["reason"] == "field_too_long"]
    assert json.loads(too_long["record"])["device_id"].startswith("h:") and "d" * 300 not in too_long["record"]


def test_duplicates_are_dropped_and_every_valid_event_is_scored_exactly_once(detection):
    metrics = detection["metrics"]
    assert metrics["duplicates"] == DUPLICATES
    scored_ids = [s["event_id"] for s in detection["scores"]]
    assert sorted(scored_ids) == sorted(e.event_id for e in detection["valid"])
    assert metrics["events_to_score"] == metrics["model_version_scored_events"] == len(scored_ids)


def test_an_event_older_than_the_allowed_lateness_goes_to_the_late_topic(detection):
    (late,) = detection["late"]
    assert late["reason"] == "late" and late["event"]["event_id"] == LATE_EVENT_ID
    assert late["late_by_ms"] > detection["cfg"].job.allowed_lateness_ms
    assert detection["metrics"]["late_events"] == 1
    assert LATE_EVENT_ID not in {s["event_id"] for s in detection["scores"]}


def test_one_abnormal_episode_gives_one_alert_that_is_updated_not_a_flood(detection):
    by_user: dict[str, list[dict]] = {}
    for alert in detection["alerts"]:
        by_user.setdefault(alert["user_id"], []).append(alert)
    for user in ABNORMAL:
        alerts = by_user[user]
        assert len({a["alert_id"] for a in alerts}) == 1, f"{user} got several alerts: {alerts}"
        assert sorted(a["revision"] for a in alerts) == list(range(len(alerts)))
    metrics = detection["metrics"]
    assert metrics["alerts_suppressed"] > 0
    assert metrics["alerts_opened"] + metrics["alerts_updated"] == len(detection["alerts"])


def test_alerts_explain_themselves_with_the_events_that_drove_the_score(detection):
    for alert in detection["alerts"]:
        event_reasons = [r for r in alert["reasons"] if r["feature"] == "event"]
        assert event_reasons, alert
        assert all(r["event_id"] in alert["event_ids"] and r["value"] > 0 for r in event_reasons)
        # the placeholder serves the rarity tables shipped with the serving code beside its own score, and the
        # entities and new_account tables shipped with it score the events that have a device or a signup
        assert {"lstm", "velocity_rules", "rarity"} <= set(alert["detectors"])
        assert set(alert["detectors"]) <= {"lstm", "velocity_rules", "rarity", "entities", "new_account"}


def test_a_replay_of_the_same_events_gives_the_same_scores_and_alerts(detection, tmp_path):
    config = tmp_path / "shopguard.toml"
    config.write_text(to_toml(detection["cfg"]))
    alerts_file, scores_file = tmp_path / "alerts.jsonl", tmp_path / "scores.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "shopguard.cli",
            "detect",
            "--config",
            str(config),
            "--input",
            str(detection["replay_input"]),
            "--output",
            str(alerts_file),
            "--scores-output",
            str(scores_file),
        ],
        check=True,
        timeout=300,
    )
    replayed = {
        s["event_id"]: (round(s["score"], 6), s["model_version"])
        for s in map(json.loads, scores_file.read_text().splitlines())
    }
    streamed = {s["event_id"]: (round(s["score"], 6), s["model_version"]) for s in detection["scores"]}
    assert replayed == streamed

    def essence(alert):
        return (
            alert["alert_id"],
            alert["revision"],
            str(alert["user_id"]),  # None on a ring alert
            alert["score"],
            alert["anomaly_type"],
            tuple(alert.get("event_ids") or alert.get("accounts")),  # a ring alert names its accounts
            json.dumps(alert["reasons"], sort_keys=True),
        )

    replayed_alerts = sorted(essence(json.loads(line)) for line in alerts_file.read_text().splitlines())
    assert replayed_alerts == sorted(essence(a) for a in detection["alerts"])
    replayed_late = [json.loads(line) for line in alerts_file.with_suffix(".late.jsonl").read_text().splitlines()]
    assert replayed_late == detection["late"]
