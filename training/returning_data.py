"""Returning shoppers split by time, for detectors that learn each user's own habits.

Every user has weeks of visits (:mod:`~shopguard.training.returning_shoppers`, calibrated on the real
Taobao slice where it can be, per-user habits assumed). The weeks are cut into three periods, and every
user is present in each: a normal-only *history* that per-user profiles are mined from, a *validation*
period in which ``training.returning_abused_share`` of the users are abused (thresholds are calibrated
here), and a *test* period in which as many *other* users are abused. Abuse takes every type of
:data:`~shopguard.training.anomalies.PER_USER_ANOMALY_TYPES` in turns, blunt or subtle, from an onset
inside its period after at least one normal visit of that period, and ends inside it.
:func:`simulate_returning_traffic` gives the same data as events, before encoding (to replay through the job).

Each user's whole timeline is encoded once with the job's encoder and only then cut by time, so a
window in the validation period carries that user's earlier codes, exactly as the streaming job sees it.

Known limits: a user abused in validation is labelled normal in test (their abuse is over), yet their
first test windows can still hold up to L-1 codes of it; drop those users from test figures when that
matters (``validation_abused_users``). Onsets need a visit before them and two days after them inside
the period, so slightly more active users are abused.

Example
-------
>>> import tempfile, pathlib
>>> from shopguard.config import ShopguardConfig
>>> taobao = pathlib.Path(tempfile.mkdtemp()) / "slice.csv"
>>> _ = taobao.write_text("".join(f"{u},{i},{i % 7},pv,{1511658000 + 97 * i}\\n" for u in range(40) for i in range(3)))
>>> cfg = ShopguardConfig().with_overrides([f"data.taobao_csv={taobao}", "training.returning_users=60"])
>>> data = build_returning_data(cfg, progress=lambda message: None)
>>> [len(set(part.user_ids)) for part in (data.history, data.validation, data.test)]
[60, 60, 60]
>>> abused_in_test = {u for u, kind in zip(data.test.user_ids, data.test.user_types) if kind}
>>> abused_in_validation = validation_abused_users(data)
>>> any(data.history.user_types), len(abused_in_validation), len(abused_in_test & abused_in_validation)
(False, 6, 0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.anomalies import PER_USER_ANOMALY_TYPES, AnomalyLabel
from shopguard.training.behaviour_stats import by_user, measure_behaviour, sessions
from shopguard.training.encoded_traffic import EncodedTraffic, encode_traffic
from shopguard.training.evaluation_data import real_events
from shopguard.training.labelled_traffic import LabelledTraffic, abuse_users
from shopguard.training.returning_shoppers import DAY_MS, HabitAssumptions, ReturningShopperSimulator
from shopguard.udfs.events import Event

ABUSE_ROOM_MS = 2 * DAY_MS
"""An onset is at least this long before its period ends: the longest abuse (account sharing) ends inside it."""


@dataclass
class ReturningData:
    """Returning shoppers split by time, every user present in every period."""

    history: EncodedTraffic  # events in [start, start+profile_days): normal only (profiles are mined from it)
    validation: EncodedTraffic  # events in the next validation_days; a share of users abused (onset inside)
    test: EncodedTraffic  # events after that; *other* users abused (onset inside the test period)
    fingerprint: str  # what the data was built from, for the model card


def validation_abused_users(data: ReturningData) -> set[str]:
    """Users abused in validation: normal in test, but their first test windows may still hold abuse codes."""
    return {u for u, kind in zip(data.validation.user_ids, data.validation.user_types) if kind}


@dataclass(frozen=True)
class ReturningTraffic:
    """The returning shoppers' events and labels before encoding, and where the periods begin and end."""

    traffic: LabelledTraffic
    periods: dict[str, tuple[int, int]]  # history, validation, test: [from, to) in epoch ms; test's last visits run on
    fingerprint: str


def build_returning_data(cfg: ShopguardConfig, progress: Callable[[str], None] = print) -> ReturningData:
    """Simulate returning shoppers, abuse some in validation and others in test, encode, cut by time."""
    raw = simulate_returning_traffic(cfg, progress)
    progress("encoding every user's whole timeline with the job's encoder")
    encoded = encode_traffic(raw.traffic, cfg.job.history_length)
    parts = {}
    for name, (low, high) in raw.periods.items():
        inside = (encoded.ts_ms >= low) & ((encoded.ts_ms < high) | (name == "test"))
        abused = {label.user_id for label in raw.traffic.labels if low <= label.onset_ms < high}
        parts[name] = _labels_of(encoded.subset(inside), abused)
    return ReturningData(parts["history"], parts["validation"], parts["test"], raw.fingerprint)


