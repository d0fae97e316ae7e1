"""How good a detector's scores are: per user and per event, per anomaly type, with detection delay.

A user's score is the highest score of any of their events (the job alerts on the first event that
crosses the threshold). The operating threshold is calibrated on *validation* normal users to a target
alert rate, then applied unchanged to the test users, as it would be in production.

Example
-------
>>> normal, abused = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.9, 0.35])
>>> threshold = calibrate_threshold(normal, alert_rate=0.25)
>>> bool(0.4 >= threshold), bool(0.3 >= threshold)
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from shopguard.training.encoded_traffic import EncodedTraffic

TARGET_FPR = 0.001  # the operating point of the detection targets: 0.1% of normal users flagged
INTERVAL_LEVEL = 0.9  # of the bootstrap interval around recall at TARGET_FPR
INTERVAL_RESAMPLES = 500


@dataclass(frozen=True)
class UserScores:
    """One row per user: their highest score, their label, and their events' scores for delays."""

    users: list[str]
    scores: np.ndarray
    types: list[str]  # "" for normal users
    subtle: np.ndarray

    @property
    def abused(self) -> np.ndarray:
        return np.array([bool(t) for t in self.types])


def user_scores(traffic: EncodedTraffic, scores: np.ndarray) -> UserScores:
    """Highest event score per user, with the user's label (events are grouped by user)."""
    users, best, types, subtle = [], [], [], []
    for start, stop in _user_ranges(traffic):
        users.append(traffic.user_ids[start])
        best.append(float(np.max(scores[start:stop])))
        types.append(traffic.user_types[start])
        subtle.append(bool(traffic.subtle[start]))
    return UserScores(users, np.array(best), types, np.array(subtle))


def calibrate_threshold(normal_scores: np.ndarray, alert_rate: float) -> float:
    """The lowest threshold at which at most ``alert_rate`` of these normal users score ``>=`` it."""
    ordered = np.sort(np.asarray(normal_scores, dtype=np.float64))[::-1]
    allowed = int(np.floor(alert_rate * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1]) if len(ordered) else 0.0
    return float(np.nextafter(ordered[allowed], np.inf))


def recall_interval_at_fpr(
    normal_scores: np.ndarray,
    abused_scores: np.ndarray,
    fpr: float = TARGET_FPR,
    level: float = INTERVAL_LEVEL,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = 0,
) -> list[float] | None:
    """Where recall at ``fpr`` could lie with another draw of as many users: a bootstrap interval.

    At 0.1% of a few thousand normal users the threshold rests on the two or three that score
    highest, so one more or one fewer such user moves recall a lot; a target judged on the point
    figure alone can look met or missed by chance. Normal and abused users are resampled with
    replacement (``resamples`` times, seeded: the report is reproducible); each resample gets its own
    threshold (as :func:`calibrate_threshold`) and recall. Returns ``[low, high]`` at ``level``, or
    None without users of either kind.

    >>> normal = np.linspace(0.0, 1.0, 2000)
    >>> recall_interval_at_fpr(normal, np.full(20, 2.0))  # every abused user above every normal one
    [1.0, 1.0]
    >>> low, high = recall_interval_at_fpr(normal, np.linspace(0.99, 1.01, 40))
    >>> low < 0.5 < high
    True
    """
    normal, abused = np.asarray(normal_scores, dtype=np.float64), np.asarray(abused_scores, dtype=np.float64)
    if not len(normal) or not len(abused):
        return None
    rng = np.random.default_rng(seed)
    rank = len(normal) - 1 - min(int(np.floor(fpr * len(normal))), len(normal) - 1)  # ascending index of the cut
    cuts = np.partition(normal[rng.integers(0, len(normal), (resamples, len(normal)))], rank, axis=1)[:, rank]
    recalls = (abused[rng.integers(0, len(abused), (resamples, len(abused)))] > cuts[:, None]).mean(axis=1)
    low, high = np.quantile(recalls, [(1 - level) / 2, (1 + level) / 2])
    return [float(low), float(high)]


