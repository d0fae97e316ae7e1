"""The pattern detector's online matching: IDF skipping, population fallback, learning and its bounds."""

import dataclasses
import sqlite3

import pytest

from shopguard.config import PatternSettings
from shopguard.udfs.behaviour_tokens import sequence_id, sequences_ending_here, window_tokens
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.pattern_matching import PatternMatcher, PatternState
from shopguard.udfs.pattern_store import PATTERNS_FILE, PatternStore, PatternStoreError, write_pattern_store

HOUR = 3_600_000


def window_of(*kinds_and_gaps_s, device="d1"):
    """A window of codes for events of the given kinds, each ``gap`` seconds after the previous one."""
    ts, events = 0, []
    for i, (kind, gap) in enumerate(kinds_and_gaps_s):
        ts += int(gap * 1000)
        events.append(Event(f"e{i}", "u", kind, ts, item_id="i", category_id="c", device_id=device))
    return encode_user_events(events, 32)[-1], ts


def pairs_of(window):
    return sequences_ending_here(window_tokens(window), 2, 2)


def store_with(tmp_path, profiles, document_frequency=None, users=1000):
    path = tmp_path / PATTERNS_FILE
    write_pattern_store(path, users, document_frequency or {}, profiles, meta={})
    return PatternStore.open(path, cache_sequences=10_000, population_min_share=0.01)


SETTINGS = PatternSettings(
    min_length=2,
    max_length=2,
    min_idf=(1.0,),
    recent_events=1,
    min_profile_events=30,
    learn_min_sessions=2.0,
    learn_max_score=0.6,
)
EAGER = dataclasses.replace(SETTINGS, learn_max_score=1.1)  # learns whatever it sees

USUAL, USUAL_TS = window_of(("page_view", 0), ("page_view", 20))
ODD, ODD_TS = window_of(("page_view", 0), ("login_failed", 1))


def test_a_sequence_in_the_users_profile_scores_zero_and_one_outside_it_scores_one(tmp_path):
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, pairs_of(USUAL))]), SETTINGS)
    assert matcher.observe("u", USUAL, USUAL_TS, PatternState()).score == 0.0
    match = matcher.observe("u", ODD, ODD_TS, PatternState())
    assert match.score == 1.0 and match.unmatched == tuple(pairs_of(ODD)) and match.has_profile


def test_sequences_that_most_users_perform_are_skipped(tmp_path):
    everyone = {s: 900 for s in pairs_of(ODD)}  # idf = ln(1001/901) ~ 0.1 < 1.0
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])], everyone), SETTINGS)
    match = matcher.observe("u", ODD, ODD_TS, PatternState())
    assert match.score == 0.0 and match.unmatched == ()


def test_a_user_without_a_profile_falls_back_to_the_population(tmp_path):
    common = {s: 100 for s in pairs_of(USUAL)}  # 10% of users: common, idf ~ 2.3
    matcher = PatternMatcher(store_with(tmp_path, [], common), SETTINGS)
    assert matcher.observe("new", USUAL, USUAL_TS, PatternState()).score == 0.0
    assert matcher.observe("new", ODD, ODD_TS, PatternState()).score == 1.0


def test_a_thin_profile_blends_the_population_in(tmp_path):
    common = {s: 100 for s in pairs_of(USUAL)}
    matcher = PatternMatcher(store_with(tmp_path, [("thin", 15, []), ("rich", 300, [])], common), SETTINGS)
    thin = matcher.observe("thin", USUAL, USUAL_TS, PatternState()).score
    rich = matcher.observe("rich", USUAL, USUAL_TS, PatternState()).score
    assert rich > 0 and thin == pytest.approx(rich / 2)  # half the history it takes to trust a profile


def test_the_score_is_a_moving_share_over_recent_events(tmp_path):
    settings = PatternSettings(min_length=2, max_length=2, min_idf=(1.0,), recent_events=3, learn_max_score=0.0)
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, pairs_of(USUAL))]), settings)
    state = PatternState()
    scores = [matcher.observe("u", w, ts, state).score for w, ts in [(USUAL, 20_000), (ODD, 21_000), (USUAL, 40_000)]]
    assert scores[0] == 0.0 and scores[1] == pytest.approx(2 / 3) and 0.0 < scores[2] < scores[1]


def session_of(kind, start_ms):
    """A new visit (gap over 30 min) followed by ``kind`` a second later: two events in one session."""
    first, _ = window_of(("page_view", 0), ("page_view", start_ms / 1000))
    second, _ = window_of(("page_view", 0), ("page_view", start_ms / 1000), (kind, 1))
    return [(first, start_ms), (second, start_ms + 1000)]


def test_behaviour_is_learned_only_after_it_recurs_in_enough_sessions(tmp_path):
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])]), EAGER)
    state, scores = PatternState(), []
    for session in range(3):
        visit, search = session_of("search", (session + 1) * 5 * HOUR)
        for window, ts in [visit, search, search, search]:  # the search repeated within the session
            scores.append(matcher.observe("u", window, ts, state).score)
        state = PatternState.from_bytes(state.to_bytes())
    assert scores[:8] == [1.0] * 8  # seen in one, then two sessions (decayed a little): not yet the user's
    assert scores[-1] == 0.0  # learned by the third session
    assert all(evidence <= 3 for evidence, _ in state.learned.values())  # once per session, not per event


