"""Parsing and validation of raw records: every kind of bad input has a reason code."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopguard.config import ValidationSettings
from shopguard.udfs.events import DEAD_LETTER_REASONS, EVENT_TYPES, Event, InvalidEvent, dead_letter_for, parse_event
from shopguard.udfs.identifier_hashing import IdentifierHashing

NOW_MS = 1_511_658_000_000  # 2017-11-26T01:00:00Z
LIMITS = ValidationSettings()
NO_HASHING = IdentifierHashing(key=None)  # privacy.hash_identifiers = false: records are kept as they came
HASHING = IdentifierHashing(key=b"test-salt")


def good(**changes):
    body = {
        "event_id": "e1",
        "user_id": "u1",
        "event_type": "add_to_cart",
        "ts": "2017-11-26T01:00:00Z",
        "item_id": "i1",
        "category_id": "c1",
        "price": 12.5,
        "quantity": 2,
        "session_id": "s1",
        "ip": "10.0.0.1",
        "device_id": "d1",
        "user_agent": "Mozilla/5.0",
        "channel": "app",
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def reason_for(raw, limits=LIMITS):
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, limits, NOW_MS)
    assert caught.value.reason in DEAD_LETTER_REASONS
    return caught.value.reason


def test_a_complete_event_is_parsed_with_every_field():
    event = parse_event(good(), LIMITS, NOW_MS)
    assert event == Event(
        "e1", "u1", "add_to_cart", NOW_MS, "s1", "i1", "c1", 12.5, 2, "10.0.0.1", "d1", "Mozilla/5.0", "app"
    )


def test_epoch_milliseconds_and_offsets_give_the_same_instant():
    assert parse_event(good(ts=NOW_MS), LIMITS, NOW_MS).ts_ms == NOW_MS
    assert parse_event(good(ts=str(NOW_MS)), LIMITS, NOW_MS).ts_ms == NOW_MS
    assert parse_event(good(ts="2017-11-26T09:00:00+08:00"), LIMITS, NOW_MS).ts_ms == NOW_MS
    assert parse_event(good(ts="2017-11-26T01:00:00.250Z"), LIMITS, NOW_MS).ts_ms == NOW_MS + 250


def test_numeric_ids_are_read_as_strings_and_optional_fields_may_be_absent():
    event = parse_event(good(user_id=1001, item_id=None, price=..., quantity=..., session_id=...), LIMITS, NOW_MS)
    assert (event.user_id, event.item_id, event.price, event.quantity, event.session_id) == (
        "1001",
        None,
        None,
        None,
        None,
    )


def test_the_event_round_trips_through_its_canonical_json():
    event = parse_event(good(), LIMITS, NOW_MS)
    assert parse_event(event.to_json().encode(), LIMITS, NOW_MS) == event


def test_a_signup_is_an_account_created_with_its_channel_and_device_and_no_item():
    event = parse_event(
        good(event_type="signup", item_id=..., category_id=..., price=..., quantity=...), LIMITS, NOW_MS
    )
    assert (event.event_type, event.channel, event.device_id, event.item_id) == ("signup", "app", "d1", None)
    assert EVENT_TYPES[-1] == "signup", "appended: the codes of the other types stay as they were"


def review(rating):
    return good(event_type="review", price=..., quantity=..., rating=rating)


@pytest.mark.parametrize("rating, stars", [(1, 1), (5, 5), (4.0, 4), (None, None), (..., None)])
def test_a_review_may_carry_a_rating_from_one_to_five(rating, stars):
    event = parse_event(review(rating), LIMITS, NOW_MS)
    assert event.rating == stars
    assert parse_event(event.to_json().encode(), LIMITS, NOW_MS) == event


@pytest.mark.parametrize(
    "raw, reason",
    [
        (review(0), "bad_rating"),
        (review(6), "bad_rating"),
        (review(-1), "bad_rating"),
        (review(1e300), "bad_rating"),
        (review("5"), "wrong_type"),
        (review(4.5), "wrong_type"),
        (review(True), "wrong_type"),
        (review([5]), "wrong_type"),
        (good(rating=5), "bad_rating"),  # an add_to_cart has no stars
        (good(event_type="purchase", rating=1), "bad_rating"),
    ],
)
def test_a_rating_out_of_range_of_the_wrong_type_or_not_on_a_review_is_rejected(raw, reason):
    assert reason_for(raw) == reason


def test_a_huge_rating_is_rejected_with_a_short_detail():
    raw = review(...)[:-1] + (', "rating": 1' + "0" * 400 + "}").encode()
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, LIMITS, NOW_MS)
    assert caught.value.reason == "bad_rating" and len(caught.value.detail) < 100


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"event_id": "e1", "user_id": ', "malformed_json"),
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b'["a", "list"]', "not_an_object"),
        (b'{"a": NaN}', "malformed_json"),
        (good(user_id=...), "missing_field"),
        (good(event_id=""), "missing_field"),
        (good(ts=...), "missing_field"),
        (good(user_id=["u1"]), "wrong_type"),
        (good(user_id=True), "wrong_type"),
        (good(ts=True), "wrong_type"),
        (good(ts={"s": 1}), "wrong_type"),
        (good(price="12.50"), "wrong_type"),
        (good(quantity=1.5), "wrong_type"),
        (good(event_type="teleport"), "unknown_event_type"),
        (good(ts="yesterday"), "bad_timestamp"),
        (good(ts="2017-11-26T01:00:00"), "bad_timestamp"),
        (good(ts=15), "timestamp_too_old"),  # the real corrupt row of the Taobao slice
        (good(ts=NOW_MS + 2 * 86_400_000), "timestamp_in_future"),
        (good(ts="9" * 30), "bad_timestamp"),
        (good(price=-1), "bad_price"),
        (good(quantity=-3), "bad_quantity"),
        (review(9), "bad_rating"),
        (good(user_agent="x" * 300), "field_too_long"),
    ],
)
def test_each_kind_of_bad_record_is_rejected_with_its_reason(raw, reason):
    assert reason_for(raw) == reason


def test_numbers_beyond_any_range_are_rejected_with_a_reason_not_a_crash():
    # Found by tests/integration/test_fuzz_input.py: an integer price too large for a float raised OverflowError.
    huge = "1" + "0" * 400
    assert reason_for(good(price=...)[:-1] + f', "price": {huge}}}'.encode()) == "bad_price"
    assert reason_for(good(quantity=...)[:-1] + f', "quantity": {huge}}}'.encode()) == "bad_quantity"
    assert reason_for(good(ts=...)[:-1] + f', "ts": {huge}}}'.encode()) == "timestamp_in_future"
    assert reason_for(good(ts=...)[:-1] + f', "ts": -{huge}}}'.encode()) == "timestamp_too_old"


def test_an_unpaired_surrogate_escape_is_not_utf8_and_never_reaches_flink_or_a_kafka_key():
    # Found by tests/integration/test_fuzz_input.py: "\ud800" parsed into a string that Flink's Python bridge
    # cannot carry, and the job failed for good.
    assert reason_for(good(user_id="u\ud800")) == "not_utf8"
    assert reason_for(good(user_agent="\udfff Mozilla")) == "not_utf8"
    assert parse_event(good(user_agent="😀 is a pair"), LIMITS, NOW_MS).user_agent == "😀 is a pair"
    raw = good(event_id=..., user_id="u\ud800")  # rejected for another reason first
    letter = dead_letter_for(raw, InvalidEvent("missing_field", "'event_id' is required"), HASHING)
    assert letter.user_id is None
    letter.to_json(rejected_at_ms=NOW_MS).encode("utf-8")  # what Flink will do with it


def test_an_oversized_record_is_rejected_before_it_is_decoded():
    raw = good(user_agent="x" * 200)
    assert reason_for(raw, ValidationSettings(max_event_bytes=100)) == "oversized"


def test_a_dead_letter_keeps_the_reason_the_user_and_a_bounded_copy_of_the_record():
    raw = good(event_type="teleport")
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, LIMITS, NOW_MS)
    letter = json.loads(dead_letter_for(raw, caught.value, NO_HASHING).to_json(rejected_at_ms=NOW_MS))
    assert letter["reason"] == "unknown_event_type" and "teleport" in letter["detail"]
    assert letter["user_id"] == "u1" and letter["record"] == raw.decode() and letter["record_bytes"] == len(raw)
    big = b"x" * 100_000
    letter = dead_letter_for(big, InvalidEvent("oversized", "too big"), HASHING, keep_bytes=1000)
    assert len(letter.record) == 1000 and letter.record_bytes == 100_000 and letter.user_id is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        ["event_id", "user_id", "event_type", "ts", "price", "quantity", "item_id", "ip", "device_id"]
                    ),
                    children,
                    max_size=7,
                )
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_input_gives_an_event_or_a_reasoned_rejection_never_a_crash(raw):
    try:
        parse_event(raw, LIMITS, NOW_MS)
    except InvalidEvent as error:
        assert error.reason in DEAD_LETTER_REASONS
        letter = dead_letter_for(raw, error, HASHING)
        assert letter.reason == error.reason
        assert json.loads(letter.to_json(rejected_at_ms=NOW_MS))["record_bytes"] == len(raw)
