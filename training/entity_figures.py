"""Entity figures offline: the job's device and IP figures for a list of events, by the job's own code.

The evaluation and the fitting of the ``entities`` detector's population tables need each event's
entity figures as the job would have given them. :func:`entity_figures` replays the events in event-time
order across users (stable: equal times keep their order) through one
:class:`~shopguard.udfs.entity_sketch.EntitySketch` per device and per IP, with the same arguments the
job's entity steps pass (:func:`~shopguard.udfs.entity_streams.sketch_arguments`), and returns the figures
in :data:`~shopguard.udfs.rows.ENTITY_FIGURE_FIELDS` order, one row per event in the order given. Keys are
the raw identifiers: grouping by them is grouping by their pseudonyms.

Example
-------
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"e{n}", f"u{n}", "signup", 1_600_000_000_000 + n, device_id="d1") for n in range(3)]
>>> figures = entity_figures(events)
>>> figures[-1, ENTITY_FIGURE_FIELDS.index("device_accounts_24h")], np.isnan(figures[-1, -1])
(np.float64(3.0), np.True_)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from shopguard.udfs.entity_rings import RingRecord, RingWatch
from shopguard.udfs.entity_sketch import FIGURE_NAMES, SIGNUP, EntitySketch
from shopguard.udfs.entity_streams import LINKING_ENTITY, sketch_arguments
from shopguard.udfs.events import Event
from shopguard.udfs.item_reviews import ItemSketch, ItemWatch
from shopguard.udfs.item_step import is_item_fact
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS

__all__ = ["ENTITY_FIGURE_FIELDS", "EntityReplay", "entity_figures", "replay_entities", "replay_items"]


@dataclass
class EntityReplay:
    """What the entity steps made of a list of events: each event's figures, every entity's final sketch, and
    the ring alerts in the order raised."""

    figures: np.ndarray
    sketches: dict[tuple[str, str], EntitySketch] = field(default_factory=dict)
    ring_alerts: list[dict] = field(default_factory=list)


def entity_figures(events: Sequence[Event]) -> np.ndarray:
    """``[len(events), len(ENTITY_FIGURE_FIELDS)]`` figures (NaN where the event has no such entity)."""
    return replay_entities(events).figures


def replay_entities(events: Sequence[Event], watches: Mapping[str, RingWatch] | None = None) -> EntityReplay:
    """The figures and sketches, and with ``watches`` (per entity type) the ring alerts the job would raise."""
    width = len(FIGURE_NAMES)
    replay = EntityReplay(np.full((len(events), 2 * width), np.nan))
    records: dict[tuple[str, str], RingRecord] = {}
    signups: dict[str, int] = {}  # each user's earliest signup so far, as the user's keyed state holds it
    order = sorted(range(len(events)), key=lambda i: events[i].ts_ms)
    for i in order:
        event = events[i]
        if event.event_type == SIGNUP and event.ts_ms < signups.get(event.user_id, event.ts_ms + 1):
            signups[event.user_id] = event.ts_ms
        linked = False  # the event's device is a ring at this event: the IP step links the account
        for column, (entity_type, identifier) in enumerate((("device", event.device_id), ("ip", event.ip))):
            if not identifier:
                continue
            key = (entity_type, identifier)
            sketch = replay.sketches.setdefault(key, EntitySketch())
            figures = sketch.observe(
                *sketch_arguments(event, signups.get(event.user_id)), linked and entity_type != LINKING_ENTITY
            )
            replay.figures[i, column * width : (column + 1) * width] = figures
            watch = (watches or {}).get(entity_type)
            if watch is None:
                continue
            outcome = watch.observe(
                identifier,
                sketch,
                dict(zip(FIGURE_NAMES, figures)),
                lambda key=key: records.get(key, RingRecord()),
                event.event_id,
                event.ts_ms,
                event.ts_ms,
            )
            if outcome.record is not None:
                records[key] = outcome.record
            linked = linked or (outcome.action is not None and entity_type == LINKING_ENTITY)
            if outcome.alert is not None:
                replay.ring_alerts.append(outcome.alert)
    return replay


def replay_items(events: Sequence[Event], watch: ItemWatch) -> list[dict]:
    """The rating-manipulation alerts the job's item step would raise for ``events`` (in event-time order), by its
    own sketch and watch (:mod:`shopguard.udfs.item_reviews`), fed the facts the user step sends it."""
    sketches: dict[str, ItemSketch] = {}
    records: dict[str, RingRecord] = {}
    alerts = []
    for event in sorted((e for e in events if is_item_fact(e)), key=lambda e: e.ts_ms):
        item = event.item_id
        sketch = sketches.setdefault(item, ItemSketch())
        if not sketch.observe(event.user_id, event.event_type, event.ts_ms, event.rating or 0):
            continue
        outcome = watch.observe(
            item, sketch, lambda item=item: records.get(item, RingRecord()), event.event_id, event.ts_ms, event.ts_ms
        )
        if outcome.record is not None:
            records[item] = outcome.record
        if outcome.alert is not None:
            alerts.append(outcome.alert)
    return alerts
