"""Returning shoppers: habits that persist over weeks and differ between people; account sharing written from them."""

from collections import Counter

import numpy as np
import pytest

from shopguard.config import ValidationSettings
from shopguard.training.anomalies import PER_USER_ANOMALY_TYPES, inject_account_sharing
from shopguard.training.behaviour_stats import by_user, measure_behaviour, sessions
from shopguard.training.labelled_traffic import mix_in_anomalies
from shopguard.training.returning_shoppers import DAY_MS, HabitAssumptions, ReturningShopperSimulator
from shopguard.udfs.events import EVENT_TYPES, Event, parse_event

T0 = 1_511_658_000_000
SPAN = 42 * DAY_MS
USERS = 120


def calibration_events():
    """A stand-in for the real slice: the four Taobao behaviours, gaps of seconds to an hour."""
    rng = np.random.default_rng(0)
    kinds = ["page_view"] * 18 + ["add_to_cart", "favorite", "purchase"]
    events = []
    for user in range(300):
        ts = T0 + int(rng.integers(0, 3_600_000))
        for n in range(int(rng.integers(1, 6))):
            ts += int(rng.lognormal(5.5, 1.2) * 1000)
            category = f"c{int(rng.integers(0, 5))}"
            events.append(
                Event(
                    f"r{user}-{n}",
                    f"r{user}",
                    kinds[int(rng.integers(len(kinds)))],
                    ts,
                    item_id=f"{category}-i{int(rng.integers(0, 50))}",
                    category_id=category,
                )
            )
    return events


@pytest.fixture(scope="module")
def simulator():
    return ReturningShopperSimulator(measure_behaviour(calibration_events()))


@pytest.fixture(scope="module")
def shoppers(simulator):
    return by_user(simulator.simulate(USERS, T0, SPAN, seed=3))


@pytest.fixture(scope="module")
def habits(simulator):
    return {h.user_id: h for h in simulator.population(USERS, seed=3)}


def test_the_simulation_is_deterministic_for_a_seed_and_differs_across_seeds(simulator):
    assert simulator.simulate(20, T0, SPAN, seed=1) == simulator.simulate(20, T0, SPAN, seed=1)
    assert simulator.simulate(20, T0, SPAN, seed=1) != simulator.simulate(20, T0, SPAN, seed=2)
    assert simulator.population(20, seed=1) == simulator.population(20, seed=1)


def test_events_are_valid_canonical_events_with_unique_ids_in_time_order(simulator, shoppers):
    events = simulator.simulate(30, T0, SPAN, seed=4)
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)
    assert len({e.event_id for e in events}) == len(events)
    assert {e.event_type for e in events} <= set(EVENT_TYPES)
    for e in events[::50]:
        assert parse_event(e.to_json(), ValidationSettings(), now_ms=T0 + SPAN + DAY_MS) == e
    kinds = Counter(e.event_type for history in shoppers.values() for e in history)
    assert {"page_view", "search", "add_to_cart", "favorite", "purchase", "checkout", "login"} <= set(kinds)


def test_every_user_returns_for_weeks_and_is_never_away_a_week(shoppers):
    assert len(shoppers) == USERS
    for history in shoppers.values():
        starts = [T0] + [visit[0].ts_ms for visit in sessions(history)] + [T0 + SPAN]
        assert len(starts) >= 2 + 6 and max(np.diff(starts)) < HabitAssumptions().max_absence_days * DAY_MS


def test_a_user_s_devices_and_home_ips_are_their_own_and_stable(shoppers, habits):
    devices_of, at_home = {}, []
    for user, history in shoppers.items():
        own = dict(habits[user].devices)
        assert {e.device_id for e in history} <= set(own)
        at_home.append(np.mean([e.ip == own[e.device_id] for e in history]))
        devices_of[user] = {e.device_id for e in history}
        for visit in sessions(history):
            assert len({(e.device_id, e.ip) for e in visit}) == 1
    assert np.median(at_home) > 0.9 and min(at_home) > 0.3, "mostly the device's own IP, now and then another network"
    shared = Counter(d for devices in devices_of.values() for d in devices)
    assert max(shared.values()) == 1, "no two users share a device"
    assert Counter(len(h.devices) for h in habits.values()).keys() == {1, 2}


def test_the_sign_in_habit_holds_across_a_user_s_visits(shoppers, habits):
    wanted, seen = [], []
    for user, history in shoppers.items():
        visits = sessions(history)
        wanted.append(habits[user].p_login)
        seen.append(np.mean([visit[0].event_type in ("login", "login_failed") for visit in visits]))
    wanted, seen = np.array(wanted), np.array(seen)
    assert np.corrcoef(wanted, seen)[0, 1] > 0.85
    assert (seen < 0.2).sum() > 10 and (seen > 0.8).sum() > 10, "users differ: some always sign in, some never"


