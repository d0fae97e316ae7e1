"""What the keyed step reads back from the state it just wrote, instead of computing it again."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from shopguard.udfs.events import Event
from shopguard.udfs.user_state import UserState, recent_ids_json, session_part

_ids = st.text(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_ids, st.sampled_from(["page_view", "purchase", "login"]), st.integers(0, 10**7)), max_size=12),
    st.booleans(),
)
def test_the_session_part_of_the_state_bytes_is_the_session_as_packed(events, with_signup):
    state = UserState(signup_ms=5 if with_signup else None)
    for event_id, kind, ts in events:
        state.accept(Event(event_id, "u", kind, ts, item_id=event_id), history_length=8, dedup_window=8, recent_ids=3)
    assert session_part(state.to_bytes()) == state.session.to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(_ids, max_size=8))
def test_recent_ids_read_back_from_their_json_are_the_ids(ids):
    assert json.loads(recent_ids_json(ids)) == ids


def test_an_id_orjson_refuses_is_written_by_json():
    assert json.loads(recent_ids_json(["\ud800", "e2"])) == ["\ud800", "e2"]
