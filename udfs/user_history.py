"""Per-user keyed state: dedup, lateness and the compact history every score is computed from.

For each raw record of a user (keyed in Java: :func:`shopguard.jobs.user_keying.key_records_by_user`),
:class:`TrackUserHistory`

0. parses and validates it (:class:`~shopguard.udfs.event_intake.EventIntake`); a record that is no
   valid event goes to the dead-letter side output, counted by reason,
1. routes the event to the late side output when it is older than the user's watermark allows
   (see :mod:`shopguard.udfs.event_time`),
2. drops it (and counts it) when its ``event_id`` is among the user's recent ones,
3. otherwise advances the user's :class:`~shopguard.udfs.user_state.UserState` (one keyed value,
   read and written once), matches the event against the user's normal-behaviour patterns
   (:mod:`shopguard.udfs.pattern_matching`, whose online-learned part lives in that same value) and
   emits one row to be scored (packed when the entity steps come next: :func:`~shopguard.udfs.rows.pack_scoring`),
4. sends a churn fact to the ``churn-facts`` side output for an event that may start a visit or is a
   purchase or refund request (this step knows it from the user state it reads anyway, so events inside a
   visit send nothing), and a tick now and then; the churn step (:mod:`shopguard.udfs.churn_step`, a keyed
   function of its own with event-time timers) turns them into churn-risk signals,
5. sends an item fact to the ``item-facts`` side output for a review or purchase of an item (with
   ``item_facts``); the item step (:mod:`shopguard.udfs.item_step`, keyed by item) watches ratings across accounts.

State expires after ``job.state_ttl_s`` without events from the user, so idle users cost nothing. A stored state
of another layout version (another shopguard version's savepoint) starts the user over, counted in
``state_reset_unreadable`` (:mod:`~shopguard.udfs.state_layout`).
"""

from __future__ import annotations

import json
import math
import time

from pyflink.common import Row, Time
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from shopguard.config import ChurnSettings, ConfigError, JobSettings, PatternSettings, ValidationSettings
from shopguard.udfs.admission import admit_event
from shopguard.udfs.churn_step import CHURN_FACTS, TICK_MS, churn_fact, tick
from shopguard.udfs.churn_watch import is_churn_fact
from shopguard.udfs.detection_rules import NOTHING as NO_RULES
from shopguard.udfs.entity_sketch import NO_FIGURES
from shopguard.udfs.entity_streams import entity_inputs, is_new_account
from shopguard.udfs.event_intake import DEAD_LETTERS, KEYED_JSON_ROW, EventIntake
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.item_step import ITEM_FACTS, is_item_fact, item_fact
from shopguard.udfs.local_counter import CountsLocally, LocalCounters
from shopguard.udfs.model_source import LiveModel, ModelSource
from shopguard.udfs.rows import PACKED_SCORING_ROW, SCORING_ROW, pack_scoring
from shopguard.udfs.served_patterns import ServedPatterns
from shopguard.udfs.state_layout import StateReader
from shopguard.udfs.user_state import LAYOUT, UserState, recent_ids_json, session_part

__all__ = [
    "CHURN_FACTS",
    "LATE_EVENTS",
    "PACKED_SCORING_ROW",
    "SCORING_ROW",
    "TrackUserHistory",
    "late_event_message",
    "state_ttl",
]

LATE_EVENTS = OutputTag("late-events", KEYED_JSON_ROW)


def state_ttl(seconds: int) -> StateTtlConfig:
    """Expire a user's state ``seconds`` after its last write.

    Expired entries are cleaned incrementally on state access, one entry per access: each entry checked is
    work inside every state call of every keyed step, and one per access still sweeps the heap state table at
    the event rate (docs/benchmarks.md has the drains that compared it with ten). PyFlink's default background cleanup
    builds a RocksDB compaction filter whose default period calls the Python gateway, which exists on
    the local mini-cluster but not on a TaskManager: there, opening the operator fails.
    """
    return (
        StateTtlConfig.new_builder(Time.seconds(seconds))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .disable_cleanup_in_background()
        .cleanup_incrementally(1, False)
        .build()
    )


