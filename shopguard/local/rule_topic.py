"""The detection rules on their compacted topic: read the set in force, put rules, delete one.

The topic (``topics.rules``, key = rule id, compacted) is the rules' source of truth: the job reads it as
broadcast state (:mod:`shopguard.udfs.rule_broadcast`), ``shopguard rules list`` reads it back here. Every
rule is checked (:func:`~shopguard.udfs.detection_rules.parse_rule`) before it is written, so a malformed one
is refused at the command line with its reason; a rule's version must grow (a file may leave it out: the
next version is then given). A deletion is a marker record with the next version, which the job applies
like any other change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.alert_feed import committed_values
from shopguard.local.producer import deliver
from shopguard.udfs.detection_rules import Deletion, Rule, RuleRefused, RuleSet, parse_rule


class RuleTopicError(ShopguardError):
    """The rules topic could not be written; the message names the topic, the broker and what to do."""


class RuleFileError(ShopguardError):
    """A rule file that cannot be read; the message names the file and the line."""


def read_rule_file(path: str | Path) -> list[dict[str, Any]]:
    """The rules in a file: one JSON object, a JSON list of them, or one object per line (JSON lines)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RuleFileError(f"{path}: cannot read the rule file ({error.strerror})") from None
    try:
        body = json.loads(text)
        bodies = body if isinstance(body, list) else [body]
    except ValueError:
        bodies = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    bodies.append(json.loads(line))
                except ValueError as error:
                    raise RuleFileError(f"{path}:{number}: not JSON ({error})") from None
    for number, body in enumerate(bodies, 1):
        if not isinstance(body, dict):
            raise RuleFileError(f"{path}: rule {number} is not a JSON object")
    return bodies


def rules_in_force(cfg: ShopguardConfig, timeout_s: float = 30.0) -> tuple[RuleSet, list[RuleRefused]]:
    """The rules in force on ``cfg.topics.rules`` (every record applied in order) and the records refused."""
    rules, refused = RuleSet(), []
    for value in committed_values(cfg, cfg.topics.rules, timeout_s, parse=False):
        try:
            rules = rules.with_rule(parse_rule(value))
        except RuleRefused as error:
            refused.append(error)
    return rules, refused


def with_versions(bodies: list[dict[str, Any]], held: RuleSet) -> list[Rule]:
    """Each rule body checked, with its version given when left out (the one in force plus one)."""
    rules = []
    for body in bodies:
        body = dict(body)
        current = held.rules.get(body.get("id")) if isinstance(body.get("id"), str) else None
        if "version" not in body:
            body["version"] = current.version + 1 if current else 1
        rule = parse_rule(body)
        if isinstance(rule, Deletion):
            raise RuleRefused(rule.id, "a rule file puts rules; delete one with 'shopguard rules delete ID'")
        if current is not None and rule.version <= current.version:
            raise RuleRefused(
                rule.id, f"version {rule.version} is not newer than version {current.version} in force: raise it"
            )
        rules.append(rule)
    return rules


def put_rules(cfg: ShopguardConfig, bodies: list[dict[str, Any]]) -> list[Rule]:
    """Check every rule, then write them all (key = rule id); nothing is written when one is refused."""
    held, _ = rules_in_force(cfg)
    rules = with_versions(bodies, held)
    _write(cfg, [(rule.id, rule.to_json()) for rule in rules])
    return rules


def delete_rule(cfg: ShopguardConfig, rule_id: str) -> Deletion:
    """End the rule ``rule_id`` (a deletion marker with the next version); refused when no such rule is in force."""
    held, _ = rules_in_force(cfg)
    current = held.rules.get(rule_id)
    if current is None:
        raise RuleRefused(rule_id, f"no such rule in force on {cfg.topics.rules!r}; see 'shopguard rules list'")
    deletion = Deletion(rule_id, current.version + 1)
    _write(cfg, [(rule_id, json.dumps({"id": rule_id, "version": deletion.version, "deleted": True}))])
    return deletion


def describe_rule(rule: Rule) -> str:
    """One line per rule for ``shopguard rules list``."""
    return f"{rule.id:<24} v{rule.version:<4} {rule.kind:<15} {rule.owner:<16} {rule.description}"


def _write(cfg: ShopguardConfig, records: list[tuple[str, str]]) -> None:
    deliver(cfg, cfg.topics.rules, records, "rules", RuleTopicError)