def test_pace_breadth_and_favourite_categories_are_personal(shoppers, habits):
    pace, speed, in_favourites = [], [], []
    for user, history in shoppers.items():
        gaps = [b.ts_ms - a.ts_ms for visit in sessions(history) for a, b in zip(visit, visit[1:])]
        if len(gaps) >= 10:
            pace.append(np.median(gaps))
            speed.append(habits[user].reading_speed)
        categories = [e.category_id for e in history if e.event_type == "page_view"]
        in_favourites.append(np.mean([c in habits[user].favourite_categories for c in categories]))
    assert np.corrcoef(np.log(pace), np.log(speed))[0, 1] > 0.5
    assert np.mean(in_favourites) > 0.5
    assert {h.funnel_style for h in habits.values()} == {"browser", "cart_then_buy", "favourites_first"}


def test_visits_are_sessions_that_never_overlap(shoppers):
    for history in shoppers.values():
        for visit in sessions(history):
            gaps = np.diff([e.ts_ms for e in visit])
            assert (gaps <= 30 * 60 * 1000).all()


def owner_and_other(shoppers, habits):
    users = sorted(shoppers)
    owner = users[0]
    other = next(u for u in users[1:] if set(dict(habits[u].devices)) != set(dict(habits[owner].devices)))
    return shoppers[owner], shoppers[other]


@pytest.mark.parametrize("subtle", [False, True])
def test_account_sharing_writes_another_person_s_visits_into_the_account_labelled(shoppers, habits, subtle):
    owner, other = owner_and_other(shoppers, habits)
    onset = T0 + 20 * DAY_MS
    events, label = inject_account_sharing(owner, other, onset, subtle, np.random.default_rng(5))
    injected = [e for e in events if e.event_id in set(label.event_ids)]
    assert label.anomaly_type == "account_sharing" and label.subtle is subtle and label.onset_ms == onset
    assert [e for e in events if e.event_id not in set(label.event_ids)] == owner
    assert injected and all(e.ts_ms > onset and e.user_id == owner[0].user_id for e in injected)
    assert len({e.event_id for e in events}) == len(events)
    behaviour = [(e.event_type, e.item_id, e.category_id, e.price) for e in injected]
    theirs = [(e.event_type, e.item_id, e.category_id, e.price) for e in other]

    def borrowed(part):
        return any(theirs[i : i + len(part)] == part for i in range(len(theirs)))

    signed_in_first = not subtle and not borrowed(behaviour)  # a new device signs in before the visit
    assert borrowed(behaviour[1:] if signed_in_first else behaviour), "consecutive visits of the other person"
    usual_device = Counter(e.device_id for e in owner if e.ts_ms < onset).most_common(1)[0][0]
    if subtle:
        assert {e.device_id for e in injected} == {usual_device}
    else:
        assert injected[0].event_type == "login"
        assert {e.device_id for e in injected} <= {d for d, _ in habits[other[0].user_id].devices}
    for e in injected:
        assert parse_event(e.to_json(), ValidationSettings(), now_ms=T0 + SPAN + 5 * DAY_MS) == e


def test_account_sharing_keeps_the_other_person_s_pace_within_a_visit(shoppers, habits):
    owner, other = owner_and_other(shoppers, habits)
    events, label = inject_account_sharing(owner, other, T0 + 20 * DAY_MS, True, np.random.default_rng(6))
    injected = [e for e in events if e.event_id in set(label.event_ids)]
    their_gaps = {tuple(np.diff([e.ts_ms for e in visit])) for visit in sessions(other)}
    for visit in sessions(injected):
        assert tuple(np.diff([e.ts_ms for e in visit])) in their_gaps


def test_mixing_in_account_sharing_takes_visits_from_untouched_users(shoppers):
    normal = sorted((e for history in shoppers.values() for e in history), key=lambda e: e.ts_ms)
    traffic = mix_in_anomalies(normal, abused_share=0.1, seed=2, types=PER_USER_ANOMALY_TYPES)
    assert {label.anomaly_type for label in traffic.labels} == set(PER_USER_ANOMALY_TYPES)
    abused = {label.user_id for label in traffic.labels}
    labels = traffic.event_labels()
    for label in traffic.labels:
        if label.anomaly_type == "account_sharing":
            injected = [e for e in traffic.events if e.event_id in set(label.event_ids)]
            donors = [
                u
                for u in shoppers
                if u not in abused and {e.item_id for e in injected if e.item_id} <= {e.item_id for e in shoppers[u]}
            ]
            assert donors and label.user_id not in donors
            assert all(labels[e.event_id] == "account_sharing" for e in injected)


def test_account_sharing_needs_someone_else(shoppers):
    normal = [e for history in list(shoppers.values())[:6] for e in history]
    with pytest.raises(ValueError, match="other people"):
        mix_in_anomalies(normal, abused_share=1.0, seed=2, types=("account_sharing",))


def test_new_customers_open_their_account_at_their_first_visit_and_reviews_are_rated(shoppers):
    from shopguard.training.simulator import ContextAssumptions, signs_up

    for user, history in shoppers.items():
        opened = [e for e in history if e.event_type == "signup"]
        assert len(opened) == signs_up(user, ContextAssumptions())
        assert not opened or (history[0] == opened[0] and opened[0].item_id is None)
    assert any(e.event_type == "signup" for h in shoppers.values() for e in h)
    reviews = [e for h in shoppers.values() for e in h if e.event_type == "review"]
    assert reviews and {e.rating for e in reviews} <= {None, 1, 2, 3, 4, 5} and len({e.rating for e in reviews}) >= 4
