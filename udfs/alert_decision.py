"""The job's last step: decide, per user, whether a score over the threshold becomes an alert.

Keyed by ``user_id`` and fed only rows whose score crossed their model's threshold, so it runs
rarely. It applies the cool-down (:mod:`shopguard.udfs.cool_down`: one open alert per user, updated
rather than repeated), and for each alert it opens or updates it explains the score by occlusion
with the very model version that produced it, lists every detector's score and what each one saw
(the sequences the user's pattern profile lacks, the rules' counts, what is rare among real shoppers), and writes
the canonical alert JSON. The detection rules have their say first
(:func:`~shopguard.udfs.detection_rules.rule_decision`: allow lists, per-type thresholds, deny lists and
counting rules), and every alert names the rule versions that touched it (``rules``). Metrics (group
``shopguard``): ``alerts_opened``, ``alerts_updated``, ``alerts_suppressed``, ``alerts_ruled_out`` (held back
by an allow list or a per-type threshold).

Order. The cool-down is decided in event-time order, so that a replay gives the alerts the live stream gave.
The entity steps re-key each row by device and then by IP, so at parallelism above 1 two crossings of one
user may reach this step in either order. Each crossing therefore waits ``job.alert_hold_ms`` of processing
time (:func:`hold_ms`) and the waiting ones are decided sorted by event time and event id
(:func:`decision_order`); a replay (bounded input, :data:`DECIDE_AT_END_OF_INPUT`) decides them all when
its input ends, so its alerts do not depend on the order rows crossed the entity steps.
"""

from __future__ import annotations

import json
import logging
import time

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext, TimeDomain
from pyflink.datastream.state import ValueStateDescriptor

from shopguard.config import JobSettings
from shopguard.udfs.alerts import alert_id_for, build_alert
from shopguard.udfs.cool_down import OpenAlert, decide
from shopguard.udfs.detection_rules import rule_decision, with_rule_reasons
from shopguard.udfs.explanations import occlusion_contributions
from shopguard.udfs.new_account import DEVICE_NEW_ACCOUNTS
from shopguard.udfs.pattern_matching import read_unmatched_field
from shopguard.udfs.rarity import RARE_SCORE
from shopguard.udfs.rows import CROSSING_FIELDS, ENTITY_FIGURE_FIELDS
from shopguard.udfs.scoring import ModelRefused
from shopguard.udfs.session_features import SessionFeatures
from shopguard.udfs.user_history import state_ttl

log = logging.getLogger("shopguard.alerts")

DECIDE_AT_END_OF_INPUT = -1  # job.alert_hold_ms of a replay: crossings wait for the end of the input (exact)


def hold_ms(settings: JobSettings) -> int:
    """How long a crossing waits before it is decided: none at parallelism 1, where rows keep their order.

    >>> from shopguard.config import JobSettings
    >>> hold_ms(JobSettings(parallelism=1)), hold_ms(JobSettings(parallelism=2, alert_hold_ms=2000))
    (0, 2000)
    >>> hold_ms(JobSettings(parallelism=1, alert_hold_ms=DECIDE_AT_END_OF_INPUT))
    -1
    """
    if settings.alert_hold_ms == DECIDE_AT_END_OF_INPUT:
        return DECIDE_AT_END_OF_INPUT
    return settings.alert_hold_ms if settings.parallelism > 1 else 0


def decision_order(crossing: dict) -> tuple[int, str]:
    """The order held crossings are decided in: event time, then event id (ties in event time).

    >>> held = [{"event_ts": 7, "event_id": "b"}, {"event_ts": 5, "event_id": "z"}, {"event_ts": 7, "event_id": "a"}]
    >>> [c["event_id"] for c in sorted(held, key=decision_order)]
    ['z', 'a', 'b']
    """
    return crossing["event_ts"], crossing["event_id"]