def pr_auc_interval(
    abused: np.ndarray,
    scores: np.ndarray,
    level: float = INTERVAL_LEVEL,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = 0,
) -> list[float] | None:
    """Where PR-AUC could lie with another draw of as many users: a bootstrap interval (normal and
    abused users resampled apart, so each resample keeps their counts). None without users of either kind.

    >>> abused = np.array([False] * 200 + [True] * 20)
    >>> pr_auc_interval(abused, np.r_[np.linspace(0, 1, 200), np.linspace(2, 3, 20)])
    [1.0, 1.0]
    """
    return _bootstrap_interval(average_precision_score, abused, scores, level, resamples, seed)


def _bootstrap_interval(metric, abused, scores, level: float, resamples: int, seed: int) -> list[float] | None:
    """``metric(labels, scores)`` over resamples of the users, normal and abused apart; None without either kind."""
    abused = np.asarray(abused, dtype=bool)
    normal_rows, abused_rows = np.flatnonzero(~abused), np.flatnonzero(abused)
    if not len(normal_rows) or not len(abused_rows):
        return None
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(normal_rows), bool), np.ones(len(abused_rows), bool)]
    values = np.empty(resamples)
    for n in range(resamples):
        rows = np.r_[rng.choice(normal_rows, len(normal_rows)), rng.choice(abused_rows, len(abused_rows))]
        values[n] = metric(labels, scores[rows])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [round(float(low), 9), round(float(high), 9)]


def roc_auc_interval(
    abused: np.ndarray,
    scores: np.ndarray,
    level: float = INTERVAL_LEVEL,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = 0,
) -> list[float] | None:
    """Where ROC-AUC could lie with another draw of as many users, as :func:`pr_auc_interval` for PR-AUC.

    >>> roc_auc_interval(np.array([False] * 200 + [True] * 20), np.r_[np.linspace(0, 1, 200), np.linspace(2, 3, 20)])
    [1.0, 1.0]
    """
    return _bootstrap_interval(roc_auc_score, abused, scores, level, resamples, seed)


def pr_auc_difference_interval(
    abused: np.ndarray,
    scores: np.ndarray,
    other_scores: np.ndarray,
    level: float = INTERVAL_LEVEL,
    resamples: int = INTERVAL_RESAMPLES,
    seed: int = 0,
) -> list[float] | None:
    """Where PR-AUC(``scores``) − PR-AUC(``other_scores``) could lie with another draw of as many users.

    Two detectors a few thousandths apart on a type of 25 abused users differ by one or two users'
    ranks; whether one is "below" the other then says little. This paired bootstrap resamples users
    (normal and abused apart, so each resample keeps their counts) and scores the same resample with
    both, so that what the two share does not widen the interval. Returns ``[low, high]`` at
    ``level``, or None without users of either kind.

    >>> abused = np.array([False] * 200 + [True] * 20)
    >>> ranked = np.r_[np.linspace(0, 1, 200), np.linspace(2, 3, 20)]
    >>> pr_auc_difference_interval(abused, ranked, ranked)  # the same scores: no difference, ever
    [0.0, 0.0]
    >>> low, high = pr_auc_difference_interval(abused, ranked, np.r_[np.linspace(0, 1, 200), np.linspace(0.5, 3, 20)])
    >>> 0.0 < low <= high
    True
    """
    abused = np.asarray(abused, dtype=bool)
    normal_rows, abused_rows = np.flatnonzero(~abused), np.flatnonzero(abused)
    if not len(normal_rows) or not len(abused_rows):
        return None
    scores, other_scores = np.asarray(scores, dtype=np.float64), np.asarray(other_scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(normal_rows), bool), np.ones(len(abused_rows), bool)]
    differences = np.empty(resamples)
    for n in range(resamples):
        rows = np.r_[rng.choice(normal_rows, len(normal_rows)), rng.choice(abused_rows, len(abused_rows))]
        differences[n] = average_precision_score(labels, scores[rows]) - average_precision_score(
            labels, other_scores[rows]
        )
    low, high = np.quantile(differences, [(1 - level) / 2, (1 + level) / 2])
    return [float(low), float(high)]


def difference_text(bounds: list[float] | None) -> str:
    """How the reports write a PR-AUC difference's interval, signed, after the figures it compares.

    >>> difference_text([-0.0123, 0.0]), difference_text(None)
    ('; difference [-0.012 to +0.000]', '')
    """
    return f"; difference [{bounds[0]:+.3f} to {bounds[1]:+.3f}]" if bounds else ""


