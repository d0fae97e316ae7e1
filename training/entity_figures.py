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

from typing import Sequence

import numpy as np

from shopguard.udfs.entity_sketch import FIGURE_NAMES, EntitySketch
from shopguard.udfs.entity_streams import sketch_arguments
from shopguard.udfs.events import Event
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS

__all__ = ["ENTITY_FIGURE_FIELDS", "entity_figures", "entity_sketches"]


def entity_figures(events: Sequence[Event]) -> np.ndarray:
    """``[len(events), len(ENTITY_FIGURE_FIELDS)]`` figures (NaN where the event has no such entity)."""
    return entity_sketches(events)[0]


def entity_sketches(events: Sequence[Event]) -> tuple[np.ndarray, dict[tuple[str, str], EntitySketch]]:
    """The figures, and every entity's sketch after the last event (keyed by ``(entity type, identifier)``)."""
    width = len(FIGURE_NAMES)
    figures = np.full((len(events), 2 * width), np.nan)
    sketches: dict[tuple[str, str], EntitySketch] = {}
    order = sorted(range(len(events)), key=lambda i: events[i].ts_ms)
    for i in order:
        event = events[i]
        for column, (entity_type, identifier) in enumerate((("device", event.device_id), ("ip", event.ip))):
            if not identifier:
                continue
            sketch = sketches.setdefault((entity_type, identifier), EntitySketch())
            figures[i, column * width : (column + 1) * width] = sketch.observe(*sketch_arguments(event))
    return figures, sketches
