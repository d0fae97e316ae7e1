"""How well churn-risk signals find customers who leave, and how early: precision, recall and lead time.

The job's own rule (:class:`~shopguard.udfs.churn_watch.ChurnWatch`) runs over each customer's events
as the churn step runs it, its timers firing in event-time order up to the end of the observed span
(:func:`watch_customer`). A customer is *flagged* at score s when a signal of score >= s was sent by then.

* **lead time**: the customer's last visit minus the first signal's ``at``, in days, for flagged
  churners: positive when the signal came while the customer still visited (they slowed down first),
  negative when it came after they stopped. Also **days before lost**: the last visit plus
  ``lost_after_days`` (when the usual inactivity rule would call them lost) minus that signal.
* ``at_open``: every customer with a signal (the job's operating point: score 0.5 at the first
  threshold); ``at_target_recall``: the highest score still reaching recall 0.5 (later signals, so
  shorter leads); ``at_target``: the lowest score meeting both precision 0.6 and recall 0.5 (the issue's
  target, with the earliest signals that meet it; None when no score does);
* **baseline**: the common retention rule, "no visit for 14 days", run by the same machinery
  (:data:`FIXED_SILENCE_RULE`), beside every figure.

Intervals are percentile bootstraps over customers.

Example
-------
>>> from shopguard.config import ChurnSettings
>>> day = 86_400_000
>>> events = [Event(f"e{n}", "u", "page_view", n * 3 * day) for n in range(20)]
>>> signals = watch_customer(ChurnWatch(ChurnSettings()), events, until_ms=100 * day)
>>> [s["status"] for s in signals]
['open', 'updated', 'updated', 'updated']
"""

from __future__ import annotations

import dataclasses
import heapq
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from shopguard.config import ChurnSettings
from shopguard.training.behaviour_stats import by_user
from shopguard.training.churn_simulation import ChurnTruth
from shopguard.udfs.churn_state import ChurnState
from shopguard.udfs.churn_watch import ChurnWatch
from shopguard.udfs.events import Event
from shopguard.udfs.risk_signals import DAY_MS

FIXED_SILENCE_RULE = ChurnSettings(
    silence_factor=0.0, longest_gap_factor=0.0, min_silence_days=14.0, thinning_factor=1e9, min_refunds=1_000_000
)
"""The baseline: a signal after 14 days without a visit, whoever the customer is (no thinning, no refunds)."""
OPEN_SCORE = 0.5
"""The score a signal opens with (one silence threshold): a customer is flagged when their first signal is sent."""
SCORE_LEVELS = (0.9375, 0.875, 0.75, 0.6, OPEN_SCORE)
"""The minimum scores figures are given at: the silence levels (1 - 0.5**k) and one between the first two."""
TARGET_RECALL = 0.5
TARGET_PRECISION = 0.6
BOOTSTRAP_ROUNDS = 1000


def watch_customer(watch: ChurnWatch, events: Sequence[Event], until_ms: int) -> list[dict[str, Any]]:
    """Every signal the churn step sends for one customer's ``events`` (time order), timers fired up to ``until_ms``."""
    state, timers, signals, previous = ChurnState(), [], [], -1
    user = events[0].user_id if events else ""
    for event in [*events, None]:
        now = until_ms + 1 if event is None else event.ts_ms
        while timers and timers[0] < now:
            fired, timer = watch.on_timer(state, user, heapq.heappop(timers))
            signals += fired
            if timer is not None:
                heapq.heappush(timers, timer)
        if event is None:
            return signals
        if watch.concerns(event, previous):
            fired, timer = watch.on_event(state, event, previous)
            signals += fired
            if timer is not None:
                heapq.heappush(timers, timer)
        previous = max(previous, event.ts_ms)
    return signals


@dataclasses.dataclass(frozen=True)
class CustomerOutcome:
    """One customer: the label and the signals sent by the end, as (``at``, score) in time order."""

    truth: ChurnTruth
    sent: tuple[tuple[int, float], ...]

    @property
    def max_score(self) -> float:
        return max((score for _, score in self.sent), default=0.0)

    def first_at(self, min_score: float) -> int | None:
        """When the first signal of at least ``min_score`` came (None: none did)."""
        return next((at for at, score in self.sent if score >= min_score), None)