def interval_text(bounds: list[float] | None) -> str:
    """How the reports write an interval after its figure: `` [low–high]``, or nothing without one.

    >>> interval_text([0.58, 0.96]), interval_text(None)
    (' [0.58–0.96]', '')
    """
    return f" [{bounds[0]:.2f}–{bounds[1]:.2f}]" if bounds else ""


def evaluate_scores(
    traffic: EncodedTraffic, scores: np.ndarray, threshold: float, per_user: UserScores | None = None
) -> dict:
    """Every figure of the evaluation report for one detector's scores on ``traffic`` (``per_user``: their
    :func:`user_scores`, when the caller has them already)."""
    per_user = user_scores(traffic, scores) if per_user is None else per_user
    figures = _user_figures(per_user.scores, per_user.abused, threshold)
    events_abuse = traffic.event_is_abuse
    figures["event_pr_auc"] = _safe(average_precision_score, events_abuse, scores)
    figures["event_roc_auc"] = _safe(roc_auc_score, events_abuse, scores)
    delays = detection_delays(traffic, scores, threshold)
    figures.update(_delay_figures(delays))
    figures["per_type"] = {}
    normal = ~per_user.abused
    type_of = dict(zip(per_user.users, per_user.types))
    for kind in sorted({t for t in per_user.types if t}):
        of_kind = np.array([t == kind for t in per_user.types])
        keep = normal | of_kind
        row = _user_figures(per_user.scores[keep], of_kind[keep], threshold)
        row.update(_delay_figures({u: d for u, d in delays.items() if type_of[u] == kind}))
        for variant, wanted in (("blunt", False), ("subtle", True)):
            chosen = of_kind & (per_user.subtle == wanted)
            row[f"recall_{variant}"] = _share(per_user.scores[chosen] >= threshold)
        figures["per_type"][kind] = row
    return figures


def detection_delays(traffic: EncodedTraffic, scores: np.ndarray, threshold: float) -> dict[str, tuple[int, float]]:
    """For each detected abused user: events after the onset until the first alert, and seconds."""
    delays = {}
    for start, stop in _user_ranges(traffic):
        if not traffic.user_types[start]:
            continue
        onset = traffic.onset_ms[start]
        after = [i for i in range(start, stop) if traffic.ts_ms[i] >= onset]
        for count, i in enumerate(after, start=1):
            if scores[i] >= threshold:
                delays[traffic.user_ids[start]] = (count, (traffic.ts_ms[i] - onset) / 1000.0)
                break
    return delays


def _user_figures(scores: np.ndarray, abused: np.ndarray, threshold: float) -> dict:
    flagged = scores >= threshold
    tp, fp = int((flagged & abused).sum()), int((flagged & ~abused).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(int(abused.sum()), 1)
    return {
        "users": int(len(scores)),
        "abused_users": int(abused.sum()),
        "pr_auc": _safe(average_precision_score, abused, scores),
        "roc_auc": _safe(roc_auc_score, abused, scores),
        "threshold": threshold,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "fpr": fp / max(int((~abused).sum()), 1),
        "recall_at_0.1pct_fpr": _share(scores[abused] >= calibrate_threshold(scores[~abused], TARGET_FPR)),
        "recall_at_0.1pct_fpr_interval": recall_interval_at_fpr(scores[~abused], scores[abused]),
    }


def _delay_figures(delays: dict[str, tuple[int, float]]) -> dict:
    events = [d[0] for d in delays.values()]
    seconds = [d[1] for d in delays.values()]
    return {
        "median_delay_events": float(np.median(events)) if events else None,
        "median_delay_s": float(np.median(seconds)) if seconds else None,
        "delays_events": events,
    }


def _user_ranges(traffic: EncodedTraffic):
    start = 0
    for i in range(1, len(traffic) + 1):
        if i == len(traffic) or traffic.user_ids[i] != traffic.user_ids[start]:
            yield start, i
            start = i


def _share(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _safe(metric, labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The metric, or None when the labels hold one class only (it is undefined then)."""
    labels = np.asarray(labels)
    if labels.all() or not labels.any():
        return None
    return float(metric(labels, scores))
