"""The job's entity streams: every event keyed by its device and by its IP, figures across accounts.

Between the user's keyed step and scoring, the job re-keys each row by its device pseudonym, then by
its IP pseudonym (HMAC, :mod:`shopguard.udfs.identifier_hashing`), and :class:`TrackEntity` (one class,
two operators) advances that entity's :class:`~shopguard.udfs.entity_sketch.EntitySketch` and writes its
figures into the row (``device_*`` / ``ip_*`` columns of :mod:`shopguard.udfs.rows`). The row then
reaches the user's scoring with both entities' figures. An entity over the ring rule raises a ring alert
(:mod:`shopguard.udfs.entity_rings`) on the :data:`RING_ALERTS` side output, joined to the user alerts.

Why keyed state and not Flink windows: each event needs its entity's figures *as of that event*, to
be scored with them. A tumbling window reports once it closes (too late for the event that filled it);
a sliding window keeps every event of a window per slide pane, which a NAT IP with thousands of users
makes unbounded. One keyed value per entity, read and written once per event, holds the whole sketch
in a fixed size; its half-window buckets rotate when the next event arrives, so no timer is needed,
and an idle entity's state expires after ``entities.state_ttl_s`` (state TTL, no timer per entity).
Why two operators in a row and not one keyed by a combined key: a ring shares a device *or* a network,
and each count must be over everything that entity saw; an operator keyed by (device, IP) would split
a device's accounts across its IPs.

An event without a device id (or IP) is keyed by ``"~"`` and its user id, so such events spread over
the operator's parallel instances like users do instead of piling onto one hot key; they touch no state
and carry NaN figures.

The rows travel packed (:func:`~shopguard.udfs.rows.pack_scoring`: the keys beside one value holding the
whole row), so that each step's crossings between Java and Python carry four values instead of every
column; the device step unpacks only the rows with a device, and the IP step, the last, hands scoring the
full row.

Metrics (group ``shopguard``, per operator): ``entity_events`` (rows with the entity), ``ring_alerts_opened``,
``ring_alerts_updated``, ``ring_alerts_suppressed``, ``state_reset_unreadable`` (a sketch of another layout
version, from another shopguard version's savepoint: that entity starts over; or an open ring alert's record of
another shape: the alert is opened afresh; :mod:`~shopguard.udfs.state_layout`).
"""

from __future__ import annotations

import json
import time

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from shopguard.config import EntitySettings, JobSettings
from shopguard.udfs.entity_rings import RingRecord, RingRule, RingWatch
from shopguard.udfs.entity_sketch import FIGURE_NAMES, LAYOUT, SIGNUP, EntitySketch
from shopguard.udfs.event_intake import KEYED_JSON_ROW
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.local_counter import CountsLocally, LocalCounters
from shopguard.udfs.rows import (
    PACKED_SCORING_FIELDS,
    SCORING_FIELDS,
    entity_figure_fields,
    pack_scoring,
    unpack_scoring,
)
from shopguard.udfs.state_layout import RecordReader, StateReader

ENTITY_TYPES = ("device", "ip")
RING_ALERTS = OutputTag("ring-alerts", KEYED_JSON_ROW)
NO_ENTITY = "~"
"""Prefix of the key of a row without the entity (followed by the user id)."""

_USER, _EVENT_ID, _TYPE, _TS = (
    SCORING_FIELDS.index(name) for name in ("user_id", "event_id", "event_type", "event_ts")
)
_ITEM, _NEW = SCORING_FIELDS.index("item_id"), SCORING_FIELDS.index("account_new")
_LINKED = SCORING_FIELDS.index("ring_linked")
LINKING_ENTITY = "device"
"""The entity step that tells the next one (by the row's ``ring_linked``) that the event's device is a ring."""


def entity_inputs(event: Event, hashing: IdentifierHashing, account_new: bool) -> tuple[str, str, str, int, int]:
    """What the user's keyed step adds to a row for the entity steps: device and IP pseudonyms ('' when
    absent), the item id ('' when none), whether the account is new (1) or not (0), and ``ring_linked`` 0
    (the device step sets it)."""
    return (
        hashing.pseudonym(event.device_id) if event.device_id else "",
        hashing.pseudonym(event.ip) if event.ip else "",
        event.item_id or "",
        int(account_new),
        0,
    )


