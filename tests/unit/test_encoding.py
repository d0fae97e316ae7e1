"""The event encoder: compact codes in state, the same features for the job and for training."""

import numpy as np

from shopguard.udfs.encoding import (
    CODE_BYTES,
    FEATURE_NAMES,
    UserHistory,
    batch_features,
    describe_codes,
    encode_user_events,
)
from shopguard.udfs.events import EVENT_TYPES, Event

T0 = 1_511_658_000_000


def events_of(*specs):
    return [Event(f"e{i}", "u1", kind, T0 + offset_ms, **extra) for i, (kind, offset_ms, extra) in enumerate(specs)]


def test_the_history_keeps_only_the_last_l_codes_and_stays_small():
    history = UserHistory()
    for event in events_of(*[("page_view", 1000 * i, {}) for i in range(100)]):
        history.advance(event, history_length=32)
    assert len(history.codes) == 32 * CODE_BYTES
    assert len(history.to_bytes()) == 48 + 32 * CODE_BYTES


def test_state_bytes_round_trip():
    history = UserHistory()
    for event in events_of(("login", 0, {"device_id": "d1", "ip": "1.1.1.1"}), ("purchase", 5000, {"price": 30.0})):
        history.advance(event, 8)
    assert UserHistory.from_bytes(history.to_bytes()) == history
    assert UserHistory.from_bytes(None) == UserHistory()


def test_each_feature_column_reads_what_its_name_says():
    events = events_of(
        ("page_view", 0, {"item_id": "a", "category_id": "c", "device_id": "d1", "ip": "ip1"}),
        (
            "add_to_cart",
            500,
            {"item_id": "b", "category_id": "c", "price": 60.0, "quantity": 3, "device_id": "d2", "ip": "ip1"},
        ),
        ("purchase", 3_600_000, {"item_id": "b", "price": 2000.0, "quantity": 1}),
    )
    x = batch_features(encode_user_events(events, 4)[-1:], 4)[0]
    col = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
    assert col["present"].tolist() == [0, 1, 1, 1]
    assert col["type=page_view"].tolist() == [0, 1, 0, 0] and col["type=purchase"].tolist() == [0, 0, 0, 1]
    assert col["first_event"].tolist() == [0, 1, 0, 0]
    assert col["fast_gap"].tolist() == [0, 0, 1, 0]
    assert col["new_item"].tolist() == [0, 0, 1, 0] and col["new_category"].tolist() == [0, 0, 0, 0]
    assert col["new_device"].tolist() == [0, 0, 1, 0] and col["new_ip"].tolist() == [0, 0, 0, 0]
    assert col["price_bucket"][2] == np.float32(4 / 7) and col["price_bucket"][3] == np.float32(7 / 7)
    assert col["quantity_bucket"][2] == np.float32(3 / 6)
    assert col["gap_bucket"][3] > col["gap_bucket"][2] > 0


def test_a_batch_is_the_stack_of_single_windows_left_padded():
    windows = encode_user_events(events_of(*[(t, 700 * i, {}) for i, t in enumerate(EVENT_TYPES)]), 6)
    batch = batch_features(windows, 6)
    assert batch.shape == (len(EVENT_TYPES), 6, len(FEATURE_NAMES)) and batch.dtype == np.float32
    for i, window in enumerate(windows):
        np.testing.assert_array_equal(batch[i], batch_features([window], 6)[0])


def test_encoding_is_deterministic_and_does_not_mutate_its_input():
    events = events_of(("login_failed", 0, {}), ("login_failed", 800, {}), ("login", 1600, {"device_id": "x"}))
    before = list(events)
    assert encode_user_events(events, 32) == encode_user_events(events, 32)
    assert events == before


def test_describe_codes_counts_what_an_analyst_asks_about():
    events = events_of(*[("payment_failed", 1000 * i, {"price": 1.0}) for i in range(5)])
    counts = describe_codes(encode_user_events(events, 32)[-1])
    assert counts == {
        "events": 5,
        "payment_failed": 5,
        "fast_gaps": 4,
        "new_item": 0,
        "new_category": 0,
        "new_device": 0,
        "new_ip": 0,
    }


def test_switching_between_known_devices_is_not_new_but_a_stranger_device_is():
    from shopguard.udfs.encoding import KNOWN_IDENTITIES, NEW_DEVICE, NEW_IP

    devices = ["phone", "laptop", "phone", "laptop", "stranger", "phone"]
    events = [Event(f"e{i}", "u", "page_view", 1000 * i, device_id=d, ip="1.1.1.1") for i, d in enumerate(devices)]
    flags = [w[-1] & NEW_DEVICE for w in encode_user_events(events, 8)]
    assert [bool(f) for f in flags] == [False, True, False, False, True, False]
    many = [Event(f"e{i}", "u", "page_view", 1000 * i, ip=f"10.0.0.{i % (KNOWN_IDENTITIES + 1)}") for i in range(12)]
    assert all(w[-1] & NEW_IP for w in encode_user_events(many, 8)[1:])  # five IPs in turn: each forgotten by its turn
    restored = UserHistory.from_bytes(UserHistory(devices=(3, 2, 1), ips=(9,), codes=b"abcd").to_bytes())
    assert restored.devices == (3, 2, 1) and restored.ips == (9,) and restored.codes == b"abcd"


