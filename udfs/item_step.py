"""The job's item step: an item's reviews and purchases, keyed by the item, and rating-manipulation alerts.

The user's keyed step already reads every event; it sends an item fact (:func:`item_fact`: item, account,
event id, type, time, stars) to the ``item-facts`` side output for a review or a purchase of an item, and
nothing for the other events. So this step is a keyed function that sees only those events (no Python step
is added in front of it, and the events that are neither cross into no new step). :class:`TrackItem`
keeps the item's :class:`~shopguard.udfs.item_reviews.ItemSketch` (bounded, whatever the item's traffic)
and, after a rated review, asks :class:`~shopguard.udfs.item_reviews.ItemWatch` whether a group of accounts gave
the item the same extreme rating; its main output is the alerts (``alert_kind`` ``"ring"``, ``entity_type``
``"item"``, ``anomaly_type`` ``"review_abuse"``), joined to the other alerts. Item ids are the shop's own
public ids, so the key is the item id itself (no pseudonym).

State: the sketch and the open alert's record, each a keyed value that expires ``entities.state_ttl_s`` after
the item's last fact. Metrics (group ``shopguard``): ``item_facts``, ``item_alerts_opened``,
``item_alerts_updated``, ``item_alerts_suppressed``, ``state_reset_unreadable`` (:mod:`~shopguard.udfs.state_layout`).
"""

from __future__ import annotations

import time

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, KeyedProcessFunction, OutputTag, RuntimeContext

from shopguard.config import EntitySettings, JobSettings
from shopguard.udfs.entity_rings import RingRecord
from shopguard.udfs.entity_streams import alert_counters, expiring_text_state, stored_and_published
from shopguard.udfs.event_intake import KEYED_JSON_ROW
from shopguard.udfs.events import Event
from shopguard.udfs.item_reviews import ITEM_FACT_TYPES, LAYOUT, ItemSketch, item_watch
from shopguard.udfs.local_counter import CountsLocally, LocalCounters
from shopguard.udfs.state_layout import RecordReader, StateReader

ITEM_FACT_FIELDS = ("item_id", "user_id", "event_id", "event_type", "event_ts", "rating")
ITEM_FACT_ROW = Types.ROW_NAMED(
    list(ITEM_FACT_FIELDS),
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), Types.LONG()],
)
ITEM_FACTS = OutputTag("item-facts", ITEM_FACT_ROW)


def is_item_fact(event: Event) -> bool:
    """Whether the item step needs ``event``: a review or a purchase of an item."""
    return event.event_type in ITEM_FACT_TYPES and bool(event.item_id)


def item_fact(event: Event) -> Row:
    """The item fact of ``event`` (stars 0 when the review has none)."""
    return Row(event.item_id, event.user_id, event.event_id, event.event_type, event.ts_ms, event.rating or 0)


def item_alerts_on(entities: EntitySettings) -> bool:
    """Whether the job runs the item step (``entities.enabled`` and ``entities.item_alerts``)."""
    return entities.enabled and entities.item_alerts


class TrackItem(CountsLocally, KeyedProcessFunction):
    """Keyed by item id: item facts in, rating-manipulation alerts (keyed JSON rows) out."""

    def __init__(self, settings: EntitySettings, job: JobSettings):
        self.settings = settings
        self.watch = item_watch(settings, job)
        self.counts = None  # LocalCounters, from open

    def open(self, runtime_context: RuntimeContext) -> None:
        self.sketch_state = expiring_text_state(runtime_context, "item_sketch", self.settings.state_ttl_s)
        self.record_state = expiring_text_state(runtime_context, "item_alert", self.settings.state_ttl_s)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.sketches = StateReader(LAYOUT, ItemSketch.from_bytes)  # unreadable: the item starts over, counted
        self.sketches.open(metrics)
        self.records = RecordReader("item_alert", RingRecord.from_json)  # another shape: no open alert, counted
        self.records.open(metrics)
        self.counts = LocalCounters(metrics)  # passed on to Java in sums (udfs/local_counter.py)
        self.facts = self.counts.counter("item_facts")
        self.alert_counters = alert_counters(metrics, "item_alerts")  # exact: rare, beside a state write and an alert

    def process_element(self, fact: Row, ctx: KeyedProcessFunction.Context):
        item, user, event_id, event_type, ts_ms, rating = fact
        self.counts.flush_within(ctx)
        self.facts.inc()
        sketch = self.sketches.read(self.sketch_state.value())
        rated = sketch.observe(user, event_type, ts_ms, rating)
        self.sketch_state.update(sketch.to_bytes().decode("latin-1"))
        if not rated:
            return
        outcome = self.watch.observe(
            item,
            sketch,
            lambda: self.records.read(self.record_state.value()),
            event_id,
            ts_ms,
            int(time.time() * 1000),
        )
        alert = stored_and_published(outcome, item, self.record_state, self.alert_counters)
        if alert is not None:
            yield alert


def track_items(facts: DataStream, entities: EntitySettings, job: JobSettings) -> DataStream:
    """The item step over the user step's item facts: its alerts (:data:`KEYED_JSON_ROW`)."""
    return (
        facts.key_by(lambda fact: fact[0], key_type=Types.STRING())
        .process(TrackItem(entities, job), output_type=KEYED_JSON_ROW)
        .uid("track-items")
        .name("track items (ratings across accounts)")
    )