def due(held: list[tuple[int, dict]], now_ms: int, hold: int) -> tuple[list[dict], list[tuple[int, dict]]]:
    """What to decide at ``now_ms`` among the held ``(arrived_ms, crossing)`` pairs, in decision order, and the rest.

    Due are the crossings that waited ``hold`` ms, and with them every held crossing that comes before one of
    them in event time (it was overtaken on its way here, and is decided in its place).

    >>> held = [(0, {"event_ts": 9, "event_id": "a"}), (900, {"event_ts": 1, "event_id": "b"}),
    ...         (950, {"event_ts": 12, "event_id": "c"})]
    >>> ready, rest = due(held, 1000, 500)
    >>> [c["event_id"] for c in ready], [c["event_id"] for _, c in rest]
    (['b', 'a'], ['c'])
    """
    waited = [decision_order(crossing) for arrived, crossing in held if arrived + hold <= now_ms]
    if not waited:
        return [], held
    cutoff = max(waited)
    ready = [crossing for _, crossing in held if decision_order(crossing) <= cutoff]
    rest = [(arrived, crossing) for arrived, crossing in held if decision_order(crossing) > cutoff]
    return sorted(ready, key=decision_order), rest


class DecideAlert(KeyedProcessFunction):
    """Keyed by ``user_id``: threshold crossings in, ``(user_id, alert JSON)`` rows out."""

    def __init__(self, settings: JobSettings, source):
        self.cooldown_ms = settings.alert_cooldown_ms
        self.min_gain = settings.alert_update_min_gain
        self.history_length = settings.history_length
        self.state_ttl_s = settings.state_ttl_s
        self.onnx_threads = settings.onnx_threads
        self.hold = hold_ms(settings)
        self.source = source

    def open(self, runtime_context: RuntimeContext) -> None:
        descriptor = ValueStateDescriptor("open_alert", Types.STRING())
        descriptor.enable_time_to_live(state_ttl(self.state_ttl_s))
        self.open_alert = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.counters = {
            action: metrics.counter(f"alerts_{name}")
            for action, name in (("open", "opened"), ("update", "updated"), ("suppress", "suppressed"))
        }
        self.ruled_out = metrics.counter("alerts_ruled_out")
        self.models: dict = {}
        held = ValueStateDescriptor("held_crossings", Types.PICKLED_BYTE_ARRAY())
        held.enable_time_to_live(state_ttl(self.state_ttl_s))
        self.held = runtime_context.get_state(held)

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        crossing = dict(zip(CROSSING_FIELDS, row))
        if self.hold == 0:
            yield from self._decide(crossing)
            return
        timers = ctx.timer_service()
        now = timers.current_processing_time()
        self.held.update((self.held.value() or []) + [(now, crossing)])
        if self.hold == DECIDE_AT_END_OF_INPUT:
            timers.register_event_time_timer(crossing["event_ts"])  # fires on the end-of-input watermark
        else:
            timers.register_processing_time_timer(now + self.hold)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        held = self.held.value() or []
        if ctx.time_domain() == TimeDomain.EVENT_TIME:  # the end of a replay's input, or a drain
            ready, rest = sorted((crossing for _, crossing in held), key=decision_order), []
        else:
            ready, rest = due(held, timestamp, self.hold)
        if rest:
            self.held.update(rest)
        else:
            self.held.clear()
        for crossing in ready:
            yield from self._decide(crossing)

    def _decide(self, crossing: dict):
        ruling = rule_decision(
            crossing["score"],
            crossing["threshold"],
            crossing["anomaly_type"],
            crossing.get("rules_score"),
            crossing.get("rules") or "",
        )
        if not ruling.alert:
            self.ruled_out.inc()
            return
        decision = decide(
            OpenAlert.from_json(self.open_alert.value()),
            event_ts=crossing["event_ts"],
            score=crossing["score"],
            anomaly_type=crossing["anomaly_type"],
            new_alert_id=alert_id_for(crossing["model_version"], crossing["user_id"], crossing["event_id"]),
            cooldown_ms=self.cooldown_ms,
            min_gain=self.min_gain,
        )
        self.open_alert.update(decision.alert.to_json())
        self.counters[decision.action].inc()
        if decision.action == "suppress":
            return
        alert = self._explained_alert(crossing, decision.alert)
        alert["rules"] = ruling.touches
        alert["reasons"] = with_rule_reasons(alert["reasons"], ruling.touches, crossing.get("rules_score"))
        if ruling.threshold != crossing["threshold"]:
            alert["threshold"] = ruling.threshold
        yield Row(crossing["user_id"], json.dumps(alert, separators=(",", ":"), ensure_ascii=False))

    def _explained_alert(self, crossing: dict, open_alert: OpenAlert) -> dict:
        codes = bytes(crossing["codes"])
        event_ids = json.loads(crossing["recent_event_ids"])
        model = self._model(crossing["model_version"])
        contributions = (
            occlusion_contributions(model, codes, event_ids, self.history_length) if model is not None else []
        )
        detectors = {
            "lstm": crossing["lstm_score"],
            "next_event": crossing["next_event_score"],
            "user_patterns": crossing["user_patterns_score"],
            "velocity_rules": crossing["velocity_rules_score"],
            "rarity": crossing["rarity_score"],
            "entities": crossing["entities_score"],
            "new_account": crossing["new_account_score"],
            "rules": crossing.get("rules_score"),
        }
        combiner = getattr(model, "combiner", None)
        return build_alert(
            user_id=crossing["user_id"],
            session_id=crossing["session_id"],
            event_id=crossing["event_id"],
            event_ts=crossing["event_ts"],
            codes=codes,
            recent_event_ids=event_ids,
            score=crossing["score"],
            threshold=crossing["threshold"],
            model_version=crossing["model_version"],
            detected_at_ms=int(time.time() * 1000),
            anomaly_type=open_alert.anomaly_type,
            detectors=detectors,
            evidence=combiner.evidence(detectors) if combiner is not None else None,
            rarity_reasons=rarity_reasons(model, crossing["session"], crossing["rarity_score"]),
            entity_reasons=entity_reasons(model, crossing),
            new_account_reasons=new_account_reasons(model, crossing),
            unmatched_patterns=read_unmatched_field(crossing["pattern_unmatched"]),
            contributions=contributions,
            alert_id=open_alert.alert_id,
            revision=open_alert.revision,
            session=SessionFeatures.from_bytes(bytes(crossing["session"])).summary(
                crossing["user_id"], crossing["event_ts"]
            ),
        )

    def _model(self, version: str):
        """The model that produced the score (cached; None if it cannot be loaded any more)."""
        if version not in self.models:
            try:
                self.models = {version: self.source.load_version(version, self.onnx_threads)}  # keep one
            except ModelRefused as refusal:
                log.error("shopguard: no occlusion explanation for model %s: %s", version, refusal)
                self.models = {version: None}
        return self.models[version]