def late_event_message(event: Event, watermark_ms: int, hashing: IdentifierHashing) -> str:
    """What the late topic carries: the event (IP, device id hashed), the user's watermark it missed, by how much."""
    return json.dumps(
        {
            "reason": "late",
            "watermark": watermark_ms,
            "late_by_ms": watermark_ms - event.ts_ms,
            "event": hashing.scrub(json.loads(event.to_json())),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def throttle_seconds(debug_throttle_us: int) -> float:
    """The pause ``job.debug_throttle_us`` puts before each record, in seconds (0.0: no pause, the default).

    >>> throttle_seconds(2000), throttle_seconds(0)
    (0.002, 0.0)
    """
    if debug_throttle_us < 0:
        raise ConfigError(
            f"job.debug_throttle_us = {debug_throttle_us}: use 0 (no throttle) or the microseconds to wait per record"
        )
    return debug_throttle_us / 1e6


class TrackUserHistory(CountsLocally, KeyedProcessFunction):
    """Keyed by ``user_id``: raw records in, :data:`SCORING_ROW` rows out (:data:`PACKED_SCORING_ROW` with
    ``packed_rows``, for the entity steps), dead letters and late events aside."""

    def __init__(
        self,
        settings: JobSettings,
        validation: ValidationSettings,
        hashing: IdentifierHashing,
        patterns: PatternSettings,
        source: ModelSource,
        churn: ChurnSettings | None = None,
        item_facts: bool = False,
        packed_rows: bool = False,
    ):
        self.settings = settings
        self.packed_rows = packed_rows  # emit PACKED_SCORING_ROW (the entity steps come next) instead of SCORING_ROW
        self.item_facts = item_facts  # send reviews and purchases of items to the item step (udfs/item_step.py)
        self.churn_facts = churn is not None and churn.enabled  # send churn facts to the churn step
        self.fact_clock_ms = -1  # this instance's newest fact or tick time (not state: a tick is only a clock)
        self.intake = EventIntake(validation, hashing)
        self.hashing = hashing
        self.patterns = patterns
        self.source = source
        self.live_patterns = None
        self.counts = None  # LocalCounters, from open
        self.throttle_s = throttle_seconds(settings.debug_throttle_us)  # checked here, where the job is built

    def open(self, runtime_context: RuntimeContext) -> None:
        # Bytes kept as a latin-1 string: one char per byte, and PyFlink's thread mode cannot read an
        # empty byte-array state (its converter iterates over None).
        descriptor = ValueStateDescriptor("user_state", Types.STRING())
        descriptor.enable_time_to_live(state_ttl(self.settings.state_ttl_s))
        self.state = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.user_states = StateReader(LAYOUT, UserState.from_bytes)  # unreadable: the user starts over, counted
        self.user_states.open(metrics)
        self.counts = LocalCounters(metrics)  # per-event counters, passed on to Java in sums (udfs/local_counter.py)
        self.intake.open(self.counts)
        self.duplicates = self.counts.counter("duplicates")
        self.late_events = self.counts.counter("late_events")
        self.scored_events = self.counts.counter("events_to_score")
        # CPU time of this step's own function (its Python and the calls into Java it makes), nanoseconds; per event
        # with events_in. The thread's time outside it is PyFlink's and Flink's (docs/benchmarks.md).
        self.user_step_cpu_ns = self.counts.measure("user_step_cpu_ns")
        self.live_patterns = LiveModel(
            self.source,
            1,
            self.settings.model_poll_interval_s,
            load=lambda version: ServedPatterns.load(self.source, version, self.patterns),
        )
        self.live_patterns.start_watching()

    def close(self) -> None:
        if self.live_patterns is not None:
            self.live_patterns.stop_watching()
        super().close()

    def process_element(self, raw, ctx: KeyedProcessFunction.Context):
        if self.throttle_s:  # tests only (job.debug_throttle_us): a job slower than its producer on any machine
            time.sleep(self.throttle_s)
        started = time.thread_time_ns()
        outputs = list(self._outputs(raw, ctx))  # all made before Java gets the first, so the clock sees only this step
        self.user_step_cpu_ns.inc(time.thread_time_ns() - started)
        yield from outputs

    def _outputs(self, raw, ctx: KeyedProcessFunction.Context):
        """What one raw record gives: a dead letter, a late event, nothing (a duplicate), or the row to score with
        the churn and item facts it sends."""
        self.counts.flush_within(ctx)
        event = self.intake.read(raw, int(time.time() * 1000))
        if not isinstance(event, Event):
            yield DEAD_LETTERS, event
            return
        state = self.user_states.read(self.state.value())
        previous_ts = state.history.last_ts_ms
        verdict, watermark = admit_event(state, event, self.settings)
        if verdict == "late":
            self.late_events.inc()
            yield LATE_EVENTS, Row(event.user_id, late_event_message(event, watermark, self.hashing))
            return
        if verdict == "duplicate":
            self.duplicates.inc()
            return
        matcher = self.live_patterns.model.matcher
        if matcher is not None:
            match = matcher.observe(event.user_id, state.history.codes, event.ts_ms, state.patterns)
            pattern_score, unmatched = match.score, match.unmatched_field()
        else:
            pattern_score, unmatched = math.nan, ""
        packed = state.to_bytes()
        self.state.update(packed.decode("latin-1"))
        if self.churn_facts:
            if is_churn_fact(event, previous_ts):
                self.fact_clock_ms = max(self.fact_clock_ms, event.ts_ms)
                yield CHURN_FACTS, churn_fact(event, previous_ts)
            elif event.ts_ms >= self.fact_clock_ms + TICK_MS:
                self.fact_clock_ms = event.ts_ms
                yield CHURN_FACTS, tick(event.ts_ms)
        if self.item_facts and is_item_fact(event):
            yield ITEM_FACTS, item_fact(event)
        self.scored_events.inc()
        values = [
            event.user_id,
            event.session_id or state.session.session_id(event.user_id),
            event.event_id,
            event.event_type,
            event.ts_ms,
            state.history.codes,
            recent_ids_json(state.recent_event_ids),
            session_part(packed),
            pattern_score,
            unmatched,
            state.seconds_since_signup(event.ts_ms),
            *entity_inputs(event, self.hashing, account_new=is_new_account(event, state.signup_ms)),
            *NO_FIGURES,
            *NO_FIGURES,
            *NO_RULES,  # the rules' columns, filled by udfs/rule_broadcast.py when the job runs with rules
        ]
        yield self.scoring_row(event, values)

    def scoring_row(self, event: Event, values: list):
        """The row that takes ``event`` to scoring: its ``values`` (one per scoring column), packed for the entity
        steps when they run (:func:`~shopguard.udfs.rows.pack_scoring`)."""
        return pack_scoring(values) if self.packed_rows else Row(*values)
