"""Analysts' verdicts as labels: the combiner and each alert type's threshold refitted with them.

A verdict judges one alert, and the alert carries every detector's score at the moment it was raised
(``detectors``), so a judged alert is a labelled row for the combiner as it is: no event needs replaying.
:func:`judged_alerts` pairs each user's newest verdict with the alert it judged; :func:`verdict_rows` makes
them rows beside the simulated validation events (a judged user's simulated rows, if any, give way: real
labels win where they disagree); :func:`fit_type_thresholds` raises an alert type's threshold above the
false positives of that type where that costs fewer confirmed alerts than it removes false ones; and
:func:`verdict_figures` says, per type, the precision and recall measured on the verdicts before and after,
with how many verdicts each figure rests on.

Verdicts exist only for alerts, so "recall" here is the share of *confirmed* alerts the refitted model still
raises, not the share of all abuse it finds; and a threshold can only be raised from verdicts, never
lowered (nothing below the threshold was judged).

Example
-------
>>> from shopguard.udfs.score_combiner import ScoreCombiner
>>> combiner = ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.9)
>>> judged = [JudgedAlert("a1", "u1", "normal", "bot", {"lstm": 0.95}),
...           JudgedAlert("a2", "u2", "bot", "bot", {"lstm": 0.99}),
...           JudgedAlert("a3", "u3", "normal", "bot", {"lstm": 0.97})]
>>> thresholds = fit_type_thresholds(combiner, judged)
>>> round(thresholds["bot"], 4)  # halfway (in log-odds) between the false positive at 0.97 and 0.99
0.9826
>>> verdict_figures(combiner, judged, thresholds)["bot"]["after"]
{'precision': 1.0, 'recall': 1.0, 'alerts': 1}
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from shopguard.training.analyst_verdicts import NORMAL, Verdict, newest_per_user
from shopguard.udfs.alerts import newest_revisions
from shopguard.udfs.score_combiner import ScoreCombiner

VERDICTS_FILE = "verdicts.json"


@dataclass(frozen=True)
class JudgedAlert:
    """An alert and what the analyst said it was: ``label`` is ``normal`` or the confirmed abuse type."""

    alert_id: str
    user_id: str
    label: str
    alert_type: str
    detectors: Mapping[str, float]

    @property
    def abuse(self) -> bool:
        return self.label != NORMAL


def judged_alerts(verdicts: Iterable[Verdict], alerts: Iterable[Mapping[str, Any]]) -> tuple[list[JudgedAlert], int]:
    """Each judged user's newest verdict with the alert it judged (its newest revision); and how many verdicts
    were left out because their alert is no longer on the alerts topic."""
    by_id = newest_revisions(alerts)
    judged, missing = [], 0
    for verdict in newest_per_user(verdicts).values():
        alert = by_id.get(verdict.alert_id)
        if alert is None or not isinstance(alert.get("detectors"), Mapping):
            missing += 1
            continue
        detectors = {name: float(value) for name, value in alert["detectors"].items() if value is not None}
        judged.append(
            JudgedAlert(verdict.alert_id, verdict.user_id, verdict.label, str(alert.get("anomaly_type")), detectors)
        )
    return judged, missing


def verdict_rows(
    judged: Sequence[JudgedAlert], detectors: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """The judged alerts as combiner rows: each detector's score (NaN where the alert has none), abuse or not,
    and the users (prefixed ``verdict:`` so that they never merge with a simulated user of the same id)."""
    scores = {name: np.array([j.detectors.get(name, math.nan) for j in judged], dtype=np.float64) for name in detectors}
    return scores, np.array([j.abuse for j in judged], dtype=bool), [f"verdict:{j.user_id}" for j in judged]


def _by_type(
    combiner: ScoreCombiner, judged: Sequence[JudgedAlert]
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per alert type (sorted): its judged alerts' scores under ``combiner``, the model's threshold for each, and
    which were confirmed abuse; the one loop the threshold fit and the figures share."""
    if not judged:
        return
    scores, _, _ = verdict_rows(judged, combiner.detectors)
    score = combiner.combine(scores)
    base = combiner.threshold_for(scores.get("user_patterns", np.full(len(judged), math.nan)))
    for alert_type in sorted({j.alert_type for j in judged}):
        rows = [i for i, j in enumerate(judged) if j.alert_type == alert_type]
        yield alert_type, score[rows], base[rows], np.array([judged[i].abuse for i in rows])


