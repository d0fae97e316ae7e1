"""Declarative detection rules: what a risk team changes while the job runs, without a redeploy.

A rule is one JSON object with an ``id``, a ``version`` (an integer that grows with every change), an
``owner``, a ``description`` and a ``kind``:

``allow``           the listed users, device or IP pseudonyms never alert (``user_ids``, ``device_keys``,
                    ``ip_keys``; pseudonyms as alerts and dead letters show them, ``h:`` and 16 hex digits)
``deny``            the listed ones always alert (a ``rules`` detector score of 1)
``type_threshold``  alerts of ``anomaly_type`` need a score of at least ``threshold`` (instead of the model's)
``count``           at least ``at_least`` events of ``event_type`` within ``within_s`` seconds of event time,
                    optionally only events whose ``where`` condition holds (``{"field": "price", "op": "<=",
                    "value": 2}``; fields: price, quantity, item_id, category_id, channel), alert with a
                    ``rules`` detector score (``score``, default 1) and a reason in words

A deletion is ``{"id": ..., "version": ..., "deleted": true}``. :func:`parse_rule` checks everything and
refuses a malformed rule with the reason (:class:`RuleRefused`); the job then keeps its last good set.

Where the rules apply (the job's graph, :mod:`shopguard.jobs.detect_job`): the keyed user step evaluates the
lists and counting rules for each event (:meth:`RuleSet.evaluate_event`: set look-ups, and keyed state only
for events a counting rule watches), and hands the decision step what it needs in three columns
(``rules_score``, ``rules_floor``, ``rules``); the decision step, which sees only threshold crossings,
applies allow lists and per-type thresholds (:func:`rule_decision`) and names every rule version that
touched the alert. The replay (``shopguard detect``) runs the same code.

Example
-------
>>> rules = RuleSet.of([
...     parse_rule('{"id": "r1", "version": 2, "owner": "risk", "description": "card testing", "kind": "count",'
...                ' "event_type": "payment_failed", "at_least": 3, "within_s": 60,'
...                ' "where": {"field": "price", "op": "<=", "value": 2}}'),
...     parse_rule('{"id": "r2", "version": 1, "owner": "risk", "description": "quiet bots",'
...                ' "kind": "type_threshold", "anomaly_type": "bot", "threshold": 0.999}'),
... ])
>>> from shopguard.udfs.events import Event
>>> counts = {}
>>> for i in range(3):
...     outcome = rules.evaluate_event(Event(f"e{i}", "u1", "payment_failed", 1000 * i, price=1.0), counts)
>>> outcome.score, outcome.floor
(1.0, 0.999)
>>> json.loads(outcome.column)["hits"][0]["reason"]
'3 payment_failed events with price <= 2 within 60 s (rule r1 v2)'
>>> rule_decision(0.5, 0.9, "card_testing", outcome.score, outcome.column).alert
True
>>> rule_decision(0.995, 0.9, "bot", float("nan"), outcome.column).alert  # below the bot threshold of r2
False
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from shopguard.errors import RecordRefused
from shopguard.udfs.events import Event

KINDS = ("allow", "deny", "type_threshold", "count")
LIST_KEYS = ("user_ids", "device_keys", "ip_keys")
CONDITION_FIELDS = {"price": float, "quantity": float, "item_id": str, "category_id": str, "channel": str}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
MAX_LIST = 100_000
MAX_AT_LEAST = 10_000
_COMMON = {"id", "version", "owner", "description", "kind"}
_FIELDS = {
    "allow": {"user_ids", "device_keys", "ip_keys"},
    "deny": {"user_ids", "device_keys", "ip_keys"},
    "type_threshold": {"anomaly_type", "threshold"},
    "count": {"event_type", "at_least", "within_s", "where", "score"},
}


class RuleRefused(RecordRefused):
    """A rule that cannot be applied; the message names the rule and the reason (``rule_id``, ``reason``)."""

    record = "rule"

    @property
    def rule_id(self) -> str:
        return self.key


@dataclass(frozen=True)
class Condition:
    """``field op value`` on one event; an event without the field does not match."""

    field: str
    op: str
    value: Any

    def holds(self, event: Event) -> bool:
        actual = getattr(event, self.field)
        if actual is None:
            return False
        try:
            return OPERATORS[self.op](CONDITION_FIELDS[self.field](actual), self.value)
        except (TypeError, ValueError):
            return False

    def text(self) -> str:
        return (
            f"{self.field} {self.op} {self.value:g}"
            if isinstance(self.value, float)
            else (f"{self.field} {self.op} {self.value}")
        )


@dataclass(frozen=True)
class Rule:
    """One parsed, checked rule (see the module's docstring for the kinds and their fields)."""

    id: str
    version: int
    owner: str
    description: str
    kind: str
    user_ids: frozenset[str] = frozenset()
    device_keys: frozenset[str] = frozenset()
    ip_keys: frozenset[str] = frozenset()
    anomaly_type: str = ""
    threshold: float | None = None
    event_type: str = ""
    at_least: int = 0
    within_ms: int = 0
    where: Condition | None = None
    score: float = 1.0
    body: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> str:
        """The rule as it was given (canonical key order), for the topic and the broadcast state."""
        return json.dumps(dict(self.body), sort_keys=True, ensure_ascii=False)

    def touch(self, effect: str, reason: str = "", score: float | None = None) -> dict[str, Any]:
        """How this rule touched an alert, as the alert's ``rules`` entry says it."""
        entry: dict[str, Any] = {"id": self.id, "version": self.version, "effect": effect}
        if reason:
            entry["reason"] = reason
        if score is not None:
            entry["score"] = score
        return entry


@dataclass(frozen=True)
class Deletion:
    """The end of a rule: ``{"id": ..., "version": ..., "deleted": true}``."""

    id: str
    version: int


def parse_rule(text: str | bytes | Mapping[str, Any]) -> Rule | Deletion:
    """A rule (or a deletion) from its JSON; :class:`RuleRefused` with the reason when it is malformed."""
    body = _json_object(text)
    rule_id = body.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip() or len(rule_id) > 200:
        raise RuleRefused(str(rule_id or ""), "needs an id: a non-empty string of at most 200 characters")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RuleRefused(rule_id, f"version must be a positive integer, not {version!r}")
    if body.get("deleted") is True:
        return Deletion(rule_id, version)
    for name in ("owner", "description"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise RuleRefused(rule_id, f"needs {name}: a non-empty string")
    kind = body.get("kind")
    if kind not in KINDS:
        raise RuleRefused(rule_id, f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    unknown = set(body) - _COMMON - _FIELDS[kind]
    if unknown:
        raise RuleRefused(rule_id, f"fields {sorted(unknown)} mean nothing to a {kind} rule")
    common = dict(id=rule_id, version=version, owner=body["owner"], description=body["description"], kind=kind)
    return Rule(**common, **_KIND_PARSERS[kind](rule_id, body), body=dict(body))


def _lists(rule_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    lists = {}
    for key in LIST_KEYS:
        values = body.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise RuleRefused(rule_id, f"{key} must be a list of non-empty strings")
        if len(values) > MAX_LIST:
            raise RuleRefused(rule_id, f"{key} holds {len(values):,} entries; at most {MAX_LIST:,}")
        lists[key] = frozenset(values)
    if not any(lists.values()):
        raise RuleRefused(rule_id, f"lists nobody: give at least one of {', '.join(LIST_KEYS)}")
    return lists


def _type_threshold(rule_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    anomaly_type, threshold = body.get("anomaly_type"), body.get("threshold")
    if not isinstance(anomaly_type, str) or not anomaly_type:
        raise RuleRefused(rule_id, "needs anomaly_type: the alert type whose threshold it sets")
    if not _number(threshold) or not 0.0 <= threshold <= 1.0:
        raise RuleRefused(rule_id, f"threshold must be a number from 0 to 1, not {threshold!r}")
    return {"anomaly_type": anomaly_type, "threshold": float(threshold)}


def _count(rule_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    event_type, at_least, within_s = body.get("event_type"), body.get("at_least"), body.get("within_s")
    if not isinstance(event_type, str) or not event_type:
        raise RuleRefused(rule_id, "needs event_type: the type of event it counts")
    if not isinstance(at_least, int) or isinstance(at_least, bool) or not 1 <= at_least <= MAX_AT_LEAST:
        raise RuleRefused(rule_id, f"at_least must be an integer from 1 to {MAX_AT_LEAST}, not {at_least!r}")
    if not _number(within_s) or not within_s > 0:
        raise RuleRefused(rule_id, f"within_s must be a positive number of seconds, not {within_s!r}")
    score = body.get("score", 1.0)
    if not _number(score) or not 0.0 <= score <= 1.0:
        raise RuleRefused(rule_id, f"score must be a number from 0 to 1, not {score!r}")
    where = body.get("where")
    return {
        "event_type": event_type,
        "at_least": at_least,
        "within_ms": int(within_s * 1000),
        "score": float(score),
        "where": None if where is None else _condition(rule_id, where),
    }


def _condition(rule_id: str, where: Any) -> Condition:
    if not isinstance(where, dict) or set(where) != {"field", "op", "value"}:
        raise RuleRefused(rule_id, 'where must be {"field": ..., "op": ..., "value": ...}')
    name, op, value = where["field"], where["op"], where["value"]
    if name not in CONDITION_FIELDS:
        raise RuleRefused(rule_id, f"where.field {name!r} is not one of {', '.join(CONDITION_FIELDS)}")
    if op not in OPERATORS:
        raise RuleRefused(rule_id, f"where.op {op!r} is not one of {' '.join(OPERATORS)}")
    if CONDITION_FIELDS[name] is float:
        if not _number(value):
            raise RuleRefused(rule_id, f"where.value for {name} must be a number, not {value!r}")
        value = float(value)
    elif not isinstance(value, str) or op not in ("==", "!="):
        raise RuleRefused(rule_id, f"{name} is text: compare it with == or != to a string")
    return Condition(name, op, value)


_KIND_PARSERS = {"allow": _lists, "deny": _lists, "type_threshold": _type_threshold, "count": _count}


class EventOutcome(NamedTuple):
    """What the rules say about one event: the ``rules`` score (NaN: none fired), the lowest per-type
    threshold in force (NaN: none) and the ``rules`` column the decision step reads ('' when empty)."""

    score: float
    floor: float
    column: str


NOTHING = EventOutcome(math.nan, math.nan, "")


@dataclass(frozen=True)
class RuleSet:
    """The rules in force, indexed for the per-event look-ups."""

    rules: Mapping[str, Rule] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> "RuleSet":
        return cls({rule.id: rule for rule in rules})

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Rule]] = {}
        counts: dict[str, list[Rule]] = {}
        types: dict[str, Rule] = {}
        for rule in sorted(self.rules.values(), key=lambda r: r.id):
            if rule.kind in ("allow", "deny"):
                for key in LIST_KEYS:
                    for value in getattr(rule, key):
                        index.setdefault((key, value), []).append(rule)
            elif rule.kind == "count":
                counts.setdefault(rule.event_type, []).append(rule)
            elif rule.anomaly_type not in types or rule.id < types[rule.anomaly_type].id:
                types[rule.anomaly_type] = rule  # two rules for one type: the first by id holds
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_counts", counts)
        object.__setattr__(self, "_types", types)
        object.__setattr__(self, "needs_pseudonyms", any(k != "user_ids" for k, _ in index))
        floor = min((rule.threshold for rule in types.values()), default=math.nan)
        type_column = {t: [r.threshold, r.id, r.version] for t, r in sorted(types.items())}
        object.__setattr__(self, "_floor", floor)
        object.__setattr__(self, "_types_column", type_column)
        object.__setattr__(
            self, "_quiet", EventOutcome(math.nan, floor, json.dumps({"types": type_column}) if types else "")
        )

    def __len__(self) -> int:
        return len(self.rules)

    def with_rule(self, rule: Rule | Deletion) -> "RuleSet":
        """This set with ``rule`` added, changed or deleted; :class:`RuleRefused` when it is older than the
        version held (a rule's versions only grow)."""
        held = self.rules.get(rule.id)
        if held is not None and rule.version < held.version:
            raise RuleRefused(rule.id, f"version {rule.version} is older than version {held.version} in force")
        rules = {k: v for k, v in self.rules.items() if k != rule.id}
        if isinstance(rule, Rule):
            rules[rule.id] = rule
        return RuleSet(rules)

    def evaluate_event(
        self, event: Event, counts: dict[str, list[int]], device_key: str = "", ip_key: str = ""
    ) -> EventOutcome:
        """The rules' word on one event of the user whose counting state is ``counts`` (rule id → newest
        event times; updated in place, only for rules that watch this event's type)."""
        hits = []
        if self._index:
            for key, value in (("user_ids", event.user_id), ("device_keys", device_key), ("ip_keys", ip_key)):
                for rule in self._index.get((key, value), ()) if value else ():
                    hits.append(rule.touch(rule.kind, f"{key[:-1].replace('_', ' ')} on the {rule.kind} list"))
        for rule in self._counts.get(event.event_type, ()):
            if rule.where is not None and not rule.where.holds(event):
                continue
            seen = [ts for ts in counts.get(rule.id, ()) if ts > event.ts_ms - rule.within_ms] + [event.ts_ms]
            counts[rule.id] = seen[-rule.at_least :]
            if len(seen) >= rule.at_least:
                hits.append(rule.touch("count", _count_reason(rule, len(seen)), rule.score))
        for stale in [rule_id for rule_id in counts if rule_id not in self.rules]:
            del counts[stale]
        if not hits:
            return self._quiet
        scores = [1.0 if hit["effect"] == "deny" else hit.get("score", math.nan) for hit in hits]
        fired = [s for s in scores if not math.isnan(s)]
        body: dict[str, Any] = {"hits": hits}
        if self._types_column:
            body["types"] = self._types_column
        return EventOutcome(max(fired) if fired else math.nan, self._floor, json.dumps(body, ensure_ascii=False))

    def watches(self, event_type: str) -> bool:
        """Whether a counting rule counts events of this type (only then is the counting state read)."""
        return event_type in self._counts


def _count_reason(rule: Rule, seen: int) -> str:
    condition = f" with {rule.where.text()}" if rule.where else ""
    within = f"{rule.within_ms / 1000:g} s"
    return f"{seen} {rule.event_type} events{condition} within {within} (rule {rule.id} v{rule.version})"


class RuleDecision(NamedTuple):
    """The decision step's reading of the rules for one scored event."""

    alert: bool  # alert: the score reached the threshold in force, or a deny list or counting rule fired
    allowed: bool  # an allow list holds this event: no alert whatever the score
    threshold: float  # the threshold in force for the event's type
    touches: list[dict[str, Any]]  # every rule that touched the decision, for the alert's ``rules``


def rule_decision(score: float, threshold: float, anomaly_type: str, rules_score: float, column: str) -> RuleDecision:
    """Whether a scored event alerts, given the model's ``threshold`` and the ``rules`` column of its row.

    >>> rule_decision(0.95, 0.9, "bot", float("nan"), "")
    RuleDecision(alert=True, allowed=False, threshold=0.9, touches=[])
    """
    if not column:
        return RuleDecision(score >= threshold, False, threshold, [])
    body = json.loads(column)
    touches = list(body.get("hits", ()))
    if any(touch["effect"] == "allow" for touch in touches):
        return RuleDecision(False, True, threshold, [t for t in touches if t["effect"] == "allow"])
    typed = body.get("types", {}).get(anomaly_type)
    if typed is not None:
        threshold = float(typed[0])
        touches.append({"id": typed[1], "version": typed[2], "effect": "type_threshold", "threshold": threshold})
    fired = rules_score is not None and not math.isnan(rules_score)  # a deny list or counting rule alerts itself
    if fired and not score >= threshold:  # the rules alone made this alert: say so on the rules that fired
        touches = [dict(t, made_alert=True) if t["effect"] in FIRING_EFFECTS else t for t in touches]
    return RuleDecision(score >= threshold or fired, False, threshold, touches)


FIRING_EFFECTS = ("deny", "count")
"""The effects of rules that alert by themselves (a deny list, a counting rule), whatever the model's score."""


def made_by_rules(alert: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rules that made ``alert`` on their own (its model ``score`` is below its ``threshold``); [] when the model
    made it.

    >>> made_by_rules({"score": 0.2, "threshold": 0.9, "rules": [{"id": "r1", "version": 2, "effect": "count",
    ...                                                             "made_alert": True}]})[0]["id"]
    'r1'
    """
    return [touch for touch in alert.get("rules") or () if touch.get("made_alert")]


def with_rule_reasons(
    reasons: list[dict[str, Any]], touches: Iterable[Mapping[str, Any]], rules_score: float | None
) -> list[dict[str, Any]]:
    """The alert's reasons with the fired rules' own: first when the rules alone made the alert (the reason an
    analyst reads first is why it exists), after the model's otherwise."""
    touches = list(touches)
    ruled = rule_reasons(touches, rules_score)
    return ruled + reasons if any(touch.get("made_alert") for touch in touches) else reasons + ruled


def rule_reasons(touches: Iterable[Mapping[str, Any]], rules_score: float | None) -> list[dict[str, Any]]:
    """Reasons an analyst reads for the rules that fired on an alert's event (deny lists, counting rules)."""
    return [
        {
            "feature": "rules",
            "rule": touch["id"],
            "version": touch["version"],
            "value": touch.get("score", 1.0 if rules_score is None else rules_score),
            "text": touch["reason"]
            if touch["effect"] == "count"
            else f"{touch['reason']} (rule {touch['id']} v{touch['version']})",
        }
        for touch in touches
        if touch["effect"] in FIRING_EFFECTS
    ]


def _json_object(text: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    return dict(text) if isinstance(text, Mapping) else RuleRefused.json_object(text)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