def test_an_attack_inside_one_session_is_never_learned(tmp_path):
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])]), EAGER)
    state = PatternState()
    odd_pair = pairs_of(ODD)[0]
    for _ in range(50):
        matcher.observe("u", ODD, 5 * HOUR, state)
    assert state.learned[odd_pair][0] < SETTINGS.learn_min_sessions


def test_behaviour_that_scores_abnormal_is_not_learned(tmp_path):
    strict = PatternSettings(min_length=2, max_length=2, min_idf=(1.0,), recent_events=1, learn_max_score=0.3)
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])]), strict)
    state = PatternState()
    matcher.observe("u", ODD, ODD_TS, state)
    assert state.learned == {}


def test_learned_sequences_fade_with_the_half_life(tmp_path):
    settings = PatternSettings(
        min_length=2, max_length=2, min_idf=(1.0,), recent_events=1, learn_max_score=1.1, learn_half_life_days=1.0
    )
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])]), settings)
    state = PatternState()
    for window, ts in session_of("search", HOUR) + session_of("page_view", HOUR + 24 * HOUR):
        matcher.observe("u", window, ts, state)
    evidence = {seq: e for seq, (e, _) in state.learned.items()}
    older, newer = session_of("search", HOUR)[-1][0], session_of("page_view", 25 * HOUR)[-1][0]
    assert evidence[pairs_of(older)[0]] == pytest.approx(0.5, rel=0.01)  # one half-life later
    assert evidence[pairs_of(newer)[0]] == pytest.approx(1.0)


def test_learned_state_stays_within_its_capacity(tmp_path):
    settings = PatternSettings(
        min_length=2, max_length=2, min_idf=(1.0,), recent_events=1, learn_max_score=1.1, learned_capacity=4
    )
    matcher = PatternMatcher(store_with(tmp_path, [("u", 100, [])]), settings)
    state = PatternState()
    kinds = ["search", "favorite", "review", "checkout", "purchase", "login", "refund_request", "add_to_cart"]
    for i, kind in enumerate(kinds):
        for window, ts in session_of(kind, (i + 1) * 5 * HOUR):
            matcher.observe("u", window, ts, state)
    assert len(state.learned) <= 4
    assert len(state.to_bytes()) <= 28 + 20 * 4


def test_state_survives_its_byte_form():
    state = PatternState(0.25, 0.5, 7, 123_456, {sequence_id([1, 2]): (1.5, 6), sequence_id([3, 4, 5]): (0.25, 7)})
    assert PatternState.from_bytes(state.to_bytes()) == state
    assert PatternState.from_bytes(None) == PatternState()


def test_a_missing_store_names_the_file_and_the_command_that_makes_it(tmp_path):
    with pytest.raises(PatternStoreError, match=r"no pattern store at .*patterns\.sqlite.*shopguard train"):
        PatternStore.open(tmp_path / PATTERNS_FILE, 100, 0.01)


def test_a_store_mined_with_other_tokens_is_refused(tmp_path):
    path = tmp_path / PATTERNS_FILE
    write_pattern_store(path, 10, {}, [], meta={})
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'tokens-v0' WHERE key = 'token_spec_version'")
    with pytest.raises(PatternStoreError, match="tokens-v0"):
        PatternStore.open(path, 100, 0.01)


def test_a_corrupt_store_is_refused_with_its_path(tmp_path):
    path = tmp_path / PATTERNS_FILE
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(PatternStoreError, match="cannot read the pattern store"):
        PatternStore.open(path, 100, 0.01)


def test_the_profile_cache_stays_within_its_bound(tmp_path):
    profiles = [(f"u{i}", 50, list(range(1, 101))) for i in range(50)]
    path = tmp_path / PATTERNS_FILE
    write_pattern_store(path, 50, {}, profiles, meta={})
    store = PatternStore.open(path, cache_sequences=500, population_min_share=0.01)
    for i in range(50):
        assert len(store.profile(f"u{i}").sequences) == 100
    assert store._cached_sequences <= 500 and len(store._cache) <= 5


def test_learned_sequences_read_packed_as_unpacked():
    """What a state read from bytes says of a sequence, before and after unpacking, and what it writes back,
    for ids that also occur inside another entry's evidence bytes (a match that does not start an entry)."""
    import random
    import struct

    rng = random.Random(7)
    for _ in range(200):
        learned = {
            rng.getrandbits(63): (rng.choice([0.5, 1.0, 2.0, rng.random() * 4]), rng.randrange(9))
            for _ in range(rng.randrange(25))
        }
        if learned and rng.random() < 0.5:  # an id equal to the bytes of some entry's evidence
            evidence = next(iter(learned.values()))[0]
            learned[struct.unpack("<q", struct.pack("<d", evidence))[0]] = (3.0, 1)
        stored = PatternState(0.25, 0.5, 3, 1_000, learned=dict(learned)).to_bytes()
        packed = PatternState.from_bytes(stored)
        probes = list(learned) + [rng.getrandbits(63) for _ in range(5)]
        assert [packed.evidence(s) for s in probes] == [learned[s][0] if s in learned else None for s in probes]
        assert packed.has_learned == bool(learned) and packed.to_bytes() == stored
        assert packed.learned == learned and packed.to_bytes() == stored  # unpacked, packed anew: the same bytes
        assert [packed.evidence(s) for s in probes] == [learned[s][0] if s in learned else None for s in probes]


def test_learned_sequences_of_a_damaged_state_are_refused():
    stored = PatternState(learned={5: (1.0, 1)}).to_bytes()
    with pytest.raises(ValueError):
        PatternState.from_bytes(stored[:-3])
