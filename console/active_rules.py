"""The detection rules in force, as the job holds them: every record of the rules topic applied in order.

Each record goes through the job's own checks (:func:`~shopguard.udfs.detection_rules.parse_rule` and
:meth:`~shopguard.udfs.detection_rules.RuleSet.with_rule`): a new version replaces the rule, a deletion
marker (``{"id", "version", "deleted": true}``) ends it, and a record the job refuses (malformed, or older
than the version in force) leaves the rule in force as it was and is listed apart with the reason. An empty
record changes nothing, as in the job.

Example
-------
>>> rules = ActiveRules()
>>> rules.apply('{"id": "r1", "version": 1, "owner": "risk", "description": "one device", "kind": "deny",'
...             ' "device_keys": ["h:0011223344556677"]}')
>>> rules.apply('{"id": "r1", "version": 2, "owner": "risk", "description": "no kind"}')
>>> [(r.rule_id, r.version) for r in rules.listing()], [(r.rule_id, r.problem) for r in rules.refused()]
([('r1', 1)], [('r1', 'unknown kind None; known: allow, deny, type_threshold, count')])
>>> rules.apply('{"id": "r1", "version": 3, "deleted": true}')
>>> rules.listing()
[]
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable

from shopguard.udfs.detection_rules import RuleRefused, RuleSet, parse_rule


@dataclass(frozen=True)
class ShownRule:
    """One rule (or one refused record) as the rules page lists it."""

    rule_id: str
    version: Any
    kind: str
    owner: str
    description: str
    body: str  # the rule as written, indented JSON (or the record's text when it is not JSON)
    problem: str | None = None  # why the job refused it, for a refused record


class ActiveRules:
    """The rule set in force and the latest refused record per rule id; safe to share between threads."""

    def __init__(self) -> None:
        self._rules = RuleSet()
        self._refused: dict[str, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def apply(self, value: str | bytes | None) -> None:
        """Apply one record of the rules topic, as the job does."""
        if not value:
            return
        with self._lock:
            try:
                rule = parse_rule(value)
                self._rules = self._rules.with_rule(rule)
            except RuleRefused as refused:
                self._refused[refused.rule_id] = (refused.reason, _body(value))
                return
            self._refused.pop(rule.id, None)

    def listing(self, shown_as: Callable[[Any], Any] = lambda value: value) -> list[ShownRule]:
        """The rules in force by id; ``shown_as`` makes each rule fit to show (the console hides identifiers)."""
        with self._lock:
            rules = sorted(self._rules.rules.values(), key=lambda rule: rule.id)
        return [
            ShownRule(r.id, r.version, r.kind, r.owner, r.description, _pretty(shown_as(dict(r.body)))) for r in rules
        ]

    def refused(self, shown_as: Callable[[Any], Any] = lambda value: value) -> list[ShownRule]:
        """The newest refused record of each rule id since its last good change, with the reason."""
        with self._lock:
            refused = sorted(self._refused.items())
        return [
            ShownRule(
                rule_id,
                _field(body, "version"),
                str(_field(body, "kind") or ""),
                str(_field(body, "owner") or ""),
                str(_field(body, "description") or ""),
                _pretty(shown_as(body)),
                reason,
            )
            for rule_id, (reason, body) in refused
        ]


def _body(value: str | bytes) -> Any:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    try:
        return json.loads(text)
    except ValueError:
        return text


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def _pretty(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True) if isinstance(body, dict) else str(body)