def outcomes(
    settings: ChurnSettings, events: Sequence[Event], truth: Mapping[str, ChurnTruth], until_ms: int, min_gain: float
) -> list[CustomerOutcome]:
    """Run the rule over every customer; one outcome each, in user order."""
    watch = ChurnWatch(settings, min_gain)
    histories = by_user(events)
    result = []
    for user in sorted(truth):
        signals = watch_customer(watch, histories.get(user, []), until_ms)
        sent = tuple(sorted((_ms(s["at"]), s["score"]) for s in signals if s["status"] != "recovered"))
        result.append(CustomerOutcome(truth[user], sent))
    return result


def figures(results: Sequence[CustomerOutcome], lost_after_days: float, seed: int) -> dict[str, Any]:
    """Precision, recall and lead time at every score level sent, and at the target recall; with intervals."""
    churned = np.array([r.truth.churned for r in results])
    scores = np.array([r.max_score for r in results])
    leads = {level: _leads(results, level) for level in SCORE_LEVELS}
    at_levels = [
        _at(churned, scores, leads[level], level, lost_after_days)
        | {"min_score": level, "by_kind": _lead_by_kind(results, leads[level], scores >= level)}
        for level in SCORE_LEVELS
    ]
    reaching = [row for row in at_levels if (row["recall"] or 0) >= TARGET_RECALL]
    chosen = reaching[0] if reaching else (at_levels[-1] if at_levels else None)
    meeting = [row for row in reaching if (row["precision"] or 0) >= TARGET_PRECISION]
    rng = np.random.default_rng(seed)
    body: dict[str, Any] = {
        "customers": len(results),
        "churners": int(churned.sum()),
        "churner_kinds": _kinds(results),
        "at_score": at_levels,
        "at_open": next((row for row in at_levels if row["min_score"] == OPEN_SCORE), None),
        "at_target_recall": chosen,
        "at_target": meeting[-1] if meeting else None,
    }
    for point in ("at_open", "at_target_recall", "at_target"):
        if body[point] is not None:
            level = body[point]["min_score"]
            body[f"{point}_intervals"] = _intervals(churned, scores, leads[level], level, lost_after_days, rng)
    return body


def _leads(results: Sequence[CustomerOutcome], min_score: float) -> np.ndarray:
    """Per customer, the last visit minus the first signal of at least ``min_score``, in days (NaN: none)."""
    firsts = [r.first_at(min_score) for r in results]
    return np.array([np.nan if f is None else (r.truth.last_visit_ms - f) / DAY_MS for r, f in zip(results, firsts)])


def _at(churned: np.ndarray, scores: np.ndarray, leads: np.ndarray, level: float, lost_days: float) -> dict:
    flagged = scores >= level
    caught = flagged & churned
    lead = leads[caught]
    return {
        "flagged": int(flagged.sum()),
        "precision": float(caught.sum() / flagged.sum()) if flagged.any() else None,
        "recall": float(caught.sum() / churned.sum()) if churned.any() else None,
        "median_lead_days": float(np.median(lead)) if lead.size else None,
        "share_before_last_visit": float((lead > 0).mean()) if lead.size else None,
        "median_days_before_lost": float(np.median(lead + lost_days)) if lead.size else None,
    }


def _intervals(churned, scores, leads, level, lost_days, rng, rounds: int = BOOTSTRAP_ROUNDS) -> dict:
    keys = ("precision", "recall", "median_lead_days", "median_days_before_lost")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    n = len(scores)
    for _ in range(rounds):
        pick = rng.integers(0, n, n)
        row = _at(churned[pick], scores[pick], leads[pick], level, lost_days)
        for key in keys:
            if row[key] is not None:
                samples[key].append(row[key])
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None for k, v in samples.items()}


def _kinds(results: Sequence[CustomerOutcome]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for r in results:
        kinds[r.truth.kind] = kinds.get(r.truth.kind, 0) + 1
    return dict(sorted(kinds.items()))


def _lead_by_kind(results: Sequence[CustomerOutcome], leads: np.ndarray, flagged: np.ndarray) -> dict[str, dict]:
    """Per way of leaving (or staying): how many, the share flagged, the median lead of those flagged."""
    table = {}
    for kind in sorted({r.truth.kind for r in results}):
        mine = np.array([r.truth.kind == kind for r in results])
        caught = leads[mine & flagged]
        table[kind] = {
            "customers": int(mine.sum()),
            "flagged_share": float(flagged[mine].mean()),
            "median_lead_days": float(np.median(caught)) if caught.size else None,
        }
    return table


def _ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)
