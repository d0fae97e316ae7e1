"""Per-user state: duplicates dropped, bounded size, a byte-exact round trip."""

from hypothesis import given, settings
from hypothesis import strategies as st

from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.user_state import UserState

T0 = 1_511_658_000_000
LIMITS = dict(history_length=32, dedup_window=64, recent_ids=8)


def test_a_repeated_event_id_is_a_duplicate_and_leaves_the_state_unchanged():
    state = UserState()
    assert state.accept(Event("e1", "u", "page_view", T0), **LIMITS)
    before = state.to_bytes()
    assert not state.accept(Event("e1", "u", "purchase", T0 + 5), **LIMITS)
    assert state.to_bytes() == before


def test_duplicates_are_remembered_for_the_dedup_window_only():
    state = UserState()
    for i in range(65):
        state.accept(Event(f"e{i}", "u", "page_view", T0 + i), **LIMITS)
    assert not state.is_duplicate("e0") and state.is_duplicate("e1") and state.is_duplicate("e64")


def test_a_user_with_a_million_events_keeps_a_bounded_state():
    state = UserState()
    for i in range(20_000):  # the size is fixed once the windows are full; 20k stands for millions
        state.accept(Event(f"{i:036d}", "u", "page_view", T0 + 1000 * i, item_id=str(i)), **LIMITS)
    assert len(state.to_bytes()) <= 2048
    assert len(state.history.codes) == 32 * 4 and len(state.recent_event_ids) == 8


def test_the_history_in_state_is_the_training_encoder_s_window():
    events = [Event(f"e{i}", "u", "add_to_cart", T0 + 700 * i, price=9.5, quantity=i % 3 + 1) for i in range(40)]
    state = UserState()
    for event in events:
        state.accept(event, **LIMITS)
    assert state.history.codes == encode_user_events(events, 32)[-1]


def test_an_event_from_the_past_does_not_move_the_user_s_clock_back():
    state = UserState()
    state.accept(Event("e1", "u", "page_view", T0 + 60_000), **LIMITS)
    state.accept(Event("e0", "u", "page_view", T0), **LIMITS)  # out of order, within the bound
    assert state.history.last_ts_ms == T0 + 60_000


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30),
    gaps=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
)
def test_the_state_survives_a_round_trip_through_bytes(ids, gaps):
    state = UserState()
    ts = T0
    for event_id, gap in zip(ids, gaps * len(ids)):
        ts += gap
        state.accept(Event(event_id, "u", "page_view", ts, device_id=event_id), **LIMITS)
    restored = UserState.from_bytes(state.to_bytes())
    assert restored == state and restored.to_bytes() == state.to_bytes()
    assert UserState.from_bytes(state.to_bytes().decode("latin-1").encode("latin-1")) == state  # as kept in Flink