def sketch_arguments(event: Event, signup_ms: int | None = None) -> tuple[str, str, int, str, bool]:
    """What an entity's sketch observes of an event (:meth:`EntitySketch.observe`'s arguments), offline.

    The job passes the same values from the row's columns (``user_id``, ``event_type``, ``event_ts``,
    ``item_id``, ``account_new``), which :func:`entity_inputs` filled from the event and the user's signup time.
    """
    return event.user_id, event.event_type, event.ts_ms, event.item_id or "", is_new_account(event, signup_ms)


NEW_ACCOUNT_MS = 86_400_000
"""An account is new for a day after its signup."""


def is_new_account(event: Event, signup_ms: int | None = None) -> bool:
    """Whether the event comes from a new account: it is the signup, or the signup (``signup_ms``, the user's
    earliest signup the job saw, whatever the device) was less than a day before.

    >>> from shopguard.udfs.events import Event
    >>> purchase = Event("e", "u", "purchase", 5_000)
    >>> is_new_account(purchase, signup_ms=1_000), is_new_account(purchase)
    (True, False)
    """
    if event.event_type == SIGNUP:
        return True
    return signup_ms is not None and 0 <= event.ts_ms - signup_ms < NEW_ACCOUNT_MS


def entity_key_of(entity_type: str):
    """The key selector of the ``entity_type`` step on a packed row: its pseudonym, or ``~<user id>`` without one."""
    index, user = PACKED_SCORING_FIELDS.index(f"{entity_type}_key"), PACKED_SCORING_FIELDS.index("user_id")

    def key(row) -> str:
        return row[index] or NO_ENTITY + row[user]

    return key


def expiring_text_state(runtime_context: RuntimeContext, name: str, ttl_s: int):
    """A keyed string value that expires ``ttl_s`` after its last write (the user state's TTL mechanics)."""
    from shopguard.udfs.user_history import state_ttl

    descriptor = ValueStateDescriptor(name, Types.STRING())
    descriptor.enable_time_to_live(state_ttl(ttl_s))
    return runtime_context.get_state(descriptor)


def alert_counters(metrics, prefix: str) -> dict:
    """One counter per cool-down action (``open``, ``update``, ``suppress``): ``<prefix>_opened`` and so on."""
    return {
        action: metrics.counter(f"{prefix}_{name}")
        for action, name in (("open", "opened"), ("update", "updated"), ("suppress", "suppressed"))
    }


class KeyedRingWatch:
    """A :class:`~shopguard.udfs.entity_rings.RingWatch` over keyed state: the entity's open ring alert (``ring_alert``,
    JSON text expiring as the sketch does) and the cool-down's counters. ``open`` it in the keyed step's ``open``."""

    def __init__(self, watch: RingWatch, state_ttl_s: int):
        self.watch = watch
        self.state_ttl_s = state_ttl_s

    def open(self, runtime_context: RuntimeContext, metrics) -> None:
        self.state = expiring_text_state(runtime_context, "ring_alert", self.state_ttl_s)
        self.records = RecordReader("ring_alert", RingRecord.from_json)  # another shape: no open alert, counted
        self.records.open(metrics)
        self.counters = alert_counters(metrics, "ring_alerts")  # exact: rare, beside a state write and an alert

    def observe(
        self, entity: str, sketch: EntitySketch, figures: dict[str, float], event_id: str, event_ts: int
    ) -> tuple[str | None, Row | None]:
        """The cool-down's action at this event (None: the entity is no ring) and the ring alert to publish, as
        ``Row(entity, JSON)`` (None unless opened or updated)."""
        outcome = self.watch.observe(
            entity,
            sketch,
            figures,
            lambda: self.records.read(self.state.value()),
            event_id,
            event_ts,
            int(time.time() * 1000),
        )
        return outcome.action, stored_and_published(outcome, entity, self.state, self.counters)


