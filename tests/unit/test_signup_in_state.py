"""The user's signup time in keyed state: kept, round-tripped, and absent from states that never saw a signup."""

import math

from shopguard.udfs.events import Event
from shopguard.udfs.user_state import LAYOUT, SIGNUP_MARK, UserState

T0 = 1_511_658_000_000
LIMITS = dict(history_length=4, dedup_window=8, recent_ids=2)
# A state without a signup time (three page views of u1 on d1): its layout tag, then the state's parts.
NO_SIGNUP_STATE = LAYOUT.tag + bytes.fromhex(
    "3c00180062001c004063d8f55f010000000000000000000066bc96110000000000000000000000000000000000000000000000000000"
    "000001000000010800000108000011b5e1d53ae82b141b5d5e51f54f0f04fed135082f0eff78808ed6f55f0100000000000003000300"
    "000000000000000000000000000000000000000000000000000000007800000002000d6c12eb8871204007e6b07837e64040808ed6f5"
    "5f0100000300030000000100000000000000000000000000000000000000000000000000000000000000000000000000ffffffffffff"
    "ffff0200653102006532"
)


def test_a_state_without_a_signup_loads_without_one():
    state = UserState.from_bytes(NO_SIGNUP_STATE)
    assert state.signup_ms is None and state.recent_event_ids == ["e1", "e2"]
    assert math.isnan(state.seconds_since_signup(T0))
    assert state.to_bytes() == NO_SIGNUP_STATE  # and is written back the same way


def test_the_signup_time_survives_a_round_trip_and_costs_ten_bytes():
    state = UserState.from_bytes(NO_SIGNUP_STATE)
    state.signup_ms = T0
    data = state.to_bytes()
    assert data.startswith(LAYOUT.tag + SIGNUP_MARK) and len(data) == len(NO_SIGNUP_STATE) + 10
    restored = UserState.from_bytes(data.decode("latin-1").encode("latin-1"))  # as kept in Flink
    assert restored == state and restored.to_bytes() == data
    assert restored.seconds_since_signup(T0 + 40_000) == 40.0
    assert math.isnan(restored.seconds_since_signup(T0 - 1))  # before the account was opened: unknown


def test_a_signup_event_sets_the_signup_time_and_a_later_one_does_not_move_it():
    state = UserState()
    state.accept(Event("s1", "u1", "signup", T0 + 5_000, device_id="d1"), **LIMITS)
    state.accept(Event("p1", "u1", "purchase", T0 + 45_000, price=10.0), **LIMITS)
    state.accept(Event("s2", "u1", "signup", T0 + 90_000), **LIMITS)
    assert state.signup_ms == T0 + 5_000 and state.seconds_since_signup(T0 + 45_000) == 40.0
    state.accept(Event("s0", "u1", "signup", T0), **LIMITS)  # an earlier signup, arriving late
    assert state.signup_ms == T0