def _fresh(windows) -> list[bool]:
    from shopguard.udfs.encoding import FRESH_IDENTITY, NEW_DEVICE, NEW_IP

    return [bool(w[-1] & (NEW_DEVICE | NEW_IP | FRESH_IDENTITY)) for w in windows]


def test_a_visit_a_new_device_opens_stays_on_a_new_device_until_it_ends():
    steps = [
        ("phone", 0),
        ("stranger", 60_000),
        ("stranger", 120_000),
        ("stranger", 900_000),
        ("stranger", 900_000 + 31 * 60_000),
    ]  # the last one after a break: a new visit, the device now known
    events = [Event(f"e{i}", "u", "page_view", ts, device_id=d, ip="1.1.1.1") for i, (d, ts) in enumerate(steps)]
    assert _fresh(encode_user_events(events, 8)) == [False, True, True, True, False]


def test_going_back_to_a_known_device_or_ip_ends_the_new_one():
    steps = [("phone", "ip1"), ("stranger", "ip1"), ("phone", "ip1"), ("phone", "ip1")]
    events = [Event(f"e{i}", "u", "page_view", 1000 * i, device_id=d, ip=ip) for i, (d, ip) in enumerate(steps)]
    assert _fresh(encode_user_events(events, 8)) == [False, True, False, False]
    steps = [("phone", "ip1"), ("phone", "ip2"), ("phone", "ip2"), ("phone", "ip1")]
    events = [Event(f"e{i}", "u", "page_view", 1000 * i, device_id=d, ip=ip) for i, (d, ip) in enumerate(steps)]
    assert _fresh(encode_user_events(events, 8)) == [False, True, True, False]


def test_an_event_without_device_or_ip_keeps_the_visit_on_its_new_device():
    events = [
        Event("a", "u", "page_view", 0, device_id="phone"),
        Event("b", "u", "login", 1000, device_id="stranger"),
        Event("c", "u", "page_view", 2000),
        Event("d", "u", "purchase", 3000, device_id="stranger", price=900.0),
    ]
    assert _fresh(encode_user_events(events, 8)) == [False, True, True, True]


def test_the_models_read_the_same_features_with_or_without_the_fresh_identity_flag():
    from shopguard.udfs.encoding import FRESH_IDENTITY

    code = bytes((1, 5, 0x21, 0))
    flagged = bytes((1, 5, 0x21, FRESH_IDENTITY))
    assert np.array_equal(batch_features([code], 4), batch_features([flagged], 4))


def test_a_review_s_rating_is_in_its_code_and_read_as_stars_over_five():
    from shopguard.udfs.encoding import RATING_SHIFT, describe_event_code

    events = events_of(
        ("purchase", 0, {"item_id": "a", "price": 30.0, "quantity": 1}),
        ("review", 60_000, {"item_id": "a", "rating": 1}),
        ("review", 120_000, {"item_id": "a", "rating": 5}),
        ("review", 180_000, {"item_id": "a"}),
    )
    window = encode_user_events(events, 4)[-1]
    assert [window[i + 3] >> RATING_SHIFT for i in range(0, 16, 4)] == [0, 1, 5, 0]
    x = batch_features([window], 4)[0]
    assert x[:, FEATURE_NAMES.index("rating")].tolist() == [0, np.float32(1 / 5), 1, 0]
    assert x[:, FEATURE_NAMES.index("new_item")].tolist() == [0, 0, 0, 0], "the rating bits are no flag"
    assert describe_event_code(window[4:8]).endswith("rating 1 of 5")


def test_a_signup_has_its_own_type_column_and_the_other_types_keep_theirs():
    from shopguard.udfs.encoding import CODE_BYTES as WIDTH

    events = events_of(("signup", 0, {"device_id": "d1", "channel": "app"}), ("page_view", 30_000, {"item_id": "i"}))
    window = encode_user_events(events, 4)[-1]
    assert len(window) == 2 * WIDTH and window[0] == len(EVENT_TYPES) and window[WIDTH] == 1
    x = batch_features([window], 4)[0]
    assert x[2, FEATURE_NAMES.index("type=signup")] == 1 and x[2, FEATURE_NAMES.index("first_event")] == 1
    assert x[3, FEATURE_NAMES.index("type=page_view")] == 1