def stored_and_published(outcome, key: str, state, counters: dict) -> Row | None:
    """What a keyed step does with a watch's outcome (:class:`~shopguard.udfs.entity_rings.RingOutcome` or the item
    step's): the record written to ``state`` and the action counted when the watch decided, and the alert as
    ``Row(key, JSON)`` for the alerts topic (None unless opened or updated)."""
    if outcome.record is not None:
        state.update(outcome.record.to_json())
        counters[outcome.action].inc()
    if outcome.alert is None:
        return None
    return Row(key, json.dumps(outcome.alert, separators=(",", ":"), ensure_ascii=False))


class TrackEntity(CountsLocally, KeyedProcessFunction):
    """Keyed by one entity type's pseudonym: packed scoring rows in, the same rows with that entity's figures out.

    Rows come in packed (:data:`~shopguard.udfs.rows.PACKED_SCORING_ROW`) and leave packed, except from the last
    entity step (``emits_packed`` false), which unpacks every row into a :data:`~shopguard.udfs.rows.SCORING_ROW`
    for scoring. A row without the entity is not unpacked by a step that passes it on packed."""

    def __init__(self, entity_type: str, settings: EntitySettings, job: JobSettings):
        if entity_type not in ENTITY_TYPES:
            raise ValueError(f"entity type {entity_type!r}: use one of {ENTITY_TYPES}")
        self.entity_type = entity_type
        self.settings = settings
        self.emits_packed = entity_type != ENTITY_TYPES[-1]
        self.key_index = PACKED_SCORING_FIELDS.index(f"{entity_type}_key")
        figures = entity_figure_fields(entity_type)
        self.first_figure = SCORING_FIELDS.index(figures[0])
        self.ring = (
            KeyedRingWatch(ring_watch(entity_type, settings, job), settings.state_ttl_s)
            if settings.ring_alerts
            else None
        )
        self.counts = None  # LocalCounters, from open

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sketch_state = expiring_text_state(runtime_context, "entity_sketch", self.settings.state_ttl_s)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.sketches = StateReader(LAYOUT, EntitySketch.from_bytes)  # unreadable: the entity starts over, counted
        self.sketches.open(metrics)
        self.counts = LocalCounters(metrics)  # passed on to Java in sums (udfs/local_counter.py)
        self.entity_events = self.counts.counter("entity_events")
        if self.ring is not None:
            self.ring.open(runtime_context, metrics)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        entity = row[self.key_index]
        if not entity:
            yield row if self.emits_packed else Row(*unpack_scoring(row))
            return
        self.counts.flush_within(ctx)
        self.entity_events.inc()
        values = unpack_scoring(row)
        sketch = self.sketches.read(self.sketch_state.value())
        linked = self.entity_type != LINKING_ENTITY and values[_LINKED] == 1
        figures = sketch.observe(values[_USER], values[_TYPE], values[_TS], values[_ITEM], values[_NEW] == 1, linked)
        self.sketch_state.update(sketch.to_bytes().decode("latin-1"))
        values[self.first_figure : self.first_figure + len(figures)] = figures
        if self.ring is not None:
            figures_by_name = dict(zip(FIGURE_NAMES, figures))
            action, alert = self.ring.observe(entity, sketch, figures_by_name, values[_EVENT_ID], values[_TS])
            if action is not None and self.entity_type == LINKING_ENTITY:
                values[_LINKED] = 1
            if alert is not None:
                yield RING_ALERTS, alert
        yield pack_scoring(values) if self.emits_packed else Row(*values)


def ring_watch(entity_type: str, settings: EntitySettings, job: JobSettings) -> RingWatch:
    """The ring rule and cool-down of ``entity_type`` as the settings give them."""
    device = entity_type == "device"
    minimum = settings.ring_min_accounts_device if device else settings.ring_min_accounts_ip
    failing = settings.ring_min_failing_device if device else settings.ring_min_failing_ip
    return RingWatch(
        entity_type,
        RingRule(minimum, settings.ring_min_share, settings.ring_crowd_accounts_30d, failing),
        job.alert_cooldown_ms,
        settings.ring_max_named_accounts,
    )
