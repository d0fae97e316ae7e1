"""The job's entity steps: rows re-keyed by device, then by IP, each entity's figures written into them.

:func:`track_entities` puts the device and IP steps between the user's keyed step and scoring
(``entities.enabled``; off, the rows pass with NaN figures), in one of two engines (``entities.engine``):

* ``"java"``: Java keyed steps (``udfs/java``, class ``shopguard.udfs.entities.EntitySteps``, on Flink's classpath
  from ``lib/``: ``shopguard jars`` puts the jar there locally, the job image builds it), applied through py4j on the
  user step's Java stream. The rows stay in Java from the user step to scoring. An entity that is a ring at an
  event sends a ring candidate to a Python step of its own (:class:`~shopguard.udfs.ring_alert_step.RaiseRingAlerts`),
  which raises the ring alert as the Python engine does.
* ``"python"``: two :class:`~shopguard.udfs.entity_streams.TrackEntity` operators, the reference the Java steps are
  tested against. Between them the rows travel packed (:func:`~shopguard.udfs.rows.pack_scoring`), four values per
  crossing instead of every column; the IP step hands scoring the full row. Its key selector is a Python function
  that PyFlink chains to the step before it, so it adds no crossing of its own.

Both engines keep the same operator ids and sketch state (``entity_sketch``: the sketch's bytes as latin-1 text), so
a savepoint of one restores in the other; an entity's open ring alert lives with the step that raises it (the
entity step in Python, the ring step in Java), so switching engines forgets it and a ring still active opens a new
alert. The IP step is not chained to scoring, so that the scoring worker scores one bundle while the entity steps
prepare the next. The item step (:mod:`shopguard.udfs.item_step`) is fed by the user step's item facts only, so
other events never reach it.
"""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream, KeyedStream

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.udfs.entity_streams import ENTITY_TYPES, RING_ALERTS, TrackEntity, entity_key_of, ring_watch
from shopguard.udfs.event_intake import KEYED_JSON_ROW
from shopguard.udfs.item_step import ITEM_FACTS, item_alerts_on, track_items
from shopguard.udfs.ring_alert_step import RING_CANDIDATE_ROW, RaiseRingAlerts
from shopguard.udfs.rows import PACKED_SCORING_ROW, SCORING_ROW

JAVA_STEPS = "shopguard.udfs.entities.EntitySteps"
"""The Java class that applies the device and IP steps (``udfs/java``)."""


def packs_rows(cfg: ShopguardConfig) -> bool:
    """Whether the user step hands the entity steps packed rows (:data:`PACKED_SCORING_ROW`): the Python engine's."""
    return cfg.entities.enabled and cfg.entities.engine == "python"


def track_entities(rows: DataStream, cfg: ShopguardConfig) -> tuple[DataStream, list[DataStream]]:
    """``rows`` with their device's and IP's figures (:data:`SCORING_ROW`), and the ring alerts of each step.

    ``rows`` is the user step's output, packed when :func:`packs_rows` says so. With ``entities.item_alerts`` its
    item facts (reviews and purchases of items, the user step's ``item-facts`` side output) feed the item step,
    whose alerts join the ring alerts."""
    if not cfg.entities.enabled:
        return rows, []
    ring_alerts = []
    if item_alerts_on(cfg.entities):
        ring_alerts.append(track_items(rows.get_side_output(ITEM_FACTS), cfg.entities, cfg.job))
    if cfg.entities.engine == "java":
        rows, rings = _java_entity_steps(rows, cfg)
    else:
        rows, rings = _python_entity_steps(rows, cfg)
    return rows.disable_chaining(), ring_alerts + rings


def _python_entity_steps(rows: DataStream, cfg: ShopguardConfig) -> tuple[DataStream, list[DataStream]]:
    ring_alerts = []
    for entity_type in ENTITY_TYPES:
        step = TrackEntity(entity_type, cfg.entities, cfg.job)
        rows = (
            rows.key_by(entity_key_of(entity_type), key_type=Types.STRING())
            .process(step, output_type=PACKED_SCORING_ROW if step.emits_packed else SCORING_ROW)
            .uid(f"track-{entity_type}-entities")
            .name(f"track {entity_type}s (accounts across users)")
        )
        ring_alerts.append(rows.get_side_output(RING_ALERTS))
    return rows, ring_alerts


def _java_entity_steps(rows: DataStream, cfg: ShopguardConfig) -> tuple[DataStream, list[DataStream]]:
    settings = cfg.entities
    jvm = _jvm_package()
    rules = [_java_rule(jvm, entity_type, cfg) if settings.ring_alerts else None for entity_type in ENTITY_TYPES]
    steps = jvm.EntitySteps.apply(rows._j_data_stream, settings.state_ttl_s, *rules)
    ring_alerts = []
    if settings.ring_alerts:
        for entity_type in ENTITY_TYPES:
            candidates = steps.ringCandidates(entity_type)
            keyed = jvm.KeyedAsPyFlinkKeys.byField(candidates, 0, f"key {entity_type} ring candidates")
            ring_alerts.append(
                KeyedStream(keyed, RING_CANDIDATE_ROW, DataStream(candidates))
                .process(RaiseRingAlerts(entity_type, settings, cfg.job), output_type=KEYED_JSON_ROW)
                .uid(f"raise-{entity_type}-ring-alerts")
                .name(f"raise {entity_type} ring alerts")
            )
    return DataStream(steps.rows()), ring_alerts


def _jvm_package():
    """The Java steps' package in the job's JVM, or a ShopguardError saying how to put it there."""
    from py4j.java_gateway import JavaClass
    from pyflink.java_gateway import get_gateway

    package = get_gateway().jvm.shopguard.udfs.entities
    if not isinstance(package.EntitySteps, JavaClass):
        raise ShopguardError(
            f"entities.engine = 'java', but {JAVA_STEPS} is not on Flink's classpath: run `shopguard jars` (it"
            " builds the jar into the local Flink home's lib/), build the job image from docker/Dockerfile.job for a"
            " cluster, or set entities.engine = 'python'"
        )
    return package


def _java_rule(jvm, entity_type: str, cfg: ShopguardConfig):
    """The ``entity_type`` ring rule (:func:`~shopguard.udfs.entity_streams.ring_watch`) as the Java ``RingRule``."""
    rule = ring_watch(entity_type, cfg.entities, cfg.job).rule
    failing = -1 if rule.min_failing is None else rule.min_failing
    return jvm.RingRule(rule.min_accounts, float(rule.min_share), rule.crowd_accounts_30d, failing)
