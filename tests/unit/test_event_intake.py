"""The job's door: every record is judged once, a valid event or a counted dead letter, never dropped."""

import json

from shopguard.config import ShopguardConfig
from shopguard.udfs.event_intake import EventIntake
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from tests.unit.flink_fakes import Metrics

CFG = ShopguardConfig()
NOW_MS = 1_511_658_000_000


def _read(raw: bytes):
    intake, metrics = EventIntake(CFG.validation, IdentifierHashing.from_settings(CFG.privacy, {})), Metrics()
    intake.open(metrics)
    return intake.read(raw, NOW_MS), metrics.counters


def test_a_valid_event_comes_out_as_the_event_and_is_counted_in_and_valid():
    event = Event("e-1", "u-7", "page_view", NOW_MS, item_id="i-3", device_id="d-1")
    read, counters = _read(event.to_json().encode())
    assert read == event
    assert counters["events_in"].count == counters["events_valid"].count == 1 and counters["dead_letters"].count == 0


def test_a_record_that_is_not_json_becomes_a_dead_letter_counted_by_reason():
    letter, counters = _read(b"{not json")
    assert json.loads(letter[1])["reason"] == "malformed_json" and letter[0] is None
    assert counters["dead_letters"].count == counters["dead_letters_malformed_json"].count == 1
    assert counters["events_valid"].count == 0


def test_a_dead_letter_is_keyed_by_the_user_id_it_names_with_the_device_id_hashed():
    raw = json.dumps(
        {"event_id": "e-1", "user_id": "u-7", "event_type": "teleport", "ts": NOW_MS, "device_id": "phone-1"}
    ).encode()
    letter, counters = _read(raw)
    body = json.loads(letter[1])
    assert letter[0] == "u-7" and body["reason"] == "unknown_event_type" and "phone-1" not in letter[1]
    assert counters["dead_letters_unknown_event_type"].count == 1
