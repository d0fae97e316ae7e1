"""The churn step: a keyed function of its own that watches each customer's silence with event-time timers.

As in Flink's fraud-detection demo, one operator per concern: the user step (:class:`~shopguard.udfs.
user_history.TrackUserHistory`) sends a *churn fact* to its ``churn-facts`` side output for every accepted
event that may start a visit or is a purchase or refund request (:func:`~shopguard.udfs.churn_watch.
is_churn_fact`; events inside a visit send nothing), plus a *tick* (user id ``""``) at most once per
:data:`TICK_MS` of event time. :func:`watch_churn` keys the facts by user and runs :class:`WatchChurn`,
whose main output is the risk signals (``user-risk-signals``): a plain keyed function, so ``on_timer``
needs no side output (in thread mode a keyed *broadcast* function, as the user step is, sends what its
``on_timer`` yields to the main output unsorted).

Time: the stream watermark the step sees is the Kafka source's (from the records' Kafka timestamps, aligned
across partitions), carried past the keying step's table conversion by ``job.event_time_timers`` and through
the user step; producers that set each record's timestamp to the event's ``ts`` make it event time. A file
replay has no watermark until its end: there each user's next fact reports what a timer would have
(:meth:`~shopguard.udfs.churn_watch.ChurnWatch.catch_up`), and the end fires the rest.

State per user: the churn record (:class:`~shopguard.udfs.churn_state.ChurnState`, 66 bytes, its own time to
live ``churn.state_ttl_s``) and at most one pending event-time timer; both are checkpointed, and firing is
idempotent, so a timer restored after a restart neither disappears nor repeats a signal.

**The end of a bounded input** (a replay's file, or a drained job) moves the watermark to the largest time
there is, which fires every pending timer at once. A timer whose deadline lies beyond the events' own
watermark (the newest fact or tick time this instance saw, minus ``job.max_out_of_orderness_ms``) speaks for
a silence the data never showed: it sends nothing (:func:`~shopguard.udfs.churn_watch.observed_by`). One
before it is reported, as the live job would have: so a replay reports exactly the silences its events
show. With parallelism > 1 each instance judges by the facts it saw (its users' and, for one, the ticks).

Metrics (group ``shopguard``): ``risk_signals``, ``churn_timers_at_end`` (timers the end of input fired and
that sent nothing), ``state_reset_unreadable`` (:mod:`~shopguard.udfs.state_layout`).
"""

from __future__ import annotations

import json

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from shopguard.config import ChurnSettings, JobSettings
from shopguard.udfs.churn_state import LAYOUT, ChurnState
from shopguard.udfs.churn_watch import ChurnWatch, observed_by
from shopguard.udfs.event_intake import KEYED_JSON_ROW
from shopguard.udfs.events import Event
from shopguard.udfs.state_layout import StateReader

__all__ = ["CHURN_FACTS", "CHURN_FACT_ROW", "TICK_MS", "WatchChurn", "churn_fact", "tick", "watch_churn"]

CHURN_FACT_ROW = Types.ROW_NAMED(
    ["user_id", "ts_ms", "event_type", "previous_ts_ms"], [Types.STRING(), Types.LONG(), Types.STRING(), Types.LONG()]
)
CHURN_FACTS = OutputTag("churn-facts", CHURN_FACT_ROW)
TICK_MS = 60_000  # a user step sends a tick when its events' time moved this far past its last fact or tick


def churn_fact(event: Event, previous_ts_ms: int) -> Row:
    """What the churn step needs of an event: who, when, what, and the user's newest event time before it."""
    return Row(event.user_id, event.ts_ms, event.event_type, previous_ts_ms)


def tick(ts_ms: int) -> Row:
    """A fact about no user: it moves the events' clock the end of input is judged by, and is skipped there."""
    return Row("", ts_ms, "", -1)


def watch_churn(facts: DataStream, job: JobSettings, churn: ChurnSettings) -> DataStream:
    """The churn step on the user step's ``facts``: (user_id, risk-signal JSON) rows."""
    return (
        facts.key_by(lambda fact: fact[0], key_type=Types.STRING())
        .process(WatchChurn(churn, job.alert_update_min_gain, job.max_out_of_orderness_ms), output_type=KEYED_JSON_ROW)
        .uid("watch-churn")
        .name("watch churn (event-time timers)")
    )


class WatchChurn(KeyedProcessFunction):
    """Keyed by ``user_id``: churn facts in, risk signals out; one event-time timer per user at most."""

    def __init__(self, settings: ChurnSettings, min_gain: float = 0.05, max_out_of_orderness_ms: int = 0):
        self.settings = settings
        self.min_gain = min_gain
        self.max_out_of_orderness_ms = max_out_of_orderness_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        from shopguard.udfs.user_history import state_ttl  # the user step imports this module for its side output

        self.watch = ChurnWatch(self.settings, self.min_gain)
        # Bytes kept as a latin-1 string, as the user step does (thread mode cannot read an empty byte-array state).
        descriptor = ValueStateDescriptor("churn_watch", Types.STRING())
        descriptor.enable_time_to_live(state_ttl(self.settings.state_ttl_s))
        self.churn_state = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.churn_states = StateReader(LAYOUT, ChurnState.from_bytes)  # unreadable: the user starts over, counted
        self.churn_states.open(metrics)
        self.risk_signals = metrics.counter("risk_signals")
        self.timers_at_end = metrics.counter("churn_timers_at_end")
        self.newest_fact_ms = -(2**63)  # the events' own clock for the end of input (not state: facts move it again)

    def process_element(self, fact, ctx: KeyedProcessFunction.Context):
        user_id, ts_ms, event_type, previous_ts_ms = fact[0], fact[1], fact[2], fact[3]
        self.newest_fact_ms = max(self.newest_fact_ms, ts_ms)
        if not user_id:  # a tick: it only moves the clocks
            return
        event = Event("", user_id, event_type, ts_ms)
        yield from self._step(ctx, lambda watch, churn: watch.on_event(churn, event, previous_ts_ms), ts_ms)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        """A churn deadline: the user's silence may have become unusual for them."""
        data_watermark = self.newest_fact_ms - self.max_out_of_orderness_ms
        if not observed_by(timestamp, ctx.timer_service().current_watermark(), data_watermark):
            self.timers_at_end.inc()  # the end of the input fired it: a silence the data never showed
            return
        key = ctx.get_current_key()
        user_id = key if isinstance(key, str) else key[0]  # a key from a Java key selector is a one-field row
        yield from self._step(ctx, lambda watch, churn: watch.on_timer(churn, user_id, timestamp))

    def _step(self, ctx, step, event_ts_ms: int | None = None):
        """Run one churn-watch ``step`` on the user's churn record: store it, register its timer, send its signals.

        No timer for an event far older than the stream watermark (``churn.max_clock_skew_ms``): the records'
        Kafka timestamps are then not event time (old events sent now), and every deadline would fire at once.
        The user's next event still reports what such a timer would have.
        """
        churn = self.churn_states.read(self.churn_state.value())
        signals, timer_ms = step(self.watch, churn)
        self.churn_state.update(churn.to_bytes().decode("latin-1"))
        if timer_ms is not None:
            watermark = ctx.timer_service().current_watermark()
            if event_ts_ms is None or watermark <= event_ts_ms + self.settings.max_clock_skew_ms:
                ctx.timer_service().register_event_time_timer(timer_ms)
        for signal in signals:
            self.risk_signals.inc()
            yield Row(signal["user_id"], json.dumps(signal, separators=(",", ":"), ensure_ascii=False))