def fit_type_thresholds(combiner: ScoreCombiner, judged: Sequence[JudgedAlert]) -> dict[str, float]:
    """Per alert type with a false positive: the threshold above the model's that keeps the most confirmed
    alerts minus false ones (ties: the lowest); types where no raise helps are left out.

    A raised threshold lies halfway (in log-odds) between the false positive it clears and the next judged
    score above it, or :data:`MARGIN_LOGIT` above it when none is: the same behaviour scores a little
    differently the next time (a longer history), and a threshold a hair above one score would not hold it.
    """
    fitted = {}
    for alert_type, s, base, abuse in _by_type(combiner, judged):
        floor = float(base.max())
        candidates = sorted({floor} | {_above(v, s) for v, a in zip(s, abuse) if not a and v >= floor})
        gains = [int(((s >= c) & abuse).sum()) - int(((s >= c) & ~abuse).sum()) for c in candidates]
        best = candidates[int(np.argmax(gains))]
        if best > floor:
            fitted[alert_type] = best
    return fitted


MARGIN_LOGIT = 1.0
"""How far above the highest false positive a raised threshold lies when no judged score is above it."""


def _above(value: float, scores: np.ndarray) -> float:
    """A threshold just clear of ``value``: halfway in log-odds to the next higher score, or a margin above."""
    logit = _logit(value)
    higher = scores[scores > value]
    target = (logit + _logit(float(higher.min()))) / 2 if len(higher) else logit + MARGIN_LOGIT
    return float(max(1.0 / (1.0 + math.exp(-target)), np.nextafter(value, 2.0)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def verdict_figures(
    before: ScoreCombiner, judged: Sequence[JudgedAlert], type_thresholds: Mapping[str, float], after=None
) -> dict[str, dict[str, Any]]:
    """Per alert type: verdicts, precision before (every judged alert was raised), and precision and recall
    among the confirmed alerts after (``after``, default ``before``, with ``type_thresholds``)."""
    figures = {}
    for alert_type, score, base, abuse in _by_type(after or before, judged):
        raised = score >= np.maximum(base, type_thresholds.get(alert_type, 0.0))
        kept = int((raised & abuse).sum())
        figures[alert_type] = {
            "verdicts": len(abuse),
            "confirmed": int(abuse.sum()),
            "false_positives": int((~abuse).sum()),
            "before": {"precision": round(float(abuse.mean()), 4), "recall": 1.0, "alerts": len(abuse)},
            "after": {
                "precision": round(kept / int(raised.sum()), 4) if raised.any() else None,
                "recall": round(kept / int(abuse.sum()), 4) if abuse.any() else None,
                "alerts": int(raised.sum()),
            },
        }
    return figures


def figures_markdown(figures: Mapping[str, Mapping[str, Any]], left_out: int) -> str:
    """The report's section "precision and recall by type from analyst verdicts"."""
    lines = [
        "## Precision and recall by type from analyst verdicts",
        "",
        f"{sum(f['verdicts'] for f in figures.values())} verdicts (each user's newest) on alerts still on the "
        f"alerts topic; {left_out} left out (their alert is gone). Recall is among confirmed alerts: verdicts "
        "exist only for alerts, so abuse the model never raised is not counted.",
        "",
        "| alert type | verdicts | confirmed | false positives | precision before | precision after | "
        "recall after (of confirmed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for alert_type, f in figures.items():
        after = f["after"]
        lines.append(
            f"| {alert_type} | {f['verdicts']} | {f['confirmed']} | {f['false_positives']} | "
            f"{f['before']['precision']:.3f} | {_fmt(after['precision'])} | {_fmt(after['recall'])} |"
        )
    return "\n".join(lines) + "\n"


def apply_verdicts(folder: str | Path, judged: Sequence[JudgedAlert], left_out: int = 0) -> dict[str, Any]:
    """Fit ``folder``'s per-type thresholds on the verdicts into its ``combiner.json``; write ``verdicts.json``
    (the figures) beside it and return them. A folder without a combiner is left as it is."""
    folder = Path(folder)
    combiner = ScoreCombiner.read(folder)
    if combiner is None:
        return {"verdicts": len(judged), "left_out": left_out, "type_thresholds": {}, "by_type": {}}
    thresholds = fit_type_thresholds(combiner, judged) if judged else {}
    tuned = combiner.with_type_thresholds({**dict(combiner.type_thresholds), **thresholds})
    tuned.write(folder)
    body = {
        "verdicts": len(judged),
        "left_out": left_out,
        "type_thresholds": thresholds,
        "by_type": verdict_figures(combiner, judged, dict(tuned.type_thresholds), tuned),
    }
    (folder / VERDICTS_FILE).write_text(json.dumps(body, indent=1) + "\n")
    return body


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def copy_for_verdicts(model_dir: str | Path, out_dir: str | Path) -> Path:
    """A copy of ``model_dir`` under a new version (``<version>-v<UTC time>``) to refit with verdicts, the
    networks and patterns unchanged: the quick path of ``shopguard retrain --from``."""
    source = Path(model_dir)
    card = json.loads((source / "card.json").read_text())
    base = re.sub(r"-v\d{8}-\d{6}$", "", card["model_version"])  # a refit of a refit keeps one suffix
    version = f"{base}-v{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    folder = Path(out_dir) / version
    shutil.copytree(source, folder)
    card["model_version"] = version
    card["refitted_from"] = source.name
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return folder
