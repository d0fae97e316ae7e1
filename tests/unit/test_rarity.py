"""The rarity detector: behaviour profile in keyed state, tail tables, scores, reasons, the artefact, parity."""

import json
import math

import numpy as np
import pytest

from shopguard.config import JobSettings
from shopguard.training.detectors.rarity import RarityDetector
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.rarity_calibration import fit_rarity, user_extremes
from shopguard.udfs.admission import session_profiles
from shopguard.udfs.events import Event
from shopguard.udfs.rarity import (
    DAY_MINUTES,
    FEATURE_NAMES,
    FEATURES,
    RARITY_FILE,
    RarityRefused,
    RarityTables,
    TailTable,
    calibrated,
    decode_profiles,
    distinct,
    profile_features,
)
from shopguard.udfs.session_features import STATE_BYTES, SessionFeatures, _distinct

T0 = 1_511_658_000_000
MINUTE = 60_000


def shopper(user, views, gap_s=45, categories=2, start=T0, cart=True):
    events = [
        Event(
            f"{user}-{i}",
            user,
            "page_view",
            start + int(1000 * gap_s * i),
            item_id=f"i{i}",
            category_id=f"c{i % categories}",
        )
        for i in range(views)
    ]
    if cart:
        events.append(Event(f"{user}-cart", user, "add_to_cart", start + int(1000 * gap_s * views), item_id="i0"))
    return events


def crawler(user, views, gap_s=90, start=T0):
    return [
        Event(
            f"{user}-{i}", user, "page_view", start + int(1000 * gap_s * i), item_id=f"x{i}", category_id=f"k{i * 7919}"
        )
        for i in range(views)
    ]


def real_population(users=300, seed=0):
    rng = np.random.default_rng(seed)
    events = []
    for u in range(users):
        views = int(rng.integers(1, 7))
        events += shopper(
            f"u{u}",
            views,
            gap_s=float(rng.uniform(5, 300)),
            categories=int(rng.integers(1, 3)),
            cart=bool(rng.random() < 0.3),
        )
    return events


@pytest.fixture(scope="module")
def tables():
    return fit_rarity([real_population()], source="test")


def profiles_of(events):
    return session_profiles(sorted(events, key=lambda e: e.ts_ms), JobSettings())


def test_profile_state_is_fixed_size_and_old_44_byte_state_still_loads():
    session = SessionFeatures()
    for event in crawler("x", 5):
        session.advance(event, event.ts_ms - 90_000, False, False, 30 * MINUTE)
    data = session.to_bytes()
    assert len(data) == STATE_BYTES
    assert SessionFeatures.from_bytes(data) == session
    old = SessionFeatures.from_bytes(data[:44])
    assert (old.events, old.page_views, old.gaps, old.day_events) == (5, 5, 0, 0)


def test_gaps_are_counted_within_a_session_and_the_day_outlives_sessions():
    events = crawler("x", 4, gap_s=60) + crawler("y", 3, gap_s=60, start=T0 + 3 * 3_600_000)
    events = [
        Event(e.event_id, "x", e.event_type, e.ts_ms, item_id=e.item_id, category_id=e.category_id) for e in events
    ]
    session = SessionFeatures.from_bytes(profiles_of(events)[-1])
    assert (session.events, session.gaps, session.duration_s) == (3, 2, 120)
    assert session.gap_log_sum == pytest.approx(2 * math.log1p(60))
    assert (session.day_events, session.day_sessions, session.day_page_views, session.day_commitments) == (7, 2, 7, 0)


def test_the_day_starts_again_after_24_hours():
    events = shopper("u", 3) + shopper("u", 2, start=T0 + 25 * 3_600_000, cart=False)
    events = [Event(f"e{i}", "u", e.event_type, e.ts_ms, item_id=e.item_id) for i, e in enumerate(events)]
    session = SessionFeatures.from_bytes(profiles_of(events)[-1])
    assert (session.day_events, session.day_sessions) == (2, 1)


def test_vectorized_decoding_reads_what_session_features_wrote():
    profiles = profiles_of(shopper("u", 6, categories=3)) + [b"", profiles_of(crawler("x", 3))[-1][:44]]
    decoded = decode_profiles(profiles)
    for row, data in zip(decoded, profiles):
        session = SessionFeatures.from_bytes(data)
        assert (int(row["events"]), int(row["page_views"]), int(row["carts"])) == (
            session.events,
            session.page_views,
            session.carts,
        )
        assert distinct(np.array([row["categories"]]))[0] == (
            _distinct(session.categories) if session.categories else 0
        )
    values = profile_features(profiles)
    assert values.shape == (len(profiles), len(FEATURE_NAMES))
    assert np.isnan(values[-2]).all()  # no profile
    assert np.isnan(values[-1, FEATURE_NAMES.index("day_events")])  # old state: a session without its day


