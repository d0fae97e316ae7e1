"""No raw IP address or device id leaves the job: dead letters, late events and alerts.

Dead letters and late events carry input records back out, so their ``ip`` and ``device_id`` are
pseudonymised (:mod:`shopguard.udfs.identifier_hashing`); alerts never receive those fields at all.
"""

import json
import re

import pytest

from shopguard.config import ValidationSettings
from shopguard.udfs.alert_decision import CROSSING_FIELDS
from shopguard.udfs.alerts import build_alert
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event, InvalidEvent, dead_letter_for, parse_event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.user_history import SCORING_ROW, late_event_message

T0 = 1_511_658_000_000
HASHING = IdentifierHashing(key=b"test-salt")
IP, DEVICE = "203.0.113.7", "phone-4711"
RAW_VALUES = (IP, DEVICE, "203.0.113")


def event_json(**changes) -> dict:
    body = {
        "event_id": "e1",
        "user_id": "u1",
        "event_type": "teleport",
        "ts": T0,
        "ip": IP,
        "device_id": DEVICE,
        "user_agent": "Mozilla/5.0",
    }
    body.update(changes)
    return body


def letter_for(raw: bytes, hashing=HASHING, keep_bytes=4096) -> dict:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, ValidationSettings(max_event_bytes=8192), now_ms=T0)
    return json.loads(dead_letter_for(raw, caught.value, hashing, keep_bytes=keep_bytes).to_json(rejected_at_ms=T0))


def assert_no_raw_identifier(text: str) -> None:
    for raw in RAW_VALUES:
        assert raw not in text, f"{raw!r} leaked: {text[:300]}"


def test_a_dead_letter_of_a_json_object_carries_pseudonyms_and_the_rest_unchanged():
    letter = letter_for(json.dumps(event_json()).encode())
    assert letter["reason"] == "unknown_event_type" and letter["user_id"] == "u1"
    record = json.loads(letter["record"])
    assert record == {**event_json(), "ip": HASHING.pseudonym(IP), "device_id": HASHING.pseudonym(DEVICE)}
    assert_no_raw_identifier(json.dumps(letter))


def test_identifiers_of_the_wrong_type_or_nested_are_hashed_too():
    raw = json.dumps([event_json(ip=[IP], device_id={"id": DEVICE}), {"context": {"ip": IP}}]).encode()
    letter = letter_for(raw)
    assert letter["reason"] == "not_an_object"
    assert_no_raw_identifier(json.dumps(letter))
    assert json.loads(letter["record"])[1]["context"]["ip"] == HASHING.pseudonym(IP)


def test_a_dead_letter_without_identifiers_keeps_the_record_exactly_as_it_came():
    raw = b'{"event_id": "e1",  "user_id": "u1", "event_type": "teleport", "ts": 1}'
    assert letter_for(raw)["record"] == raw.decode()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"user_id": "u1", "ip": "203.0.113.7", "device_id": "phone-4711", ',  # malformed JSON
        b'{"user_id": "u1\xff", "ip": "203.0.113.7", "device_id": "phone-4711"}',  # not UTF-8
    ],
)
def test_text_that_is_not_json_keeps_its_text_with_identifier_pairs_hashed(raw):
    letter = letter_for(raw)
    assert_no_raw_identifier(letter["record"])
    assert letter["record"].startswith('{"user_id": "u1')
    assert f'"ip": "{HASHING.pseudonym(IP)}"' in letter["record"]


def test_an_oversized_record_is_cut_at_the_limit_and_the_identifiers_in_what_is_kept_are_hashed():
    raw = json.dumps(event_json(event_type="page_view", padding="x" * 9000)).encode()
    letter = letter_for(raw, keep_bytes=200)
    assert letter["reason"] == "oversized" and letter["record_bytes"] == len(raw)
    assert len(letter["record"].encode()) <= 200 + 20  # a pseudonym may be longer than the value it replaces
    assert_no_raw_identifier(letter["record"])


def test_a_record_cut_inside_an_identifier_leaks_no_part_of_it():
    raw = json.dumps(event_json(event_type="page_view", padding="x" * 9000)).encode()
    cut = raw.index(IP.encode()) + 9  # the limit falls inside the IP address
    letter = letter_for(raw, keep_bytes=cut)
    assert "203.0.113" not in letter["record"]
    assert re.search(r'"ip": "h:[0-9a-f]{16}"$', letter["record"])


def test_with_hashing_off_the_dead_letter_is_the_record_as_it_came():
    raw = json.dumps(event_json()).encode()
    assert letter_for(raw, hashing=IdentifierHashing(key=None))["record"] == raw.decode()


def test_a_late_event_carries_pseudonyms_and_the_rest_of_the_event():
    event = Event("e1", "u1", "login", T0, session_id="s1", ip=IP, device_id=DEVICE, user_agent="Mozilla/5.0")
    message = late_event_message(event, T0 + 120_000, HASHING)
    assert_no_raw_identifier(message)
    late = json.loads(message)
    assert late["late_by_ms"] == 120_000 and late["event"] == {
        **json.loads(event.to_json()),
        "ip": HASHING.pseudonym(IP),
        "device_id": HASHING.pseudonym(DEVICE),
    }
    assert json.loads(late_event_message(event, T0, IdentifierHashing(key=None)))["event"]["ip"] == IP


def test_the_alert_path_never_receives_an_ip_or_a_device_id():
    identity = {"ip", "device_id", "user_agent"}
    assert not identity & set(SCORING_ROW.get_field_names())
    assert not identity & set(CROSSING_FIELDS)


def test_an_alert_built_from_events_with_ips_and_devices_shows_neither():
    events = [
        Event(f"e{i}", "u1", "login_failed", T0 + 1000 * i, ip=f"{IP[:-1]}{i}", device_id=f"{DEVICE}-{i}")
        for i in range(6)
    ]
    alert = build_alert(
        user_id="u1",
        session_id="s1",
        event_id="e5",
        event_ts=events[-1].ts_ms,
        codes=encode_user_events(events, 32)[-1],
        recent_event_ids=[e.event_id for e in events],
        score=0.97,
        threshold=0.9,
        model_version="m1",
        detected_at_ms=T0 + 60_000,
    )
    text = json.dumps(alert)
    assert {r["feature"] for r in alert["reasons"]} >= {"new_device", "new_ip"}  # the changes are described...
    assert not [value for e in events for value in (e.ip, e.device_id) if value in text]  # ...not the values
    assert DEVICE not in text and "203.0.113" not in text
