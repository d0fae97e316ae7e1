"""Counters counted in Python: exact after a flush, nothing passed to Java per event, flushed by count, time, timer
and close, in the keyed steps as in the module."""

from __future__ import annotations

import pytest

from shopguard.config import EntitySettings, JobSettings, ShopguardConfig
from shopguard.udfs.entity_streams import TrackEntity, entity_key_of
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.item_step import TrackItem, item_fact
from shopguard.udfs.local_counter import LocalCounters
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.user_history import TrackUserHistory
from tests.unit.flink_fakes import Runtime
from tests.unit.test_entity_streams import KeyedRuntime, scoring_row

T0 = 1_511_658_000_000


class Calls:
    """A Flink counter that keeps every ``inc`` call (each one a crossing into Java in thread mode)."""

    def __init__(self):
        self.calls: list[int] = []

    def inc(self, n: int = 1) -> None:
        self.calls.append(n)

    @property
    def count(self) -> int:
        return sum(self.calls)


class Group:
    def __init__(self):
        self.made: dict[str, Calls] = {}

    def counter(self, name: str) -> Calls:
        return self.made.setdefault(name, Calls())


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TimerContext:
    """A keyed function's context whose timer service records the processing-time timers set."""

    def __init__(self):
        self.timers: list[int] = []

    def timer_service(self):
        return self

    def register_processing_time_timer(self, ts_ms: int) -> None:
        self.timers.append(ts_ms)


def test_nothing_is_passed_on_per_count_and_a_flush_passes_each_sum_exactly_once():
    group, clock = Group(), Clock()
    counts = LocalCounters(group, every=10_000, seconds=60.0, clock=clock)
    seen, bad = counts.counter("seen"), counts.counter("bad")
    counts.counter("quiet")
    for i in range(5_000):
        seen.inc()
        if i % 7 == 0:
            bad.inc()
    assert group.made["seen"].calls == group.made["bad"].calls == []
    counts.flush()
    assert group.made["seen"].calls == [5_000] and group.made["bad"].calls == [715]
    assert group.made["quiet"].calls == []  # nothing waited: no call
    counts.flush()
    assert group.made["seen"].calls == [5_000]


def test_the_group_flushes_all_its_counters_once_every_counts_have_waited():
    group = Group()
    counts = LocalCounters(group, every=10, seconds=60.0, clock=Clock())
    events_in, valid = counts.counter("events_in"), counts.counter("events_valid")
    for _ in range(7):
        events_in.inc()
        valid.inc()
    # 10 counts over the group: 5 events each, passed on together, the rest waits
    assert group.made["events_in"].calls == group.made["events_valid"].calls == [5]
    counts.flush()
    assert group.made["events_in"].calls == group.made["events_valid"].calls == [5, 2]


def test_a_count_after_the_interval_flushes_by_the_injected_clock():
    group, clock = Group(), Clock()
    counts = LocalCounters(group, every=1_000, seconds=1.0, clock=clock)
    seen = counts.counter("seen")
    seen.inc()
    clock.now += 0.999
    seen.inc()
    assert group.made["seen"].calls == []
    clock.now += 0.001
    seen.inc()
    assert group.made["seen"].calls == [3]
    clock.now += 0.5
    seen.inc()
    assert group.made["seen"].calls == [3]  # the interval counts from the last flush


def test_one_timer_at_a_time_and_its_firing_flushes_what_waited():
    group, ctx = Group(), TimerContext()
    counts = LocalCounters(group, every=1_000, seconds=1.0, clock=Clock())
    seen = counts.counter("seen")
    for _ in range(3):
        counts.flush_within(ctx)
        seen.inc()
    (timer,) = ctx.timers
    assert group.made["seen"].calls == []
    counts.on_timer(timer)  # no event follows: the timer passes the counts on
    assert group.made["seen"].calls == [3]
    counts.flush_within(ctx)  # the next element sets the next timer
    assert len(ctx.timers) == 2
    counts.on_timer(timer - 5_000)  # a timer restored from a savepoint: flushes, the set one stays awaited
    counts.flush_within(ctx)
    assert len(ctx.timers) == 2
    counts.flush_within(None)  # outside Flink: no timer service, nothing to set


def test_settings_that_would_never_flush_are_refused():
    with pytest.raises(ValueError):
        LocalCounters(Group(), every=0)
    with pytest.raises(ValueError):
        LocalCounters(Group(), seconds=0)


def _user_step(tmp_path) -> tuple[TrackUserHistory, Runtime]:
    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    step = TrackUserHistory(
        cfg.job, cfg.validation, IdentifierHashing.from_settings(cfg.privacy, {}), cfg.patterns, source
    )
    runtime = Runtime()
    step.open(runtime)
    return step, runtime


def test_the_user_step_counts_in_python_and_its_timer_and_close_pass_every_count_on(tmp_path):
    step, runtime = _user_step(tmp_path)
    ctx = TimerContext()
    records = [Event(f"e{i}", "u-1", "page_view", T0 + 1000 * i).to_json().encode() for i in range(5)]
    records += [records[0], b"{not json"]  # a duplicate, a dead letter
    try:
        for raw in records:
            list(step.process_element(raw, ctx))
        counters = runtime.metrics.counters
        assert counters["events_in"].count == counters["events_to_score"].count == 0  # nothing crossed per event
        (timer,) = ctx.timers
        assert step.on_timer(timer, None) == ()
        assert (counters["events_in"].count, counters["events_valid"].count) == (7, 6)
        assert (counters["events_to_score"].count, counters["duplicates"].count) == (5, 1)
        assert counters["dead_letters"].count == counters["dead_letters_malformed_json"].count == 1
        list(step.process_element(Event("e9", "u-1", "page_view", T0 + 9000).to_json().encode(), ctx))
        assert len(ctx.timers) == 2 and counters["events_in"].count == 7
    finally:
        step.close()  # a bounded job's last counts: passed on in close
    assert counters["events_in"].count == 8 and counters["events_to_score"].count == 6


def test_the_entity_and_item_steps_pass_their_counts_on_at_close():
    device = TrackEntity("device", EntitySettings(), JobSettings())
    runtime = KeyedRuntime()
    device.open(runtime)
    key_of = entity_key_of("device")
    for i in range(4):
        row = scoring_row(Event(f"e{i}", f"u{i}", "page_view", T0 + i, device_id="d-1", ip="10.0.0.1"))
        runtime.key = key_of(row)
        list(device.process_element(row, TimerContext()))
    assert runtime.metrics.counters["entity_events"].count == 0
    device.close()
    assert runtime.metrics.counters["entity_events"].count == 4

    item = TrackItem(EntitySettings(), JobSettings())
    runtime = KeyedRuntime()
    item.open(runtime)
    for i in range(3):
        runtime.key = "i-1"
        list(item.process_element(item_fact(Event(f"r{i}", f"u{i}", "review", T0 + i, item_id="i-1", rating=5)), None))
    assert runtime.metrics.counters["item_facts"].count == 0
    item.close()
    assert runtime.metrics.counters["item_facts"].count == 3