def test_tail_table_is_empirical_inside_and_exponential_beyond():
    table = TailTable.fit(np.array([1.0] * 90 + [2.0] * 9 + [3.0]))
    assert table.log_p(np.array([1.0, 2.0, 3.0])).tolist() == pytest.approx([0.0, math.log(0.1), math.log(0.01)])
    beyond = table.log_p(np.array([4.0, 8.0, np.nan]))
    assert beyond[0] < math.log(0.01) and beyond[1] < beyond[0] and np.isnan(beyond[2])
    assert table.log_p(np.array([1e9]))[0] == pytest.approx(math.log(1e-15))


def test_never_applicable_shoppers_count_as_not_extreme():
    table = TailTable.fit(np.array([np.nan] * 90 + [2.0] * 10))
    assert table.log_p(np.array([2.0]))[0] == pytest.approx(math.log(0.1))


def test_ordinary_shoppers_score_low_and_a_slow_broad_crawler_scores_high(tables):
    users = {}
    for event in real_population(100, seed=1):
        users.setdefault(event.user_id, []).append(event)
    real_max = max(max(tables.score(profiles_of(history))) for history in users.values())
    crawl = tables.score(profiles_of(crawler("x", 30, gap_s=120)))
    assert crawl[-1] > real_max and crawl[-1] > 0.999
    within = 1 + int(tables.window_minutes // 2)  # the crawler's views inside the calibration window
    assert 5 < within < 30 and np.all(np.diff(crawl[5:within]) >= 0)  # rarer with every new category
    assert np.all(crawl[within:] > 0.999)  # beyond it, as rare per window as at the window's end
    assert tables.score([]).shape == (0,)


def test_reasons_say_what_is_rare_in_words_and_name_no_identifier(tables):
    events = [
        Event(
            e.event_id,
            "x",
            "page_view",
            e.ts_ms,
            item_id=e.item_id,
            category_id=e.category_id,
            ip="203.0.113.9",
            device_id="dev-secret",
        )
        for e in crawler("x", 30, gap_s=120)
    ]
    reasons = tables.reasons(profiles_of(events)[-1])
    assert reasons and reasons[0]["feature"].startswith("rarity:")
    text = reasons[0]["text"]
    assert text.startswith("30 page views in ") and "never a cart" in text and "of shoppers" in text
    assert "203.0.113.9" not in json.dumps(reasons) and "dev-secret" not in json.dumps(reasons)
    assert tables.reasons(profiles_of(shopper("u", 2))[-1]) == []


def test_the_artefact_round_trips_and_a_malformed_one_is_refused_by_name(tables, tmp_path):
    assert RarityTables.read(tmp_path) is None
    path = tables.write(tmp_path)
    assert path.name == RARITY_FILE
    again = RarityTables.read(tmp_path)
    probe = profiles_of(crawler("x", 12))
    assert np.array_equal(again.score(probe), tables.score(probe))
    body = json.loads(path.read_text())
    body["features"]["session_events"]["values"] = [3.0, 1.0]
    body["features"]["session_events"]["log_survival"] = [0.0, -1.0]
    path.write_text(json.dumps(body))
    with pytest.raises(RarityRefused, match=r"rarity\.json.*session_events.*ascending"):
        RarityTables.read(tmp_path)
    path.write_text(json.dumps({**body, "version": 99}))
    with pytest.raises(RarityRefused, match="version 99"):
        RarityTables.read(tmp_path)


def test_calibration_takes_each_shopper_s_most_extreme_value():
    extremes = user_extremes(shopper("a", 3, cart=False) + shopper("b", 1, cart=False))
    events = extremes[:, FEATURE_NAMES.index("session_events")]
    assert sorted(events.tolist()) == [1.0, 3.0]


def test_offline_detector_scores_exactly_what_the_job_scores_for_each_event(tables):
    events = real_population(40, seed=2) + crawler("x", 25)
    traffic = encode_traffic(LabelledTraffic(sorted(events, key=lambda e: e.ts_ms), []), 8)
    offline = RarityDetector(tables).fit(traffic).score(traffic)
    by_user = {}
    for event in sorted(events, key=lambda e: e.ts_ms):
        by_user.setdefault(event.user_id, []).append(event)
    job = np.concatenate([tables.score(session_profiles(h, JobSettings(history_length=8))) for h in by_user.values()])
    assert np.array_equal(offline, job)


WINDOW_BOUND = {f.name for f in FEATURES if f.window_bound}


def test_window_bound_features_get_no_table_from_data_that_followed_shoppers_for_less_than_a_day(tables, tmp_path):
    assert WINDOW_BOUND == {
        "session_minutes",
        "day_events",
        "day_categories",
        "day_views_per_commitment",
        "day_sessions",
    }
    assert set(calibrated(115.0)) == set(FEATURE_NAMES) - WINDOW_BOUND
    assert set(calibrated(DAY_MINUTES)) == set(calibrated(None)) == set(FEATURE_NAMES)
    assert tables.window_minutes < 60 and not WINDOW_BOUND & set(tables.tables)  # the population spans minutes
    assert RarityTables.read(tables.write(tmp_path).parent).window_minutes == tables.window_minutes
    day = TailTable.fit(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(RarityRefused, match=r"day_sessions.*115 minutes"):
        RarityTables({"day_sessions": day}, window_minutes=115.0)
    assert "day_sessions" in RarityTables({"day_sessions": day}, window_minutes=2 * DAY_MINUTES).tables


def test_a_feature_the_slice_censors_cannot_decide_the_score():
    """Busy days and long dawdling visits look extremely rare to tables fitted without the window (as before), since
    the real data never followed anyone that long; with it, visit minutes and 24-hour totals have no say."""
    real = real_population(400, seed=3)
    rng = np.random.default_rng(4)
    busy_day = [
        Event(f"b{v}-{i}", "b", "page_view", T0 + v * 3 * 3_600_000 + 60_000 * i, item_id=f"i{v}{i}", category_id="c1")
        for v in range(6)
        for i in range(3)
    ]
    gaps_ms = 720_000 * np.exp(rng.normal(0, 0.8, 8))  # about 12 minutes apart, for an hour and a half
    dawdling = [
        Event(f"d{i}", "d", "page_view", T0 + int(gaps_ms[:i].sum()), item_id=f"i{i % 3}", category_id=f"c{i % 2}")
        for i in range(8)
    ]
    extremes = user_extremes(real)
    finite = [i for i in range(len(FEATURES)) if np.isfinite(extremes[:, i]).any()]
    unwindowed = RarityTables.fit({FEATURES[i].name: extremes[:, i] for i in finite})
    windowed = fit_rarity([real])
    for shopper_events in (busy_day, dawdling):
        profiles = profiles_of(shopper_events)
        assert unwindowed.score(profiles).max() > 0.999
        assert windowed.score(profiles).max() < 0.99


def _crawl(views, gap_s, per_category=1, cart_every=0, seed=0):
    """A crawler whose gaps vary (log-normal around ``gap_s``), each ``per_category`` views in a new category."""
    rng = np.random.default_rng(seed)
    events, ts = [], T0
    for i in range(views):
        events.append(Event(f"x{i}", "x", "page_view", int(ts), item_id=f"x{i}", category_id=f"k{i // per_category}"))
        ts += 1000 * gap_s * np.exp(rng.normal())
        if cart_every and (i + 1) % cart_every == 0:
            events.append(Event(f"x{i}-cart", "x", "add_to_cart", int(ts), item_id=f"x{i}"))
            ts += 1000 * gap_s * np.exp(rng.normal())
    return events


@pytest.mark.parametrize(
    "crawler_events",
    [
        _crawl(40, 600),  # slower than the injector's slowest pace (4 min), hours longer than any slice visit
        _crawl(40, 1),  # faster than its fastest
        _crawl(40, 600, cart_every=5),  # a cart now and then
        _crawl(60, 180, per_category=2),  # narrower: two views per category
    ],
    ids=["10-min pace", "1-s pace", "carts", "two views per category"],
)
def test_the_shipped_tables_find_broad_crawlers_the_injector_never_makes(crawler_events):
    """Past the rarity hinge's knee (about 0.997 on the shipped model) with the features the slice calibrates."""
    shipped = RarityTables.default()
    assert not WINDOW_BOUND & set(shipped.tables)
    assert shipped.score(profiles_of(crawler_events)).max() > 0.998


def test_the_shipped_tables_leave_long_and_busy_ordinary_days_alone():
    shipped = RarityTables.default()
    rng = np.random.default_rng(6)
    long_visit = [  # 15 views over about five hours in two categories, a cart
        Event(
            f"n{i}",
            "n",
            "page_view",
            T0 + int(1_200_000 * np.exp(rng.normal(0, 1, i)).sum()),
            item_id=f"i{i % 7}",
            category_id=f"c{i % 2}",
        )
        for i in range(15)
    ]
    busy_day = [
        Event(
            f"b{v}-{i}", "b", "page_view", T0 + v * 3 * 3_600_000 + 90_000 * i, item_id=f"i{v}{i}", category_id=f"c{i}"
        )
        for v in range(6)
        for i in range(4)
    ]
    for events in (sorted(long_visit, key=lambda e: e.ts_ms), busy_day):
        assert shipped.score(profiles_of(events)).max() < 0.99


def test_a_visit_longer_than_the_window_is_judged_and_explained_per_window():
    shipped = RarityTables.default()
    profile = profiles_of(_crawl(60, 180, per_category=2))[-1]  # one visit of about 4.7 hours
    assert SessionFeatures.from_bytes(profile).duration_s / 60 > shipped.window_minutes
    values = profile_features([profile], shipped.window_minutes)[0]
    raw = profile_features([profile])[0]
    views = FEATURE_NAMES.index("session_page_views")
    assert values[views] == pytest.approx(
        raw[views] * shipped.window_minutes / (raw[FEATURE_NAMES.index("session_minutes")])
    )
    reasons = shipped.reasons(profile)
    assert any("in the visit per 115.2 minutes" in r["text"] for r in reasons)