def entity_reasons(model, crossing: dict) -> list[dict]:
    """What is unusual about the event's device and IP across accounts, in words, when the model has entity tables."""
    tables = getattr(model, "entities", None)
    if tables is None:
        return []
    return tables.reasons({name: crossing[name] for name in ENTITY_FIGURE_FIELDS})


def new_account_reasons(model, crossing: dict) -> list[dict]:
    """How soon after opening the account the event spent, and on how shared a device, in words (when rare)."""
    tables = getattr(model, "new_account", None)
    if tables is None or crossing.get("seconds_since_signup") is None:
        return []
    return tables.reasons(
        crossing["event_type"], crossing["seconds_since_signup"], _or_nan(crossing.get(DEVICE_NEW_ACCOUNTS))
    )


def _or_nan(value) -> float:
    """A figure that crossed a Flink table as SQL NULL (a NaN) comes back as None."""
    return float("nan") if value is None else float(value)


def rarity_reasons(model, session: bytes | None, rarity_score: float | None) -> list[dict]:
    """What is rare about the user's behaviour, in words, when the ``rarity`` detector found it rare."""
    tables = getattr(model, "rarity", None)
    if tables is None or session is None or rarity_score is None or not rarity_score >= RARE_SCORE:
        return []
    return tables.reasons(bytes(session))
