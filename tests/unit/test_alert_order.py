"""The decision step decides a user's threshold crossings in event-time order, whatever order they arrive in.

The entity steps re-key rows by device and by IP, so at parallelism > 1 a user's crossings can overtake each
other on their way to the decision step. These tests drive :class:`DecideAlert` with in-memory state and timers
(the explanation stubbed: it needs a model and is not what is checked) and compare the alerts it writes.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from pyflink.datastream import TimeDomain

from shopguard.config import ShopguardConfig
from shopguard.udfs.alert_decision import DECIDE_AT_END_OF_INPUT, DecideAlert
from shopguard.udfs.rows import CROSSING_FIELDS

USER = "u-taker"


class _State:
    def __init__(self):
        self._value = None

    def value(self):
        return self._value

    def update(self, value):
        self._value = value

    def clear(self):
        self._value = None


class _Timers:
    def __init__(self, clock):
        self.clock, self.processing, self.event = clock, [], []

    def current_processing_time(self):
        return self.clock["now"]

    def register_processing_time_timer(self, t):
        self.processing.append(t)

    def register_event_time_timer(self, t):
        self.event.append(t)


class _Context:
    def __init__(self, timers, domain=None):
        self._timers, self._domain = timers, domain

    def timer_service(self):
        return self._timers

    def time_domain(self):
        return self._domain


def _crossing(i: int, score: float) -> tuple:
    values = dict.fromkeys(CROSSING_FIELDS)
    values.update(
        user_id=USER,
        event_id=f"e{i}",
        event_ts=1_000 * i,
        score=score,
        threshold=0.9,
        anomaly_type="account_takeover",
        model_version="m1",
        rules_score=math.nan,
        rules="",
    )
    return tuple(values[name] for name in CROSSING_FIELDS)


def _step(hold: int) -> DecideAlert:
    job = dataclasses.replace(ShopguardConfig().job, parallelism=2, alert_hold_ms=hold)
    step = DecideAlert(job, source=None)
    step.open_alert, step.held = _State(), _State()
    step.counters = {action: type("C", (), {"inc": lambda self: None})() for action in ("open", "update", "suppress")}
    step.ruled_out = step.counters["open"]
    step._explained_alert = lambda crossing, alert: {
        "alert_id": alert.alert_id,
        "revision": alert.revision,
        "event_id": crossing["event_id"],
        "reasons": [],
    }
    return step


def _alerts(rows) -> list[tuple]:
    return [(a["alert_id"][:8], a["revision"], a["event_id"]) for a in (json.loads(r[1]) for r in rows)]


def _run(step: DecideAlert, arrivals: list[tuple], fire: str) -> list[tuple]:
    clock = {"now": 0}
    timers = _Timers(clock)
    out = []
    for row in arrivals:
        out += list(step.process_element(row, _Context(timers)))
        clock["now"] += 10  # overtaking rows arrive milliseconds apart
    if fire == "processing":
        for t in sorted(timers.processing):
            clock["now"] = t
            out += list(step.on_timer(t, _Context(timers, TimeDomain.PROCESSING_TIME)))
    elif fire == "event":
        for t in sorted(set(timers.event)):
            out += list(step.on_timer(t, _Context(timers, TimeDomain.EVENT_TIME)))
    return _alerts(out)


IN_ORDER = [_crossing(4, 0.91), _crossing(6, 0.99)]
OVERTAKEN = list(reversed(IN_ORDER))


def test_at_once_the_arrival_order_decides_which_crossing_opens_the_alert():
    assert _run(_step(0), IN_ORDER, fire="none") != _run(_step(0), OVERTAKEN, fire="none")


@pytest.mark.parametrize("hold,fire", [(2000, "processing"), (DECIDE_AT_END_OF_INPUT, "event")])
def test_held_crossings_give_the_in_order_alerts_whatever_their_arrival_order(hold, fire):
    expected = _run(_step(0), IN_ORDER, fire="none")
    assert [revision for _, revision, _ in expected] == [0, 1]  # opened by e4, updated by e6
    assert _run(_step(hold), OVERTAKEN, fire) == expected
    assert _run(_step(hold), IN_ORDER, fire) == expected


def test_nothing_is_decided_before_the_hold_ends_and_nothing_stays_held():
    step = _step(2000)
    clock = {"now": 0}
    timers = _Timers(clock)
    assert list(step.process_element(_crossing(4, 0.95), _Context(timers))) == []
    assert list(step.on_timer(1999, _Context(timers, TimeDomain.PROCESSING_TIME))) == []
    assert len(list(step.on_timer(2000, _Context(timers, TimeDomain.PROCESSING_TIME)))) == 1
    assert step.held.value() is None