def simulate_returning_traffic(cfg: ShopguardConfig, progress: Callable[[str], None] = print) -> ReturningTraffic:
    """The events :func:`build_returning_data` encodes: every user's whole timeline, abuse written in."""
    t = cfg.training
    offsets = _periods(t.returning_days, t.returning_profile_days, t.returning_validation_days)
    real = real_events(cfg)
    start = min(e.ts_ms for e in real)
    periods = {
        name: (start + low, start + high) for name, (low, high) in zip(("history", "validation", "test"), offsets)
    }
    shortest_days = min(high - low for low, high in offsets) / DAY_MS
    habits = HabitAssumptions(max_absence_days=min(HabitAssumptions().max_absence_days, shortest_days))
    simulator = ReturningShopperSimulator(measure_behaviour(real), habits)
    span = int(t.returning_days * DAY_MS)
    progress(
        f"simulating {t.returning_users:,} returning shoppers over {t.returning_days:g} days, "
        f"calibrated on {len(real):,} real events"
    )
    histories = by_user(simulator.simulate(t.returning_users, start, span, t.seed))
    others = by_user(simulator.simulate(max(10, t.returning_users // 10), start, span, t.seed, prefix="someone-else"))
    rng = np.random.default_rng([t.seed, len(histories)])
    abused_count = int(round(t.returning_abused_share * len(histories)))
    events = {user: list(history) for user, history in histories.items()}
    labels: list[AnomalyLabel] = []
    for name in ("validation", "test"):
        progress(f"abusing {abused_count} users in the {name} period")
        taken = {label.user_id for label in labels}
        bounds = {u: _onset_bounds(h, *periods[name]) for u, h in histories.items() if u not in taken}
        eligible = sorted(u for u, b in bounds.items() if b)
        if len(eligible) < abused_count:
            raise ShopguardError(
                f"only {len(eligible)} users can be abused in the {name} period (a visit before the "
                f"onset and {ABUSE_ROOM_MS // DAY_MS} days after it), {abused_count} asked for: "
                "lower training.returning_abused_share or lengthen the period"
            )
        chosen = [eligible[i] for i in rng.permutation(len(eligible))[:abused_count]]
        abused, period_labels = abuse_users(
            histories, chosen, rng, t.subtle_share, PER_USER_ANOMALY_TYPES, onset=_onset_within(bounds), others=others
        )
        for user in chosen:
            events[user] = []
        for event in abused:
            events.setdefault(event.user_id, []).append(event)  # new-account abuse writes into a fresh account
        labels += period_labels
    traffic = LabelledTraffic(sorted((e for h in events.values() for e in h), key=lambda e: e.ts_ms), labels)
    fingerprint = (
        f"returning users={t.returning_users} days={t.returning_days} "
        f"profile_days={t.returning_profile_days} validation_days={t.returning_validation_days} "
        f"abused_share={t.returning_abused_share} subtle_share={t.subtle_share} seed={t.seed} "
        f"types={','.join(PER_USER_ANOMALY_TYPES)}; "
        f"calibrated on {cfg.data.taobao_csv} ({len(real)} events); habits assumed ({habits})"
    )
    return ReturningTraffic(traffic, periods, fingerprint)


def _periods(days: float, profile_days: float, validation_days: float) -> list[tuple[int, int]]:
    """History, validation and test as ``(from, to)`` offsets in ms; test's events run on past ``to``."""
    test_days = days - profile_days - validation_days
    room = ABUSE_ROOM_MS / DAY_MS
    if profile_days <= 0 or validation_days <= room or test_days <= room:
        raise ShopguardError(
            f"training.returning_days={days:g} with profile_days={profile_days:g} and validation_days="
            f"{validation_days:g} leaves {test_days:g} days for test: history needs some days, "
            f"validation and test more than {room:g} days each"
        )
    profile, validation = int(profile_days * DAY_MS), int((profile_days + validation_days) * DAY_MS)
    return [(0, profile), (profile, validation), (validation, int(days * DAY_MS))]


def _onset_bounds(history: Sequence[Event], low_ms: int, high_ms: int) -> tuple[int, int] | None:
    """Earliest and latest onset in ``[low_ms, high_ms)``: after the user's first visit there, with room after."""
    first = next((visit for visit in sessions(history) if visit[0].ts_ms >= low_ms), None)
    if first is None:
        return None
    earliest, latest = first[-1].ts_ms + 60_000, high_ms - ABUSE_ROOM_MS
    return (earliest, latest) if earliest <= latest else None


def _onset_within(bounds: dict[str, tuple[int, int] | None]):
    """An onset for a group of users inside every member's bounds (a ring waits for its last member's visit)."""

    def onset(histories: Sequence[Sequence[Event]], rng: np.random.Generator) -> int:
        earliest = max(bounds[h[0].user_id][0] for h in histories)
        latest = min(bounds[h[0].user_id][1] for h in histories)
        return int(earliest + rng.uniform(0.0, 1.0) * max(latest - earliest, 0))

    return onset


def _labels_of(traffic: EncodedTraffic, abused: set[str]) -> EncodedTraffic:
    """``traffic`` with user labels kept only for ``abused`` (users abused in this period)."""
    keep = np.array([u in abused for u in traffic.user_ids], dtype=bool)
    stray = [i for i, kind in enumerate(traffic.event_types) if kind and not keep[i]]
    if stray:
        raise AssertionError(f"abuse event {traffic.event_ids[stray[0]]} fell outside its user's period")
    return dataclasses.replace(
        traffic,
        user_types=[kind if k else "" for kind, k in zip(traffic.user_types, keep)],
        subtle=traffic.subtle & keep,
        onset_ms=np.where(keep, traffic.onset_ms, 0),
    )
