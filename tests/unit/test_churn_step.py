"""The churn step and what feeds it: churn facts from the user step, timers, the end of a bounded input."""

import json

import pytest

from shopguard.config import ShopguardConfig
from shopguard.udfs.alerts import rfc3339_ms
from shopguard.udfs.churn_state import ChurnState
from shopguard.udfs.churn_step import CHURN_FACTS, TICK_MS, WatchChurn, churn_fact, tick
from shopguard.udfs.churn_watch import END_OF_INPUT
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.user_history import TrackUserHistory
from tests.unit.flink_fakes import NamedStates

DAY = 86_400_000
T0 = 1_700_000_000_000
NO_WATERMARK = -(2**63)


class _Context:
    """The keyed context and timer service of one key, with a watermark the test moves."""

    def __init__(self, key: str):
        self.key, self.timers, self.watermark = key, [], NO_WATERMARK

    def timer_service(self):
        return self

    def register_event_time_timer(self, ts_ms: int) -> None:
        self.timers.append(ts_ms)

    def register_processing_time_timer(self, ts_ms: int) -> None:
        pass  # the keyed steps' counters flush on one (udfs/local_counter.py)

    def get_current_key(self):
        return self.key

    def current_watermark(self) -> int:
        return self.watermark


def _visit_facts(user: str, every_days: float, count: int) -> list:
    """One fact per visit start, as the user step sends them."""
    facts, previous = [], -1
    for n in range(count):
        event = Event(f"{user}-{n}", user, "page_view", int(T0 + n * every_days * DAY))
        facts.append(churn_fact(event, previous))
        previous = event.ts_ms + 120_000  # the visit's later events (no facts) moved the user's clock on
    return facts


def _fire_due(step: WatchChurn, ctx: _Context, watermark: int) -> list:
    """Move the watermark to ``watermark`` and fire every timer due, as Flink does (in time order)."""
    ctx.watermark, out = watermark, []
    while due := sorted(t for t in ctx.timers if t <= watermark):
        ctx.timers.remove(due[0])
        out += list(step.on_timer(due[0], ctx))
    return out


@pytest.fixture
def churn_step():
    cfg = ShopguardConfig()
    step = WatchChurn(cfg.churn, cfg.job.alert_update_min_gain, cfg.job.max_out_of_orderness_ms)
    runtime = NamedStates()
    step.open(runtime)
    return step, runtime


def test_a_silent_customer_gets_an_open_signal_on_the_main_output_when_the_watermark_passes_the_deadline(churn_step):
    step, runtime = churn_step
    ctx = _Context("u")
    for fact in _visit_facts("u", every_days=3, count=6):
        assert list(step.process_element(fact, ctx)) == []
    assert ctx.timers and "churn_watch" in runtime.states
    deadline = step.watch.next_deadline(ChurnState.from_bytes(runtime.states["churn_watch"].stored.encode("latin-1")))
    assert _fire_due(step, ctx, deadline - 1) == []  # an earlier timer fired too early re-arms, sends nothing
    out = _fire_due(step, ctx, deadline)
    signals = [json.loads(row[1]) for row in out]
    assert [row[0] for row in out] == ["u"] and signals[0]["status"] == "open" and signals[0]["user_id"] == "u"
    assert signals[0]["at"] == rfc3339_ms(deadline) and runtime.metrics.counters["risk_signals"].count == 1


def test_timers_the_end_of_the_input_fires_beyond_the_last_events_send_nothing_and_are_counted(churn_step):
    step, runtime = churn_step
    ctx = _Context("u")
    for fact in _visit_facts("u", every_days=3, count=6):
        list(step.process_element(fact, ctx))
    pending = len(set(ctx.timers))
    assert _fire_due(step, ctx, END_OF_INPUT) == []
    assert pending and runtime.metrics.counters["churn_timers_at_end"].count >= 1  # one re-armed early timer too
    assert "risk_signals" not in runtime.metrics.counters or runtime.metrics.counters["risk_signals"].count == 0


