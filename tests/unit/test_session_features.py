"""Sessions: cut by inactivity when producers send no session id, in a fixed 98 bytes (44 before the profile)."""

from shopguard.udfs.events import Event
from shopguard.udfs.user_state import UserState

T0 = 1_511_658_000_000
MINUTE = 60_000


def state_after(events, gap_ms=30 * MINUTE):
    state = UserState()
    for event in events:
        state.accept(event, 32, 64, 8, gap_ms)
    return state


def test_a_long_pause_starts_a_new_session_named_after_its_first_event():
    state = state_after(
        [
            Event("a", "u", "page_view", T0),
            Event("b", "u", "page_view", T0 + 5 * MINUTE),
            Event("c", "u", "page_view", T0 + 50 * MINUTE),
        ]
    )
    assert state.session.session_id("u") == f"u:{T0 + 50 * MINUTE}"
    assert state.session.summary("u")["events"] == 1


def test_the_producer_s_session_id_wins_over_the_inactivity_gap():
    state = state_after(
        [
            Event("a", "u", "page_view", T0, session_id="s1"),
            Event("b", "u", "page_view", T0 + 90 * MINUTE, session_id="s1"),
            Event("c", "u", "purchase", T0 + 91 * MINUTE, session_id="s2"),
        ]
    )
    summary = state.session.summary("u", T0 + 91 * MINUTE)
    assert summary["events"] == 1 and summary["purchases"] == 1


def test_the_session_counts_funnel_steps_failures_identity_changes_and_distinct_items():
    events = [
        Event(
            f"v{i}", "u", "page_view", T0 + 1000 * i, item_id=f"item{i}", category_id="c1", device_id="d1", ip="1.1.1.1"
        )
        for i in range(10)
    ]
    events += [
        Event("cart", "u", "add_to_cart", T0 + 11_000, item_id="item9", device_id="d2", ip="1.1.1.1"),
        Event("fail", "u", "payment_failed", T0 + 12_000, device_id="d2", ip="2.2.2.2"),
        Event("buy", "u", "purchase", T0 + 13_000, item_id="item9"),
    ]
    summary = state_after(events).session.summary("u", T0 + 13_000)
    assert (
        summary["events"],
        summary["page_views"],
        summary["carts"],
        summary["purchases"],
        summary["payment_failed"],
        summary["identity_changes"],
    ) == (13, 10, 1, 1, 1, 2)
    assert 9 <= summary["distinct_items"] <= 11 and summary["distinct_categories"] == 1
    assert summary["duration_s"] == 13.0 and summary["events_per_minute"] == 60.0


def test_the_session_survives_the_state_round_trip():
    state = state_after([Event("a", "u", "login_failed", T0, session_id="s")])
    assert UserState.from_bytes(state.to_bytes()).session == state.session
    assert len(state.session.to_bytes()) == 98
