"""The detection rules as they stand on the compacted ``detection-rules`` topic: the newest value per rule id.

A record with no value (a tombstone) deletes its rule. A value that is not a JSON object is kept and
shown as such, so that an analyst sees it is there (the job refuses it and keeps its last good set).

Example
-------
>>> rules = ActiveRules()
>>> rules.put("r1", {"id": "r1", "version": 1, "owner": "risk", "description": "deny a device"})
>>> rules.put("r1", {"id": "r1", "version": 2, "owner": "risk", "description": "deny two devices"})
>>> rules.put("r2", "{not json")
>>> [(r.rule_id, r.version, r.problem) for r in rules.listing()]
[('r1', 2, None), ('r2', None, 'not a JSON object')]
>>> rules.put("r1", None)
>>> [r.rule_id for r in rules.listing()]
['r2']
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ShownRule:
    """One rule as the rules page lists it."""

    rule_id: str
    version: Any
    owner: str
    description: str
    body: str  # the whole rule, as indented JSON (or the raw text when it is not JSON)
    problem: str | None  # why it cannot be a rule, when it cannot


class ActiveRules:
    """Rules by id, newest value wins; safe to share between threads."""

    def __init__(self) -> None:
        self._rules: dict[str, Any] = {}
        self._lock = threading.Lock()

    def put(self, rule_id: str, value: Any) -> None:
        """Record the newest value of ``rule_id`` (parsed JSON, raw text, or None to delete)."""
        with self._lock:
            if value is None:
                self._rules.pop(rule_id, None)
            else:
                self._rules[rule_id] = value

    def listing(self, shown_as: Callable[[Any], Any] = lambda value: value) -> list[ShownRule]:
        """Every rule by id; ``shown_as`` makes each value fit to show (the console hides identifiers in it)."""
        with self._lock:
            held = sorted(self._rules.items())
        return [_shown(rule_id, shown_as(value)) for rule_id, value in held]


def _shown(rule_id: str, value: Any) -> ShownRule:
    if not isinstance(value, dict):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        return ShownRule(rule_id, None, "", "", text, "not a JSON object")
    return ShownRule(
        rule_id=rule_id,
        version=value.get("version"),
        owner=str(value.get("owner") or ""),
        description=str(value.get("description") or ""),
        body=json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
        problem=None,
    )