def test_at_the_end_of_the_input_a_deadline_the_events_reached_is_reported_as_the_live_job_would(churn_step):
    step, _ = churn_step
    ctx = _Context("u")
    facts = _visit_facts("u", every_days=3, count=6)
    for fact in facts:
        list(step.process_element(fact, ctx))
    live_step = WatchChurn(step.settings, step.min_gain, step.max_out_of_orderness_ms)
    live_step.open(NamedStates())
    live_ctx = _Context("u")
    for fact in facts:
        list(live_step.process_element(fact, live_ctx))
    end = facts[-1][1] + 20 * DAY
    list(step.process_element(tick(end), _Context("")))  # other users' events reach 20 days later; no watermark yet
    at_end = [json.loads(row[1]) for row in _fire_due(step, ctx, END_OF_INPUT)]
    live = [json.loads(row[1]) for row in _fire_due(live_step, live_ctx, end - step.max_out_of_orderness_ms)]
    assert at_end and at_end == live


def test_a_returning_customer_gets_recovered_from_the_fact_of_their_return(churn_step):
    step, _ = churn_step
    ctx = _Context("u")
    facts = _visit_facts("u", every_days=3, count=6)
    for fact in facts:
        list(step.process_element(fact, ctx))
    _fire_due(step, ctx, facts[-1][1] + 15 * DAY)
    back = churn_fact(Event("back", "u", "page_view", facts[-1][1] + 20 * DAY), facts[-1][1] + 120_000)
    signals = [json.loads(row[1]) for row in step.process_element(back, ctx)]
    assert signals[-1]["status"] == "recovered"


def test_ticks_move_only_the_clock_and_a_straggler_far_behind_the_watermark_registers_no_timer(churn_step):
    step, runtime = churn_step
    ctx = _Context("")
    assert list(step.process_element(tick(T0), ctx)) == [] and "churn_watch" not in [
        name for name, state in runtime.states.items() if state.stored
    ]
    ctx = _Context("u")
    ctx.watermark = T0 + 400 * DAY
    for fact in _visit_facts("u", every_days=3, count=6):
        list(step.process_element(fact, ctx))
    assert ctx.timers == []


def test_the_user_step_sends_a_fact_per_visit_start_and_order_and_a_tick_now_and_then(tmp_path):
    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    step = TrackUserHistory(
        cfg.job, cfg.validation, IdentifierHashing.from_settings(cfg.privacy, {}), cfg.patterns, source, cfg.churn
    )
    step.open(NamedStates())
    minute = 60_000
    events = [
        Event("a", "u", "page_view", T0),  # the user's first event: a visit starts
        Event("b", "u", "page_view", T0 + minute // 2),  # inside the visit, within a tick: nothing
        Event("c", "u", "purchase", T0 + 2 * minute, item_id="i"),  # an order
        Event("d", "u", "page_view", T0 + 2 * minute + TICK_MS),  # inside the visit, a tick later: a tick
        Event("e", "u", "page_view", T0 + DAY),  # a new visit
    ]
    facts = []
    try:
        for event in events:
            facts += [
                o[1] for o in step.process_element(event.to_json().encode(), _Context("u")) if o[0] is CHURN_FACTS
            ]
    finally:
        step.close()
    assert [tuple(f) for f in facts] == [
        ("u", T0, "page_view", -1),
        ("u", T0 + 2 * minute, "purchase", T0 + minute // 2),
        ("", T0 + 2 * minute + TICK_MS, "", -1),
        ("u", T0 + DAY, "page_view", T0 + 2 * minute + TICK_MS),
    ]


def test_with_churn_off_the_user_step_sends_no_fact(tmp_path):
    import dataclasses

    cfg = ShopguardConfig()
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    off = dataclasses.replace(cfg.churn, enabled=False)
    step = TrackUserHistory(
        cfg.job, cfg.validation, IdentifierHashing.from_settings(cfg.privacy, {}), cfg.patterns, source, off
    )
    step.open(NamedStates())
    try:
        out = list(step.process_element(Event("a", "u", "page_view", T0).to_json().encode(), _Context("u")))
    finally:
        step.close()
    assert not [o for o in out if isinstance(o, tuple) and o[0] is CHURN_FACTS]
