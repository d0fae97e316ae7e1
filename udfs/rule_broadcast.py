"""The user step with the detection rules in broadcast state: rules change while the job runs.

:class:`RuledUserHistory` is :class:`~shopguard.udfs.user_history.TrackUserHistory` connected to the rules
stream (a ``KeyedBroadcastProcessFunction``, as in Flink's fraud-detection demo). Each rule record that
arrives on the broadcast side is checked (:func:`~shopguard.udfs.detection_rules.parse_rule`) and, when
good, put into the broadcast state (``detection_rules``: rule id → rule JSON, checkpointed, so rules survive a
restart) and into the function's compiled :class:`~shopguard.udfs.detection_rules.RuleSet`; a malformed or
stale one is logged and counted (``rules_refused``) and the set in force stays as it was. Every parallel
instance receives every rule record, so each keeps the same set.

Per event the cost is what the rules need and no more: nothing is read from the broadcast state (the
compiled set lives in the function and is rebuilt from the state only once after a restore), the
allow/deny lists are set look-ups, and the user's counting state (``rule_counts``) is read and written only
for an event a counting rule watches. The rules fill the last three columns of the row to score
(:data:`~shopguard.udfs.rows.RULE_FIELDS`), which the plain user step leaves empty.

Metrics (group ``shopguard``): ``rules_changed``, ``rules_refused``.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable

from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from shopguard.udfs.detection_rules import NOTHING, Deletion, RuleRefused, RuleSet, parse_rule
from shopguard.udfs.events import Event
from shopguard.udfs.rows import RULE_FIELDS, SCORING_FIELDS
from shopguard.udfs.user_history import TrackUserHistory, state_ttl

__all__ = ["RULES_STATE", "RuledUserHistory", "initial_rule_set"]

_RULES_AT = len(SCORING_FIELDS) - len(RULE_FIELDS)
assert SCORING_FIELDS[_RULES_AT:] == RULE_FIELDS, "the rules' columns close the user step's row"
_DEVICE_KEY = SCORING_FIELDS.index("device_key") if "device_key" in SCORING_FIELDS else None
_IP_KEY = SCORING_FIELDS.index("ip_key") if "ip_key" in SCORING_FIELDS else None

log = logging.getLogger("shopguard.rules")

RULES_STATE = MapStateDescriptor("detection_rules", Types.STRING(), Types.STRING())
"""The broadcast state: rule id → the rule's JSON, for every rule in force."""


def initial_rule_set(texts: Iterable[str | bytes]) -> RuleSet:
    """The rules a job starts with (the replay's, given on the command line); a bad one is an error here."""
    rules = RuleSet()
    for text in texts:
        rules = rules.with_rule(parse_rule(text))
    return rules


class RuledUserHistory(TrackUserHistory, KeyedBroadcastProcessFunction):
    """Keyed by ``user_id``: raw records in, :data:`~shopguard.udfs.rows.SCORING_ROW` rows out; rules on the side."""

    def __init__(self, *args, rules: RuleSet | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_rules = rules or RuleSet()

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        descriptor = ValueStateDescriptor("rule_counts", Types.STRING())
        descriptor.enable_time_to_live(state_ttl(self.settings.state_ttl_s))
        self.rule_counts = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.rules_changed = metrics.counter("rules_changed")
        self.rules_refused = metrics.counter("rules_refused")
        self.rules = self.initial_rules
        self.rules_restored = False

    def process_element(self, raw, ctx):
        if not self.rules_restored:
            self._restore(ctx)
        yield from super().process_element(raw, ctx)

    def scoring_row(self, event: Event, values: list):
        if len(self.rules):  # with no rule the row already says so (NOTHING)
            values[_RULES_AT:] = self._outcome(event, values)
        return super().scoring_row(event, values)

    def process_broadcast_element(self, value, ctx):
        if not self.rules_restored:
            self._restore(ctx)
        if not value:  # the one empty record of a job started without a rules stream
            return
        try:
            rule = parse_rule(value)
            self.rules = self.rules.with_rule(rule)
        except RuleRefused as refused:
            self.rules_refused.inc()
            log.warning("shopguard: %s; the %d rules in force stay", refused, len(self.rules))
            return
        state = ctx.get_broadcast_state(RULES_STATE)
        if isinstance(rule, Deletion):
            if state.contains(rule.id):
                state.remove(rule.id)
        else:
            state.put(rule.id, rule.to_json())
        self.rules_changed.inc()
        log.info(
            "shopguard: rule %s v%d %s", rule.id, rule.version, "deleted" if isinstance(rule, Deletion) else "in force"
        )
        return
        yield  # a generator, as PyFlink expects of process functions

    def _restore(self, ctx) -> None:
        """After a start or a restore: the rules in the broadcast state win over the initial ones."""
        stored = list(ctx.get_broadcast_state(RULES_STATE).items())
        if stored:
            rules = {rule.id: rule for rule in (parse_rule(text) for _, text in stored)}
            self.rules = RuleSet({**self.initial_rules.rules, **rules})
        self.rules_restored = True

    def _outcome(self, event: Event, values: list):
        rules = self.rules
        if not len(rules):
            return NOTHING
        watched = rules.watches(event.event_type)
        counts = json.loads(self.rule_counts.value() or "{}") if watched else {}
        device_key = ip_key = ""
        if rules.needs_pseudonyms:  # the entity columns hold them when the row has them
            device_key = values[_DEVICE_KEY] if _DEVICE_KEY is not None else self._pseudonym(event.device_id)
            ip_key = values[_IP_KEY] if _IP_KEY is not None else self._pseudonym(event.ip)
        outcome = rules.evaluate_event(event, counts, device_key, ip_key)
        if watched:
            self.rule_counts.update(json.dumps(counts, separators=(",", ":")))
        return outcome

    def _pseudonym(self, value: str | None) -> str:
        return self.hashing.pseudonym(value) if value else ""
