"""Ring alerts raised in Python behind the Java entity steps, from the ring candidates they send.

With ``entities.engine = "java"`` the device and IP steps run in Java (``udfs/java``): they advance each entity's
sketch, write its figures into the row and decide whether the entity is a ring at this event
(:func:`~shopguard.udfs.entity_rings.RingWatch`'s rule, ported). Only then do they send a ring candidate
(:data:`RING_CANDIDATE_ROW`: the entity, its sketch after the event as latin-1 text, the event, the figures) on a
side output, so that rare events reach Python. :class:`RaiseRingAlerts`, keyed by the entity, reads the sketch
back (:meth:`~shopguard.udfs.entity_sketch.EntitySketch.from_bytes`, the same bytes) and runs the same
:class:`~shopguard.udfs.entity_rings.RingWatch` the Python step does
(:class:`~shopguard.udfs.entity_streams.KeyedRingWatch`): the alert's text,
cool-down, revisions and named accounts are written once, in Python, for the job and the offline evaluation.

Metrics (group ``shopguard``, per operator): ``ring_alerts_opened``, ``ring_alerts_updated``,
``ring_alerts_suppressed``, ``state_reset_unreadable`` (an open ring alert's record of another shape: it is opened
afresh; :mod:`~shopguard.udfs.state_layout`).
"""

from __future__ import annotations

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext

from shopguard.config import EntitySettings, JobSettings
from shopguard.udfs.entity_sketch import FIGURE_NAMES, EntitySketch
from shopguard.udfs.entity_streams import KeyedRingWatch, ring_watch

RING_CANDIDATE_FIELDS = ("entity", "sketch", "event_id", "event_ts", *FIGURE_NAMES)
"""What a Java entity step sends when its entity is a ring at an event (the Java ``EntitySteps`` names them so)."""
RING_CANDIDATE_ROW = Types.ROW_NAMED(
    list(RING_CANDIDATE_FIELDS),
    [Types.STRING(), Types.STRING(), Types.STRING(), Types.LONG(), *[Types.DOUBLE()] * len(FIGURE_NAMES)],
)
_FIRST_FIGURE = RING_CANDIDATE_FIELDS.index(FIGURE_NAMES[0])


class RaiseRingAlerts(KeyedProcessFunction):
    """Keyed by one entity type's pseudonym: ring candidates (:data:`RING_CANDIDATE_ROW`) from the Java step in,
    ring alerts (``Row(entity, JSON)``, the alerts topic's keyed rows) out."""

    def __init__(self, entity_type: str, settings: EntitySettings, job: JobSettings):
        self.ring = KeyedRingWatch(ring_watch(entity_type, settings, job), settings.state_ttl_s)

    def open(self, runtime_context: RuntimeContext) -> None:
        self.ring.open(runtime_context, runtime_context.get_metrics_group().add_group("shopguard"))

    def process_element(self, candidate: Row, ctx: KeyedProcessFunction.Context):
        figures = dict(zip(FIGURE_NAMES, candidate[_FIRST_FIGURE:]))
        sketch = EntitySketch.from_bytes(candidate[1].encode("latin-1"))
        _action, alert = self.ring.observe(candidate[0], sketch, figures, candidate[2], candidate[3])
        if alert is not None:
            yield alert
