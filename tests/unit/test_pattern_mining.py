"""Mining profiles: IDF across users, pruning, bounds on huge histories, and the settings it refuses."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopguard.config import ConfigError, PatternSettings
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.pattern_mining import mine_patterns, user_token_streams
from shopguard.udfs.behaviour_tokens import (
    MAX_SEQUENCE_LENGTH,
    all_sequences,
    sequence_id,
    sequence_length,
    sequence_tokens,
)
from shopguard.udfs.events import Event
from shopguard.udfs.pattern_store import PatternStore


def traffic_of(histories):
    events = [
        Event(f"{user}-{i}", user, kind, 10_000 * i)
        for user, kinds in histories.items()
        for i, kind in enumerate(kinds)
    ]
    return encode_traffic(LabelledTraffic(sorted(events, key=lambda e: e.ts_ms), []), 8)


def test_sequences_everyone_performs_are_left_out_of_profiles():
    histories = {f"u{i}": ["page_view"] * 5 for i in range(20)}
    histories["odd"] = ["page_view", "login_failed", "login_failed", "page_view"]
    mined = mine_patterns(traffic_of(histories), PatternSettings(min_idf=(1.0, 1.0, 1.0)))
    profiles = {user: seqs for user, _, seqs in mined.profiles}
    assert all(profiles[f"u{i}"] == [] for i in range(20))
    assert len(profiles["odd"]) > 0 and mined.users == 21


def test_profiles_keep_at_most_the_configured_number_of_sequences():
    kinds = ["page_view", "search", "favorite", "add_to_cart", "review", "checkout"] * 10
    mined = mine_patterns(
        traffic_of({"u": kinds, "v": ["login"] * 3}), PatternSettings(min_idf=(0.0,), max_profile_sequences=5)
    )
    assert max(len(seqs) for _, _, seqs in mined.profiles) == 5


def test_a_huge_history_is_read_only_up_to_its_newest_events():
    traffic = traffic_of({"whale": ["page_view", "search"] * 5000, "u": ["login"] * 3})
    assert len(user_token_streams(traffic, max_events=100)["whale"]) == 100
    mined = mine_patterns(traffic, PatternSettings(max_history_events=100))
    assert dict((u, n) for u, n, _ in mined.profiles) == {"whale": 100, "u": 3}


def test_the_idf_table_is_bounded_and_keeps_the_most_common_sequences(tmp_path):
    histories = {f"u{i}": ["page_view"] * 3 + ["search"] * (i % 4) for i in range(12)}
    mined = mine_patterns(traffic_of(histories), PatternSettings(max_idf_sequences=2))
    assert len(mined.document_frequency) == 2
    assert max(mined.document_frequency.values()) == 12  # page_view -> page_view: everyone
    store = PatternStore.open(mined.write(tmp_path, PatternSettings()), 1000, 0.01)
    assert store.users == 12 and store.meta["max_length"] == "3"


@pytest.mark.parametrize(
    "changes", [dict(min_length=3, max_length=2), dict(max_length=6), dict(min_length=0), dict(min_idf=())]
)
def test_impossible_settings_are_refused_by_name(changes):
    with pytest.raises(ConfigError, match="patterns\\."):
        mine_patterns(traffic_of({"u": ["login"] * 3}), PatternSettings(**changes))


@given(st.lists(st.integers(0, 4095), min_size=1, max_size=MAX_SEQUENCE_LENGTH))
def test_a_sequence_id_gives_back_its_tokens_and_length(tokens):
    assert sequence_tokens(sequence_id(tokens)) == tokens
    assert sequence_length(sequence_id(tokens)) == len(tokens)
    assert 0 <= sequence_id(tokens) < 2**63


def test_every_sequence_of_the_lengths_asked_is_counted():
    assert len(list(all_sequences([1, 2, 3, 4], 2, 3))) == 3 + 2
