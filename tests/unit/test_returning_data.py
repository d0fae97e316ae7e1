"""Returning-shopper data: every user in three periods, normal history, abuse on other users, the job's windows."""

from collections import defaultdict

import pytest

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.anomalies import PER_USER_ANOMALY_TYPES
from shopguard.training.behaviour_stats import by_user, sessions
from shopguard.training.returning_data import (
    ABUSE_ROOM_MS,
    build_returning_data,
    simulate_returning_traffic,
    validation_abused_users,
)
from shopguard.udfs.encoding import encode_user_events
from tests.unit.stand_in_taobao import write_stand_in_taobao

DAY_MS = 86_400_000
T0_S = 1_511_658_000
USERS = 240


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    """Small data calibrated on a stand-in for the Taobao slice (the real one may not be beside the checkout)."""
    taobao = write_stand_in_taobao(tmp_path_factory.mktemp("data") / "slice.csv", users=400)
    return ShopguardConfig().with_overrides([f"data.taobao_csv={taobao}", f"training.returning_users={USERS}"])


@pytest.fixture(scope="module")
def raw(cfg):
    return simulate_returning_traffic(cfg, progress=lambda message: None)


@pytest.fixture(scope="module")
def data(cfg):
    return build_returning_data(cfg, progress=lambda message: None)


def abused_users(part):
    return {u: kind for u, kind in zip(part.user_ids, part.user_types) if kind}


def test_the_data_is_deterministic_for_a_seed(cfg, raw, data):
    assert simulate_returning_traffic(cfg, progress=lambda message: None) == raw
    again = build_returning_data(cfg, progress=lambda message: None)
    assert again.validation.windows == data.validation.windows and again.test.event_ids == data.test.event_ids
    assert again.fingerprint == data.fingerprint and "returning users=240" in data.fingerprint


def test_every_user_is_in_every_period_within_its_time_bounds(raw, data):
    periods = raw.periods
    assert periods["history"][1] - periods["history"][0] == 14 * DAY_MS
    assert periods["validation"] == (periods["history"][1], periods["history"][1] + 7 * DAY_MS)
    for name in ("history", "validation", "test"):
        part = getattr(data, name)
        low, high = periods[name]
        assert len({u for u in part.user_ids if not u.startswith("new-")}) == USERS  # besides fresh accounts
        assert part.ts_ms.min() >= low and (name == "test" or part.ts_ms.max() < high)
    assert len(data.history) + len(data.validation) + len(data.test) == len(raw.traffic.events)


def test_the_history_holds_no_abuse(data):
    assert not any(data.history.event_types) and not any(data.history.user_types)
    assert not data.history.subtle.any() and not data.history.onset_ms.any()


def test_validation_and_test_abuse_different_users_with_every_type_and_the_onset_inside(raw, data):
    count = round(0.1 * USERS)
    for name in ("validation", "test"):
        part, (low, high) = getattr(data, name), raw.periods[name]
        abused = abused_users(part)
        assert len(abused) == count and set(abused.values()) == set(PER_USER_ANOMALY_TYPES)
        onsets = part.onset_ms[part.onset_ms > 0]
        assert onsets.min() >= low and onsets.max() <= high - ABUSE_ROOM_MS
        assert {u for u, kind in zip(part.user_ids, part.event_types) if kind} <= set(abused)
        subtle = {u for u, s in zip(part.user_ids, part.subtle) if s}
        assert 0 < len(subtle) < count
    assert not set(abused_users(data.validation)) & set(abused_users(data.test))
    assert validation_abused_users(data) == set(abused_users(data.validation))


def test_abuse_starts_after_a_normal_visit_of_its_period_and_stays_inside_it(raw):
    events = by_user(raw.traffic.events)
    labelled = {event_id for label in raw.traffic.labels for event_id in label.event_ids}
    for label in raw.traffic.labels:
        name = "validation" if label.onset_ms < raw.periods["validation"][1] else "test"
        low, high = raw.periods[name]
        own = [e for e in events[label.user_id] if e.event_id not in labelled]
        if label.anomaly_type == "new_account_abuse":  # a fresh account: its abuse is all it ever did
            assert not own
        else:
            assert any(low <= visit[0].ts_ms and visit[-1].ts_ms < label.onset_ms for visit in sessions(own))
        injected = [e for e in events[label.user_id] if e.event_id in set(label.event_ids)]
        assert injected and all(label.onset_ms < e.ts_ms < high for e in injected)


def test_account_sharing_in_the_data_is_someone_else_s_visits(raw):
    sharing = [label for label in raw.traffic.labels if label.anomaly_type == "account_sharing"]
    owners = by_user(raw.traffic.events)
    assert sharing and {label.subtle for label in sharing} == {False, True}
    for label in sharing:
        injected = [e for e in owners[label.user_id] if e.event_id in set(label.event_ids)]
        own = [e for e in owners[label.user_id] if e.event_id not in set(label.event_ids)]
        own_devices, their_devices = {e.device_id for e in own}, {e.device_id for e in injected}
        assert their_devices <= own_devices if label.subtle else not their_devices & own_devices


def test_windows_carry_the_user_s_earlier_codes_as_the_job_would(cfg, raw, data):
    length = cfg.job.history_length
    windows = defaultdict(list)
    for part in (data.history, data.validation, data.test):
        for user, window in zip(part.user_ids, part.windows):
            windows[user].append(window)
    for user, timeline in by_user(raw.traffic.events).items():
        assert windows[user] == encode_user_events(timeline, length)
    first_validation = {}
    for user, window in zip(data.validation.user_ids, data.validation.windows):
        first_validation.setdefault(user, window)
    carried = [
        window for user, window in first_validation.items() if not user.startswith("new-")
    ]  # fresh accounts start afresh
    assert all(len(window) > 4 for window in carried), "not a fresh start at the period's edge"


def test_periods_too_short_for_abuse_are_refused(cfg):
    with pytest.raises(ShopguardError, match="validation and test more than"):
        build_returning_data(cfg.with_overrides(["training.returning_validation_days=1.5"]), progress=lambda m: None)
