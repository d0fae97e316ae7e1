"""Bad timing never breaks a user's history: late events and duplicates are kept out, state stays bounded."""

from shopguard.config import JobSettings
from shopguard.udfs.admission import admit_event
from shopguard.udfs.events import Event
from shopguard.udfs.user_state import UserState

T0 = 1_511_658_000_000
SETTINGS = JobSettings(max_out_of_orderness_ms=10_000, allowed_lateness_ms=60_000)


def feed(state, events):
    return [admit_event(state, event, SETTINGS)[0] for event in events]


def test_events_out_of_order_within_the_bound_and_the_lateness_are_scored():
    state = UserState()
    verdicts = feed(
        state,
        [
            Event("a", "u", "page_view", T0 + 60_000),
            Event("b", "u", "page_view", T0 + 1),
            Event("c", "u", "page_view", T0 + 70_000),
        ],
    )
    assert verdicts == ["accepted", "accepted", "accepted"]


def test_an_event_older_than_the_user_s_watermark_by_more_than_the_lateness_is_late_and_changes_nothing():
    state = UserState()
    feed(state, [Event("a", "u", "page_view", T0 + 600_000)])
    before = state.to_bytes()
    verdict, watermark = admit_event(state, Event("old", "u", "page_view", T0), SETTINGS)
    assert (verdict, watermark) == ("late", T0 + 590_000)
    assert state.to_bytes() == before


def test_a_clock_jump_forward_makes_the_user_s_following_events_late_but_not_other_users():
    jumped, other = UserState(), UserState()
    verdicts = feed(
        jumped,
        [
            Event("a", "u", "page_view", T0),
            Event("jump", "u", "page_view", T0 + 365 * 86_400_000),
            Event("b", "u", "page_view", T0 + 1000),
        ],
    )
    assert verdicts == ["accepted", "accepted", "late"]
    assert feed(other, [Event("x", "v", "page_view", T0 + 1000)]) == ["accepted"]


def test_a_clock_jump_backward_beyond_the_lateness_is_late_and_the_user_carries_on():
    state = UserState()
    verdicts = feed(
        state,
        [
            Event("a", "u", "page_view", T0),
            Event("back", "u", "page_view", T0 - 3_600_000),
            Event("b", "u", "page_view", T0 + 5000),
        ],
    )
    assert verdicts == ["accepted", "late", "accepted"]


def test_a_burst_of_one_user_in_the_same_millisecond_keeps_the_state_bounded():
    state = UserState()
    verdicts = feed(
        state, [Event(f"burst-{i}", "u", "add_to_cart", T0, item_id="hot", quantity=50) for i in range(10_000)]
    )
    assert verdicts == ["accepted"] * 10_000
    assert len(state.to_bytes()) <= 2048


def test_a_retried_event_is_a_duplicate_even_after_other_events():
    state = UserState()
    verdicts = feed(
        state, [Event("a", "u", "purchase", T0), Event("b", "u", "page_view", T0 + 1), Event("a", "u", "purchase", T0)]
    )
    assert verdicts == ["accepted", "accepted", "duplicate"]
