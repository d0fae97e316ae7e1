"""Several rule sets side by side in one job, for backtests: the events are scored once, every set decides.

``shopguard rules test`` compares what the rules in force and the changed rules would have alerted on the
same events. Only the rules' three columns (:data:`~shopguard.udfs.rows.RULE_FIELDS`) and the decision
differ between the two; parsing, history, entity figures and the model's score do not. So the user step
evaluates every set (:class:`RuleBranches`, which the user step holds in place of one
:class:`~shopguard.udfs.detection_rules.RuleSet`; each set keeps its own counting state) and packs their
outcomes into the columns, and one decision step per set (:class:`DecideBranchAlert`) unpacks its own
before running the job's own decision (:class:`~shopguard.udfs.alert_decision.DecideAlert`, with its
cool-down, its explanation and :func:`~shopguard.udfs.detection_rules.rule_decision`).

The packed columns let through the job's crossing filter every row that any set would let through: the
``rules`` score is the highest of the sets' scores and the floor the lowest of their floors. A row that
crosses for one set only reaches the other set's decision step too, where ``rule_decision`` rules it out
exactly as that set's own filter would have: no set alerts on an event it would not alert on alone.

>>> from shopguard.udfs.detection_rules import parse_rule
>>> from shopguard.udfs.events import Event
>>> count = parse_rule('{"id": "r1", "version": 1, "owner": "risk", "description": "two failed payments",'
...                    ' "kind": "count", "event_type": "payment_failed", "at_least": 2, "within_s": 60}')
>>> branches = RuleBranches({"current": RuleSet(), "changed": RuleSet.of([count])})
>>> counts = {}
>>> for i in range(2):
...     outcome = branches.evaluate_event(Event(f"e{i}", "u1", "payment_failed", 1000 * i), counts)
>>> outcome.score
1.0
>>> [branch_outcome(outcome.column, i)[0] for i in range(2)]
[nan, 1.0]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Mapping

from pyflink.common import Row

from shopguard.udfs.alert_decision import DecideAlert
from shopguard.udfs.detection_rules import NOTHING, Deletion, EventOutcome, Rule, RuleRefused, RuleSet
from shopguard.udfs.events import Event
from shopguard.udfs.rows import CROSSING_FIELDS

__all__ = ["DecideBranchAlert", "RuleBranches", "branch_outcome"]

_RULES_SCORE = CROSSING_FIELDS.index("rules_score")
_RULES = CROSSING_FIELDS.index("rules")


@dataclass(frozen=True)
class RuleBranches:
    """Named rule sets evaluated side by side on every event (see the module's docstring)."""

    sets: Mapping[str, RuleSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sets", dict(self.sets))
        object.__setattr__(self, "needs_pseudonyms", any(s.needs_pseudonyms for s in self.sets.values()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.sets)

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Every rule of every set, by id (what a user step reports; a backtest's sets never change)."""
        return {rule_id: rule for s in self.sets.values() for rule_id, rule in s.rules.items()}

    def __len__(self) -> int:
        return sum(len(s) for s in self.sets.values())

    def with_rule(self, rule: Rule | Deletion) -> "RuleBranches":
        raise RuleRefused(rule.id, "a backtest's rule sets are fixed for the whole replay")

    def watches(self, event_type: str) -> bool:
        return any(s.watches(event_type) for s in self.sets.values())

    def evaluate_event(
        self, event: Event, counts: dict[str, dict], device_key: str = "", ip_key: str = ""
    ) -> EventOutcome:
        """Every set's outcome for the event, packed into one (``counts``: set name → that set's counting state)."""
        outcomes = []
        for name, rules in self.sets.items():
            own = counts.setdefault(name, {})
            outcomes.append(rules.evaluate_event(event, own, device_key, ip_key) if len(rules) else NOTHING)
            if not own:
                del counts[name]
        if all(o.column == "" and math.isnan(o.score) for o in outcomes):
            return NOTHING
        scores = [o.score for o in outcomes if not math.isnan(o.score)]
        floors = [o.floor for o in outcomes if not math.isnan(o.floor)]
        column = json.dumps({"branches": [[_or_none(o.score), o.column] for o in outcomes]}, ensure_ascii=False)
        return EventOutcome(max(scores, default=math.nan), min(floors, default=math.nan), column)


def branch_outcome(column: str, branch: int) -> tuple[float, str]:
    """One set's ``rules_score`` and ``rules`` column, out of the packed ones of :meth:`RuleBranches.evaluate_event`."""
    if not column:
        return math.nan, ""
    score, own = json.loads(column)["branches"][branch]
    return (math.nan if score is None else float(score)), own


class DecideBranchAlert(DecideAlert):
    """The job's decision step for one set of a :class:`RuleBranches` (its index among the sets)."""

    def __init__(self, settings, source, branch: int):
        super().__init__(settings, source)
        self.branch = branch

    def process_element(self, row: Row, ctx):
        values = list(row)
        values[_RULES_SCORE], values[_RULES] = branch_outcome(values[_RULES] or "", self.branch)
        yield from super().process_element(Row(*values), ctx)


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value
