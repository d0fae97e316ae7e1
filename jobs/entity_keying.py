"""The job's entity steps: rows re-keyed by device, then by IP, each entity's figures written into them.

:func:`track_entities` puts the two :class:`~shopguard.udfs.entity_streams.TrackEntity` operators between
the user's keyed step and scoring (``entities.enabled``; off, the rows pass with NaN figures). Between them the
rows travel packed (:func:`~shopguard.udfs.rows.pack_scoring`), four values per crossing instead of every column;
the IP step hands scoring the full row. The key selector is a Python function: PyFlink runs it chained to the
Python step before it (the user's step, or the device step), so it adds no crossing of its own. The IP step is
not chained to scoring, so that the scoring worker scores one bundle while the entity steps prepare the next. The
item step (:mod:`shopguard.udfs.item_step`) is fed by the user step's item facts only, so other events never reach
it.
"""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream

from shopguard.config import ShopguardConfig
from shopguard.udfs.entity_streams import ENTITY_TYPES, RING_ALERTS, TrackEntity, entity_key_of
from shopguard.udfs.item_step import ITEM_FACTS, item_alerts_on, track_items
from shopguard.udfs.rows import PACKED_SCORING_ROW, SCORING_ROW


def track_entities(rows: DataStream, cfg: ShopguardConfig) -> tuple[DataStream, list[DataStream]]:
    """``rows`` with their device's and IP's figures (:data:`SCORING_ROW`), and the ring alerts of each step.

    With ``entities.enabled``, ``rows`` are packed (:data:`PACKED_SCORING_ROW`, the user step's ``packed_rows``) and
    stay packed until the last entity step; without, they are :data:`SCORING_ROW` and pass as they are.

    ``rows`` is the user step's output: with ``entities.item_alerts`` its item facts (reviews and purchases of
    items, the user step's ``item-facts`` side output) feed the item step, whose alerts join the ring alerts."""
    if not cfg.entities.enabled:
        return rows, []
    ring_alerts = []
    if item_alerts_on(cfg.entities):
        ring_alerts.append(track_items(rows.get_side_output(ITEM_FACTS), cfg.entities, cfg.job))
    for entity_type in ENTITY_TYPES:
        step = TrackEntity(entity_type, cfg.entities, cfg.job)
        rows = (
            rows.key_by(entity_key_of(entity_type), key_type=Types.STRING())
            .process(step, output_type=PACKED_SCORING_ROW if step.emits_packed else SCORING_ROW)
            .uid(f"track-{entity_type}-entities")
            .name(f"track {entity_type}s (accounts across users)")
        )
        ring_alerts.append(rows.get_side_output(RING_ALERTS))
    return rows.disable_chaining(), ring_alerts
