"""The ring step behind the Java entity steps: from ring candidates, the same ring alerts as the Python entity step.

The Java step sends a candidate (:data:`~shopguard.udfs.ring_alert_step.RING_CANDIDATE_ROW`) when its entity is a
ring at an event; here a candidate is made the same way from the Python sketch (the Java sketch keeps the same
bytes: tests/unit/test_entity_java_steps.py), and :class:`RaiseRingAlerts` must publish what
:class:`~shopguard.udfs.entity_streams.TrackEntity` publishes for the same events.
"""

from __future__ import annotations

import json

from pyflink.common import Row

from shopguard.config import EntitySettings, JobSettings
from shopguard.udfs.entity_rings import _watch_evidence
from shopguard.udfs.entity_sketch import FIGURE_NAMES, EntitySketch
from shopguard.udfs.entity_streams import entity_key_of, ring_watch
from shopguard.udfs.events import Event
from shopguard.udfs.ring_alert_step import RING_CANDIDATE_FIELDS, RING_CANDIDATE_ROW, RaiseRingAlerts
from shopguard.udfs.rows import SCORING_FIELDS, unpack_scoring
from tests.unit.test_entity_streams import DEVICE, T0, KeyedRuntime, device_step, ring_events, run, scoring_row

_USER, _TYPE, _TS, _ITEM, _NEW, _EVENT = (
    SCORING_FIELDS.index(name) for name in ("user_id", "event_type", "event_ts", "item_id", "account_new", "event_id")
)


def candidates(events: list[Event]) -> list[Row]:
    """What the Java device step sends for ``events``: a candidate at each event where its device is a ring."""
    rule, sketches, out = ring_watch("device", EntitySettings(), JobSettings()).rule, {}, []
    for event in events:
        values = unpack_scoring(scoring_row(event))
        entity = entity_key_of("device")(scoring_row(event))
        sketch = sketches.setdefault(entity, EntitySketch())
        figures = sketch.observe(values[_USER], values[_TYPE], values[_TS], values[_ITEM], values[_NEW] == 1)
        if _watch_evidence(rule, sketch, dict(zip(FIGURE_NAMES, figures))) is not None:
            sketch_text = sketch.to_bytes().decode("latin-1")
            out.append(Row(entity, sketch_text, values[_EVENT], values[_TS], *figures))
    return out


def raise_alerts(rows: list[Row]) -> list[dict]:
    step, runtime = RaiseRingAlerts("device", EntitySettings(), JobSettings()), KeyedRuntime()
    step.open(runtime)
    alerts = []
    for row in rows:
        runtime.key = row[0]
        alerts += [json.loads(alert[1]) for alert in step.process_element(row, None)]
    return alerts


def without_clock(alert: dict) -> dict:
    return {key: value for key, value in alert.items() if key != "detected_at"}


def test_the_candidate_row_names_the_entity_its_sketch_the_event_and_the_figures():
    assert RING_CANDIDATE_ROW.get_field_names() == list(RING_CANDIDATE_FIELDS)
    assert RING_CANDIDATE_FIELDS[4:] == FIGURE_NAMES


def test_a_ring_raises_from_its_candidates_the_alerts_the_python_entity_step_raises():
    events = ring_events(6) + ring_events(4, start_ms=T0 + 10 * 86_400_000, prefix="later-")
    events += [
        Event(f"solo-{n}", f"solo-{n}", "purchase", T0 + n, item_id="i1", device_id=f"own-{n}") for n in range(5)
    ]
    step, runtime = device_step()
    _, expected = run(step, runtime, events)
    raised = raise_alerts(candidates(events))
    assert [a["revision"] for a in expected] == [0, 1, 2, 3, 0, 1]  # a new episode after the quiet gap
    assert list(map(without_clock, raised)) == list(map(without_clock, expected))


def test_no_candidate_no_alert_and_a_ring_alert_names_no_raw_device():
    assert raise_alerts(candidates(ring_events(2))) == []  # two accounts are no device ring
    raised = raise_alerts(candidates(ring_events(3)))
    assert raised and all(DEVICE not in json.dumps(alert) for alert in raised)
