"""The parse step: every record leaves once, a valid event keyed by its user, anything else as a dead letter."""

import json

from shopguard.config import ShopguardConfig
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.parse_events import DEAD_LETTERS, ParseEvents
from tests.unit.flink_fakes import Runtime

CFG = ShopguardConfig()


def _parse(raw: bytes):
    step, runtime = ParseEvents(CFG.validation, IdentifierHashing.from_settings(CFG.privacy, {})), Runtime()
    step.open(runtime)
    return list(step.process_element(raw, None)), runtime.metrics.counters


def test_a_valid_event_leaves_with_its_user_id_in_front_ready_to_be_keyed():
    event = Event("e-1", "u-7", "page_view", 1_511_658_000_000, item_id="i-3", device_id="d-1")
    (row,), counters = _parse(event.to_json().encode())
    assert row[0] == "u-7" and Event(*row[1]) == event
    assert counters["events_in"].count == counters["events_valid"].count == 1 and counters["dead_letters"].count == 0


def test_a_record_that_is_not_json_leaves_as_a_counted_dead_letter_and_nothing_else():
    (output,), counters = _parse(b"{not json")
    tag, letter = output
    assert tag is DEAD_LETTERS and json.loads(letter[1])["reason"]
    assert counters["dead_letters"].count == 1 and counters["events_valid"].count == 0
