"""``shopguard evaluate --events --labels``: a risk team's own labelled history, judged through the real job.

:func:`replay_labelled` runs ``shopguard detect`` (the live job's graph, in its own process) over the
team's events file and judges what the job wrote against the team's labels
(:mod:`shopguard.training.user_labels`), user by user:

- a user's score is the highest score the job gave any of their events (the job alerts at a user's most
  suspicious event); PR-AUC, ROC-AUC and recall at 0.1% and 1% of normal users flagged rank those
  scores, with bootstrap intervals over users (:mod:`shopguard.training.detection_metrics`);
- alert precision and recall count the alerts the job actually wrote: an alert is right when it is on
  an abused user at or after their onset (any time, without an onset); an alert on a normal user, or on
  an abused user before their abuse began, is a false alert;
- the detection delay is the first right alert's event time minus the onset (in seconds, and in the
  user's events from the onset up to the alerted one), for abused users with an onset;
- all of these overall and per label type (that type's users against every normal user).

Nobody drops out silently: users with fewer than ``min_events`` events scored by the job, users in the
labels without events and users with events but no label are counted and named, and not judged.

Example (what the job wrote, judged without Flink)
-------------------------------------------------
>>> from shopguard.training.user_labels import UserLabel
>>> labels = {"n1": UserLabel("normal"), "n2": UserLabel("normal"), "b1": UserLabel("bot", onset_ms=2000),
...           "thin": UserLabel("normal"), "gone": UserLabel("bot")}
>>> output = ReplayOutput(
...     events_per_user={"n1": 3, "n2": 2, "b1": 3, "thin": 1, "stray": 4},
...     scores={"n1": [(1000, 0.1), (2000, 0.2), (3000, 0.1)], "n2": [(1000, 0.3), (2000, 0.1)],
...             "b1": [(1000, 0.1), (2000, 0.5), (3000, 0.9)], "thin": [(1000, 0.0)], "stray": [(1000, 0.4)]},
...     alert_times={"b1": [3000]}, model_versions=("m1",))
>>> result = judge_replay(labels, output, min_events=2)
>>> result["overall"]["pr_auc"], result["overall"]["alert_precision"], result["overall"]["median_delay_s"]
(1.0, 1.0, 1.0)
>>> result["population"]["too_few_events"], result["population"]["not_in_events"], result["population"]["not_in_labels"]
({'thin': 1}, ['gone'], ['stray'])
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.detection_metrics import (
    INTERVAL_LEVEL,
    INTERVAL_RESAMPLES,
    TARGET_FPR,
    calibrate_threshold,
    recall_interval_at_fpr,
    roc_auc_interval,
)
from shopguard.training.job_parity import detect_in_child_process
from shopguard.training.user_labels import UserLabel, epoch_ms, read_labels

DEFAULT_MIN_EVENTS = 2
RING = "ring"  # the alert_kind of ring alerts (udfs/entity_rings.py), beside the users' own alerts
"""Users with fewer events scored by the job are not judged (and are named in the report)."""
WIDER_FPR = 0.01  # the second operating point: 1% of normal users flagged


@dataclass(frozen=True)
class ReplayOutput:
    """What a replay saw and wrote, per user: events in the file, the job's scores, the alerts' event times."""

    events_per_user: dict[str, int]
    scores: dict[str, list[tuple[int, float]]]  # (event_ts ms, score) in time order
    alert_times: dict[str, list[int]]  # event_ts of every alert (openings and updates), in order
    model_versions: tuple[str, ...]


def read_replay_output(events_path: Path, scores_path: Path, alerts_path: Path) -> ReplayOutput:
    """Count the events file's users and read the job's scores and alerts."""
    events_per_user: dict[str, int] = defaultdict(int)
    with events_path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            user = _user_of(line)
            if user is not None:
                events_per_user[user] += 1
    scores: dict[str, list[tuple[int, float]]] = defaultdict(list)
    versions = set()
    for row in _json_lines(scores_path):
        scores[str(row["user_id"])].append((epoch_ms(row["event_ts"], f"{scores_path}: event_ts"), float(row["score"])))
        versions.add(str(row["model_version"]))
    alert_times: dict[str, list[int]] = defaultdict(list)
    for alert in _json_lines(alerts_path):
        if alert.get("alert_kind") == RING:  # about a device or IP, naming accounts: not one user's alert
            continue
        alert_times[str(alert["user_id"])].append(epoch_ms(alert["event_ts"], f"{alerts_path}: event_ts"))
    return ReplayOutput(
        dict(events_per_user),
        {user: sorted(rows) for user, rows in scores.items()},
        {user: sorted(times) for user, times in alert_times.items()},
        tuple(sorted(versions)),
    )


def replay_labelled(
    cfg: ShopguardConfig,
    events_path: str | Path,
    labels_path: str | Path,
    model_dir: str | Path | None,
    workdir: str | Path,
    min_events: int = DEFAULT_MIN_EVENTS,
    progress: Callable[[str], None] = print,
) -> dict:
    """Replay ``events_path`` through ``shopguard detect`` (``model_dir``: None for the job's own choice) and judge."""
    events_path, workdir = Path(events_path), Path(workdir)
    if not events_path.is_file():
        raise ShopguardError(f"{events_path}: no such events file (one canonical JSON event per line)")
    if min_events < 1:
        raise ShopguardError(f"--min-events {min_events}: give 1 or more events a user needs to be judged")
    labels = read_labels(labels_path)  # refuse a bad labels file before the replay, not after it
    workdir.mkdir(parents=True, exist_ok=True)
    alerts_path, scores_path = workdir / "alerts.jsonl", workdir / "scores.jsonl"
    progress(f"replaying {events_path} through the job (shopguard detect) for {len(labels):,} labelled users")
    started = time.monotonic()
    detect_in_child_process(cfg, events_path, alerts_path, scores_path, model_dir, workdir / "shopguard.toml")
    replay_s = time.monotonic() - started
    result = judge_replay(labels, read_replay_output(events_path, scores_path, alerts_path), min_events)
    result["context"] = {
        "events": str(events_path),
        "labels": str(labels_path),
        "model_dir": str(model_dir) if model_dir else "the job's own choice (registry current or the default model)",
        "model_versions": result.pop("model_versions"),
        "min_events": min_events,
        "replay_seconds": round(replay_s, 1),
        "alerts": str(alerts_path),
        "scores": str(scores_path),
    }
    return result


def judge_replay(labels: dict[str, UserLabel], output: ReplayOutput, min_events: int) -> dict:
    """Every figure of the report from the labels and what the job wrote (see the module docstring)."""
    in_events = set(output.events_per_user) | set(output.scores)
    labelled = [user for user in sorted(labels) if user in in_events]
    scored = {user: len(output.scores.get(user, ())) for user in labelled}
    judged = [user for user in labelled if scored[user] >= min_events]
    rows = _user_rows(judged, labels, output)
    kinds = sorted({labels[user].anomaly_type for user in judged if labels[user].abused})
    overall = user_figures(rows)
    return {
        "overall": overall,
        "per_type": {  # with one type, its rows are every row: the same figures, not bootstrapped twice
            kind: overall if len(kinds) == 1 else user_figures(rows.subset(~rows.abused | (rows.types == kind)))
            for kind in kinds
        },
        "population": {
            "labelled_users": len(labels),
            "judged_users": len(judged),
            "too_few_events": {user: scored[user] for user in labelled if scored[user] < min_events},
            "not_in_events": sorted(set(labels) - in_events),
            "not_in_labels": sorted(in_events - set(labels)),
        },
        "false_alerts": [user for user, alerted, right in zip(rows.users, rows.alerted, rows.right) if alerted > right],
        "missed": [user for user, abused, right in zip(rows.users, rows.abused, rows.right) if abused and not right],
        "user_scores": {"users": rows.users, "scores": rows.scores.tolist(), "types": rows.types.tolist()},
        "model_versions": list(output.model_versions),
    }


@dataclass(frozen=True)
class UserRows:
    """One row per judged user: highest score, label, alerts and delay."""

    users: list[str]
    scores: np.ndarray
    types: np.ndarray  # "normal" or the anomaly type
    abused: np.ndarray
    alerted: np.ndarray  # any alert
    right: np.ndarray  # an alert on an abused user at or after the onset
    delay_s: np.ndarray  # NaN: no onset or not detected
    delay_events: np.ndarray

    def subset(self, keep: np.ndarray) -> "UserRows":
        return UserRows(
            [user for user, kept in zip(self.users, keep) if kept],
            *(column[keep] for column in (self.scores, self.types, self.abused, self.alerted, self.right)),
            self.delay_s[keep],
            self.delay_events[keep],
        )


def _user_rows(users: list[str], labels: dict[str, UserLabel], output: ReplayOutput) -> UserRows:
    scores, alerted, right, delay_s, delay_events = [], [], [], [], []
    for user in users:
        label, events, alerts = labels[user], output.scores[user], output.alert_times.get(user, [])
        scores.append(max(score for _, score in events))
        onset = label.onset_ms if label.onset_ms is not None else -np.inf
        detected = [ts for ts in alerts if ts >= onset] if label.abused else []
        alerted.append(bool(alerts))
        right.append(bool(detected))
        if detected and label.onset_ms is not None:
            delay_s.append((detected[0] - label.onset_ms) / 1000.0)
            delay_events.append(sum(1 for ts, _ in events if label.onset_ms <= ts <= detected[0]))
        else:
            delay_s.append(np.nan)
            delay_events.append(np.nan)
    types = np.array([labels[user].anomaly_type for user in users], dtype=object)
    return UserRows(
        list(users),
        np.array(scores, dtype=np.float64),
        types,
        np.array([labels[user].abused for user in users], dtype=bool),
        np.array(alerted, dtype=bool),
        np.array(right, dtype=bool),
        np.array(delay_s, dtype=np.float64),
        np.array(delay_events, dtype=np.float64),
    )


def user_figures(rows: UserRows) -> dict:
    """The report's figures for these users: ranking (with intervals), the job's alerts, delays.

    A figure that needs both normal and abused users is None without them.
    """
    normal, abused = rows.scores[~rows.abused], rows.scores[rows.abused]
    alerted = int(rows.alerted.sum())
    delays = rows.delay_s[~np.isnan(rows.delay_s)]
    figures = {
        "users": len(rows.users),
        "normal_users": int(len(normal)),
        "abused_users": int(len(abused)),
        "pr_auc": _both(rows, average_precision_score),
        "pr_auc_interval": pr_auc_interval(rows.abused, rows.scores),
        "roc_auc": _both(rows, roc_auc_score),
        "roc_auc_interval": roc_auc_interval(rows.abused, rows.scores),
    }
    for name, fpr in (("recall_at_0.1pct_fpr", TARGET_FPR), ("recall_at_1pct_fpr", WIDER_FPR)):
        both = len(normal) and len(abused)
        figures[name] = float(np.mean(abused >= calibrate_threshold(normal, fpr))) if both else None
        figures[f"{name}_interval"] = recall_interval_at_fpr(normal, abused, fpr)
    figures.update(
        {
            "alerted_users": alerted,
            "alert_precision": float(rows.right.sum() / alerted) if alerted else None,
            "alert_recall": float(rows.right.sum() / len(abused)) if len(abused) else None,
            "median_delay_s": float(np.median(delays)) if len(delays) else None,
            "median_delay_events": float(np.median(rows.delay_events[~np.isnan(rows.delay_events)]))
            if len(delays)
            else None,
            "delays_measured": int(len(delays)),
        }
    )
    return figures


def pr_auc_interval(
    abused: np.ndarray, scores: np.ndarray, level: float = INTERVAL_LEVEL, resamples: int = INTERVAL_RESAMPLES
) -> list[float] | None:
    """Where PR-AUC could lie with another draw of as many users (normal and abused resampled apart).

    >>> pr_auc_interval(np.array([False] * 50 + [True] * 5), np.r_[np.zeros(50), np.ones(5)])
    [1.0, 1.0]
    """
    abused = np.asarray(abused, dtype=bool)
    normal_rows, abused_rows = np.flatnonzero(~abused), np.flatnonzero(abused)
    if not len(normal_rows) or not len(abused_rows):
        return None
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(len(normal_rows), bool), np.ones(len(abused_rows), bool)]
    values = [
        average_precision_score(
            labels, scores[np.r_[rng.choice(normal_rows, len(normal_rows)), rng.choice(abused_rows, len(abused_rows))]]
        )
        for _ in range(resamples)
    ]
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(low), float(high)]


def _both(rows: UserRows, metric) -> float | None:
    """``metric`` on the users' scores, or None unless there are normal and abused users."""
    if rows.abused.all() or not rows.abused.any():
        return None
    return float(metric(rows.abused, rows.scores))


def _user_of(line: str) -> str | None:
    """The ``user_id`` of one events-file line, or None for a line the job would dead-letter without one."""
    try:
        body = json.loads(line)
    except ValueError:
        return None
    user = body.get("user_id") if isinstance(body, dict) else None
    return user if isinstance(user, str) and user else None


def _json_lines(path: Path):
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
