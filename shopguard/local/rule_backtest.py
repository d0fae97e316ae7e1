"""``shopguard rules test``: what a rule change would have alerted on past events, before it goes live.

The events are replayed once through the job's own graph (:func:`~shopguard.jobs.replay_job.run_replay`,
the same rule evaluation as the live job) with both rule sets side by side: the rules in force and the rule
file applied on top of them (:mod:`shopguard.udfs.rule_branches`: scored once, each set decides its own
alerts). Alerts are matched by ``alert_id`` (stable for model, user and the event that opened the alert),
so the comparison says which alerts the change adds, which it removes and which it touches.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable

from shopguard.config import ShopguardConfig
from shopguard.jobs.replay_job import ReplayFiles, run_replay
from shopguard.udfs.alerts import newest_revisions
from shopguard.udfs.detection_rules import Rule, RuleSet


@dataclasses.dataclass(frozen=True)
class Backtest:
    """The alerts of the same events under the rules in force and under the changed rules."""

    current: list[dict[str, Any]]
    changed: list[dict[str, Any]]

    @property
    def added(self) -> list[dict[str, Any]]:
        before = {a["alert_id"] for a in self.current}
        return [a for a in _newest(self.changed) if a["alert_id"] not in before]

    @property
    def removed(self) -> list[dict[str, Any]]:
        after = {a["alert_id"] for a in self.changed}
        return [a for a in _newest(self.current) if a["alert_id"] not in after]

    def lines(self, limit: int = 20) -> list[str]:
        """What an analyst reads: counts first, then the alerts added and removed (at most ``limit`` each)."""
        out = [
            f"alerts with the rules in force: {len(_newest(self.current))} "
            f"({len({a.get('user_id') for a in self.current})} users)",
            f"alerts with the changed rules:  {len(_newest(self.changed))} "
            f"({len({a.get('user_id') for a in self.changed})} users)",
            f"added by the change: {len(self.added)}, removed: {len(self.removed)}",
        ]
        for sign, alerts in (("+", self.added), ("-", self.removed)):
            for alert in alerts[:limit]:
                rules = ", ".join(f"{r['id']} v{r['version']}" for r in alert.get("rules", ())) or "no rule"
                out.append(
                    f"  {sign} {alert.get('event_ts')} user={alert.get('user_id')} {alert.get('anomaly_type')} "
                    f"score={float(alert.get('score', 0.0)):.3f} ({rules})"
                )
            if len(alerts) > limit:
                out.append(f"  {sign} ... and {len(alerts) - limit} more")
        return out


def changed_rules(current: RuleSet, candidates: Iterable[Rule]) -> RuleSet:
    """The rules in force with the candidates put over them (a candidate replaces the rule of its id)."""
    rules = dict(current.rules)
    rules.update({rule.id: rule for rule in candidates})
    return RuleSet(rules)


def backtest(
    cfg: ShopguardConfig, events: Path, current: RuleSet, changed: RuleSet, out_dir: Path, model: str | None = None
) -> Backtest:
    """Replay ``events`` once under both rule sets; the alerts go to ``out_dir`` (ALERTS.current/changed.jsonl)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReplayFiles(events, out_dir / "ALERTS.jsonl", with_risk_signals=False)  # it compares alerts only
    sets = {"current": current, "changed": changed}
    branches = {name: [rule.to_json() for rule in rules.rules.values()] for name, rules in sets.items()}
    run_replay(cfg, files, model_path=model, branches=branches)
    results = {name: _read_lines(files.branch_alerts(name)) for name in sets}
    return Backtest(results["current"], results["changed"])


def _read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _newest(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each alert once, at its newest revision, in the order first seen."""
    return list(newest_revisions(alerts).values())
