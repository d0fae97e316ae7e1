"""One calibrated decision over every detector: a small logistic combiner shipped with the model.

Each detector's score is put on a common scale (``logit`` for probabilities, ``share`` for the pattern
detector's share of unmatched behaviour, ``log1p`` for counts over a rule level), weighted, and squashed
back to a probability of abuse. A detector may also have a *hinge*: an extra weight on how far its
scaled score lies beyond a knee (the 99th percentile of normal events), so that a detector that is
certain, like the LSTM on a bot, can outvote the others where the linear blend would average it away.
The weights, knees and the operating threshold are fitted on the validation split
(:mod:`shopguard.training.combiner_fitting`)
and saved as ``combiner.json`` next to ``model.onnx``, so a model version and the way its score is
combined with the others travel and hot-swap together. When the pattern detector has no store to
read (its score is NaN), rows are combined by the ``fallback`` fitted without it.

A second ``mode``, ``min_tail``, learns nothing from abuse labels: each detector's scaled score is
turned into its *tail share*, the share of normal validation events scoring at least as high
(:class:`TailTable`, interpolated in log scale between knots and extrapolated beyond the highest normal
score along the slope of the top knots), and the rarest of them, times the number of detectors
(Bonferroni), is the chance that a normal event looks this rare to some detector. The combined score
is ``d / (1 + d)`` for ``d`` decades of rarity (``-log10`` of that chance): 0.5 is one normal event in
ten, 0.75 one in a thousand, 0.9 one in a billion; unlike one minus the chance it does not round to 1
for the rarest rows, so they stay ranked. A NaN score (no pattern store) counts as not rare. Mode
``fisher_tail`` pools the evidence instead of taking the rarest: Fisher's method, ``-2 ln`` of the
product of the tail shares against a chi-squared law with two degrees of freedom per detector, so a row
that several detectors find somewhat rare can outrank one that a single detector finds rare. Pooled over
many detectors, though, one detector's certainty is diluted (alone at 4 decades among six detectors it
counts about 1), so mode ``fisher_min_tail`` runs both tests and keeps the stronger, times two (Bonferroni
over the two): a row is rare when several detectors find it somewhat rare or one finds it very rare. Files
without ``mode`` are ``logistic``.

A tail table may also be a detector's *own* tail (``TailTable.own``), for a detector whose score already says
how rare it is among a real population, so that no table fitted on other (simulated) events re-tails it:
``p_value`` for a score that is one minus a tail share (rarity: ``1 - min(1, K min p)``), ``decades`` for a
score ``d / (1 + d)`` of ``d`` decades (new_account). Either reads the score itself (down to a tail of
1e-15), not its clipped logit. A table may have a ``floor``: the rarest log10 tail share it may say, so
that a detector can add evidence but never, alone, more than that.

Example
-------
>>> combiner = ScoreCombiner(("lstm", "velocity_rules"), ("logit", "log1p"), (1.0, 2.0), -1.0, 0.5)
>>> combiner.combine({"lstm": np.array([0.5, 0.9]), "velocity_rules": np.array([0.0, 1.0])}).round(3).tolist()
[0.269, 0.93]
>>> hinged = ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.5, hinges=(Hinge("lstm", 2.0, 3.0),))
>>> hinged.combine({"lstm": np.array([0.5, 0.9])}).round(3).tolist()  # logit(0.9) = 2.197: 0.197 past the knee
[0.5, 0.942]
>>> tails = (TailTable("velocity_rules", (0.0, 1.0, 2.0), (0.0, -1.0, -3.0)),)
>>> rarest = ScoreCombiner(("velocity_rules",), ("log1p",), (1.0,), 0.0, 0.99, mode="min_tail", tails=tails)
>>> rarest.combine({"velocity_rules": np.array([0.0, np.e - 1, np.e**2 - 1])}).round(3).tolist()
[0.0, 0.5, 0.75]
>>> pooled = ScoreCombiner(("velocity_rules",), ("log1p",), (1.0,), 0.0, 0.99, mode="fisher_tail", tails=tails)
>>> pooled.combine({"velocity_rules": np.array([0.0, np.e - 1, np.e**2 - 1])}).round(3).tolist()  # one detector
[0.0, 0.5, 0.75]
>>> two = (TailTable("velocity_rules", (0.0, 1.0, 2.0), (0.0, -1.0, -3.0)), TailTable("rarity", (), (), own="p_value"))
>>> both = {"velocity_rules": np.array([np.e - 1, 0.0]), "rarity": np.array([0.9, 0.9999])}  # 1 + 1 decades; 0 + 4
>>> for mode in ("min_tail", "fisher_tail", "fisher_min_tail"):
...     combiner = ScoreCombiner(("velocity_rules", "rarity"), ("log1p", "logit"), (1, 1), 0, 0.5, mode=mode, tails=two)
...     print(mode, combiner.combine(both).round(3).tolist())
min_tail [0.411, 0.787]
fisher_tail [0.556, 0.749]
fisher_min_tail [0.487, 0.773]
>>> own = (TailTable("rarity", (), (), own="p_value"), TailTable("lstm", (0.0, 5.0), (0.0, -4.0), floor=-2.0))
>>> fisher = ScoreCombiner(("rarity", "lstm"), ("logit", "logit"), (1.0, 1.0), 0.0, 0.8, mode="fisher_tail", tails=own)
>>> fisher.combine({"rarity": np.array([0.99, 0.0]), "lstm": np.array([0.5, 1 - 1e-7])}).round(3).tolist()  # 2 decades
[0.556, 0.556]
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from shopguard.errors import ShopguardError

COMBINER_FILE = "combiner.json"
PATTERN_DETECTOR = "user_patterns"
# Models emit float32 probabilities, which resolve about 6e-8 below 1: a wider clip would flatten the
# LSTM's most certain scores (bots at 1 - 1e-6, the most abnormal normal users at 1 - 1e-5) into one.
_EPSILON = 1e-7
_OWN_RESOLUTION = 1e-15  # an own tail (a float64 score) is read down to this share


class CombinerError(ShopguardError):
    """A ``combiner.json`` the job cannot use."""


def _nan_as(values: np.ndarray, value: float) -> np.ndarray:
    """``values`` with NaN replaced by ``value``: what ``np.nan_to_num(values, nan=value)`` gives wherever the result
    is then clipped or interpolated (it also turns infinities into the largest finite floats, which changes neither),
    without its overhead on the one-row arrays of the decision step.

    >>> _nan_as(np.array([np.nan, 0.5, np.inf]), 0.0).tolist()
    [0.0, 0.5, inf]
    """
    return np.where(np.isnan(values), value, values)


def transformed(score: np.ndarray, transform: str) -> np.ndarray:
    """A detector's score on the combiner's scale."""
    score = np.asarray(score, dtype=np.float64)
    if transform == "logit":
        p = np.clip(score, _EPSILON, 1 - _EPSILON)
        return np.log(p / (1 - p))
    if transform == "share":  # 0 means "nothing unusual seen", not "certainly normal": no logit
        return np.clip(score, 0.0, 1.0)
    if transform == "log1p":
        return np.log1p(np.maximum(score, 0.0))
    raise CombinerError(f"unknown score transform {transform!r} (known: logit, share, log1p)")


@dataclass(frozen=True)
class Hinge:
    """An extra ``weight`` on how far ``detector``'s transformed score lies beyond ``knee``."""

    detector: str
    knee: float
    weight: float

    def term(self, transformed_score: np.ndarray) -> np.ndarray:
        return self.weight * np.maximum(transformed_score - self.knee, 0.0)


def _fisher_log10_tail(log_tails: np.ndarray) -> np.ndarray:
    """log10 of Fisher's combined tail share for rows of ``log_tails`` (log10 tail shares, one row per detector).

    ``-2 ln`` of the product is chi-squared with ``2k`` degrees of freedom; its survival function in closed
    form is ``exp(-h) * sum_{i<k} h^i / i!`` with ``h`` minus the natural log of the product.

    >>> _fisher_log10_tail(np.array([[-2.0]])).round(6).tolist()  # one detector: its own tail
    [-2.0]
    """
    h = -np.log(10.0) * log_tails.sum(axis=0)
    terms = np.array([i * np.log(np.maximum(h, 1e-300)) - math.lgamma(i + 1) for i in range(len(log_tails))])
    top = terms.max(axis=0)
    log_sum = top + np.log(np.exp(terms - top).sum(axis=0))
    return (-h + log_sum) / np.log(10.0)


OWN_TAILS = ("p_value", "decades")


@dataclass(frozen=True)
class TailTable:
    """Where ``detector``'s scaled score lies among normal events: ascending ``scores`` (knots) and, for
    each, the log10 share of normal events scoring at least that (descending, the first 0); or, with
    ``own``, the score's own tail (see the module's docstring; no knots). ``floor``: the rarest log10 tail
    share the table may say.

    >>> own = TailTable("new_account", (), (), own="decades")
    >>> own.log_tail_of(np.array([0.0, 0.8]), "logit").round(3).tolist()  # 0.8 is 4 decades
    [-0.0, -4.0]
    """

    detector: str
    scores: tuple[float, ...]
    log_tails: tuple[float, ...]
    own: str = ""
    floor: float = -np.inf

    def log_tail_of(self, score: np.ndarray, transform: str) -> np.ndarray:
        """log10 tail share of each raw ``score`` (``transform``: the detector's scale, for a table); an own tail
        reads the score itself, not its clipped logit, so a p-value keeps its resolution (down to 1e-15)."""
        if not self.own:
            return self.log_tail(transformed(score, transform))
        score = np.asarray(score, dtype=np.float64)
        top = np.clip(_nan_as(score, 0.0), 0.0, 1 - _OWN_RESOLUTION)
        tail = np.log10(1 - top) if self.own == "p_value" else -top / (1 - top)  # decades: score d / (1 + d)
        return np.where(np.isnan(score), 0.0, np.maximum(tail, self.floor))

    def log_tail(self, scaled: np.ndarray) -> np.ndarray:
        """log10 tail share of each scaled score of a table; NaN (no score) counts as 0 (not rare)."""
        if self.own:
            raise CombinerError(f"{self.detector}'s own tail reads raw scores (log_tail_of)")
        scaled = np.asarray(scaled, dtype=np.float64)
        knots, tails, slope = self._curve
        inside = np.interp(_nan_as(scaled, -np.inf), knots, tails)
        beyond = tails[-1] + slope * (scaled - knots[-1])
        tail = np.where(scaled > knots[-1], beyond, inside)
        return np.where(np.isnan(scaled), 0.0, np.maximum(tail, self.floor))

    @functools.cached_property
    def _curve(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The table's knots and tails as arrays, and the slope beyond the highest normal score (its last decade's),
        built once per table instead of on every call (the decision step calls it for one row at a time)."""
        knots, tails = np.asarray(self.scores), np.asarray(self.log_tails)
        top = int(np.argmax(tails <= tails[-1] + 1.0))
        slope = (tails[-1] - tails[top]) / (knots[-1] - knots[top]) if knots[-1] > knots[top] else -1.0
        return knots, tails, min(slope, -1e-3)

    def to_dict(self) -> dict[str, Any]:
        return (
            {"detector": self.detector, "scores": list(self.scores), "log_tails": list(self.log_tails)}
            | ({"own": self.own} if self.own else {})
            | ({"floor": self.floor} if np.isfinite(self.floor) else {})
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "TailTable":
        table = cls(
            str(body["detector"]),
            tuple(map(float, body["scores"])),
            tuple(map(float, body["log_tails"])),
            str(body.get("own", "")),
            float(body.get("floor", -np.inf)),
        )
        if table.own and table.own not in OWN_TAILS:
            raise CombinerError(f"unknown own tail {table.own!r} (known: {', '.join(OWN_TAILS)})")
        if not table.own and (not table.scores or len(table.scores) != len(table.log_tails)):
            raise CombinerError(f"the tail table of {table.detector} needs knots and one tail share per knot")
        return table


MODES = ("logistic", "min_tail", "fisher_tail", "fisher_min_tail")


@dataclass(frozen=True)
class ScoreCombiner:
    detectors: tuple[str, ...]
    transforms: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    threshold: float
    fallback: "ScoreCombiner | None" = None  # without the pattern detector, for rows where it is NaN
    hinges: tuple[Hinge, ...] = ()
    mode: str = "logistic"  # or "min_tail" (label-free: see the module's docstring); weights unused there
    tails: tuple[TailTable, ...] = ()  # min_tail: one per detector
    type_thresholds: tuple[tuple[str, float], ...] = ()  # (alert type, threshold) raised from analysts' verdicts

    def combine(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """Probability of abuse per row, from each detector's scores (NaN pattern scores use the fallback)."""
        absent = [name for name in self.detectors if name not in scores]
        missing = [name for name in absent if not self.hinge_only(name)]
        if missing:
            raise CombinerError(f"the combiner needs scores from {missing}; it was given {sorted(scores)}")
        if absent:  # a hinge-only detector that was not computed (offline) adds nothing, as a NaN score does
            rows = len(next(iter(scores.values())))
            scores = {**scores, **{name: np.full(rows, np.nan) for name in absent}}
        if self.mode != "logistic":
            return self._tail_mode(scores)
        logit = np.full(len(next(iter(scores.values()))), self.intercept)
        hinges = {hinge.detector: hinge for hinge in self.hinges}
        for name, transform, weight in zip(self.detectors, self.transforms, self.weights):
            scaled = np.nan_to_num(transformed(scores[name], transform))
            logit = logit + weight * scaled
            if name in hinges:
                logit = logit + hinges[name].term(scaled)
        combined = 1.0 / (1.0 + np.exp(-logit))
        if self.fallback is not None and PATTERN_DETECTOR in scores:
            unavailable = np.isnan(np.asarray(scores[PATTERN_DETECTOR], dtype=np.float64))
            if unavailable.any():
                combined[unavailable] = self.fallback.combine(
                    {name: np.asarray(values)[unavailable] for name, values in scores.items()}
                )
        return combined

    def evidence(self, scores: Mapping[str, float | None]) -> dict[str, float]:
        """Decades of rarity each detector's score gives one row (``-log10`` of its tail share among normal
        users): what drove a tail-mode decision, and the order an alert's reasons take. A logistic combiner
        has no tails (empty); a detector without a score (None, NaN) is left out.

        >>> tails = (TailTable("velocity_rules", (0.0, 1.0), (0.0, -2.0)), TailTable("rarity", (), (), own="p_value"))
        >>> pooled = ScoreCombiner(("velocity_rules", "rarity"), ("log1p", "logit"), (1, 1), 0, 0.5,
        ...                        mode="fisher_min_tail", tails=tails)
        >>> pooled.evidence({"velocity_rules": np.e - 1, "rarity": 0.999, "lstm": 0.9})
        {'velocity_rules': 2.0, 'rarity': 3.0}
        """
        if self.mode == "logistic":
            return {}
        given = {name: scores.get(name) for name in self.detectors}
        row = {name: np.array([np.nan if value is None else float(value)]) for name, value in given.items()}
        log_tails = self._log_tails(row)[:, 0]
        return {
            name: round(max(-float(log_tail), 0.0), 3)
            for name, log_tail in zip(self.detectors, log_tails)
            if np.isfinite(row[name][0])
        }

    @property
    def required(self) -> tuple[str, ...]:
        """The detectors whose scores :meth:`combine` needs (every one but the hinge-only ones)."""
        return tuple(name for name in self.detectors if not self.hinge_only(name))

    def hinge_only(self, name: str) -> bool:
        """Whether ``name`` has no weight of its own and only a hinge (a fixed rule: its score, when missing or
        NaN, adds nothing).

        >>> fixed = ScoreCombiner(("lstm", "x"), ("logit", "logit"), (1, 0), 0, 0.5, hinges=(Hinge("x", 1, 9),))
        >>> fixed.hinge_only("x"), fixed.combine({"lstm": np.full(1, 0.5)}).tolist()  # x not computed: it adds nothing
        (True, [0.5])
        """
        weight = self.weights[self.detectors.index(name)] if name in self.detectors else None
        return weight == 0.0 and any(hinge.detector == name for hinge in self.hinges)

    def _log_tails(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[detectors, rows]`` log10 tail shares of each detector's scores among normal users (NaN: 0, not rare)."""
        tables = {table.detector: table for table in self.tails}
        return np.array([tables[name].log_tail_of(scores[name], t) for name, t in zip(self.detectors, self.transforms)])

    def _tail_mode(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """Decades of rarity ``d`` of the combined tail share (rarest, Bonferroni; or Fisher's), as ``d / (1 + d)``."""
        log_tails = self._log_tails(scores)
        rarest = -(log_tails.min(axis=0) + np.log10(len(self.detectors)))
        if self.mode == "min_tail":
            decades = rarest
        elif self.mode == "fisher_tail":
            decades = -_fisher_log10_tail(log_tails)
        else:  # fisher_min_tail: the stronger of the two tests, Bonferroni over them
            decades = np.maximum(rarest, -_fisher_log10_tail(log_tails)) - np.log10(2.0)
        decades = np.maximum(decades, 0.0)
        return decades / (1.0 + decades)

    def threshold_for(self, pattern_scores: np.ndarray, types: Sequence[str] | None = None) -> np.ndarray:
        """The operating threshold per row: the fallback's where the pattern score is missing, raised to the
        row's alert type's threshold where analysts' verdicts set one (``types``: each row's alert type).

        >>> typed = ScoreCombiner(("lstm",), ("logit",), (1.0,), 0.0, 0.9, type_thresholds=(("bot", 0.99),))
        >>> typed.threshold_for(np.zeros(2), ["bot", "scalping"]).tolist()
        [0.99, 0.9]
        """
        thresholds = np.full(len(pattern_scores), self.threshold)
        if self.fallback is not None:
            thresholds[np.isnan(np.asarray(pattern_scores, dtype=np.float64))] = self.fallback.threshold
        if self.type_thresholds and types is not None:
            raised = dict(self.type_thresholds)
            typed = np.array([raised.get(kind, -np.inf) for kind in types], dtype=np.float64)
            thresholds = np.maximum(thresholds, typed)
        return thresholds

    def with_type_thresholds(self, thresholds: Mapping[str, float]) -> "ScoreCombiner":
        """This combiner with these per-type thresholds (sorted by type)."""
        return dataclasses.replace(self, type_thresholds=tuple(sorted((k, float(v)) for k, v in thresholds.items())))

    def to_dict(self) -> dict[str, Any]:
        return (
            {
                "detectors": list(self.detectors),
                "transforms": list(self.transforms),
                "weights": list(self.weights),
                "intercept": self.intercept,
                "threshold": self.threshold,
                "fallback": self.fallback.to_dict() if self.fallback else None,
                "hinges": [{"detector": h.detector, "knee": h.knee, "weight": h.weight} for h in self.hinges],
            }
            | ({"mode": self.mode, "tails": [t.to_dict() for t in self.tails]} if self.mode != "logistic" else {})
            | ({"type_thresholds": dict(self.type_thresholds)} if self.type_thresholds else {})
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "ScoreCombiner":
        fallback = body.get("fallback")
        combiner = cls(
            tuple(body["detectors"]),
            tuple(body["transforms"]),
            tuple(float(w) for w in body["weights"]),
            float(body["intercept"]),
            float(body["threshold"]),
            cls.from_dict(fallback) if fallback else None,
            tuple(Hinge(str(h["detector"]), float(h["knee"]), float(h["weight"])) for h in body.get("hinges", ())),
            str(body.get("mode", "logistic")),
            tuple(TailTable.from_dict(t) for t in body.get("tails", ())),
            tuple(sorted((str(k), float(v)) for k, v in body.get("type_thresholds", {}).items())),
        )
        if combiner.mode not in MODES:
            raise CombinerError(f"unknown combination mode {combiner.mode!r} (known: {', '.join(MODES)})")
        if combiner.mode != "logistic" and {t.detector for t in combiner.tails} != set(combiner.detectors):
            raise CombinerError(f"a {combiner.mode} combiner needs one tail table per detector it combines")
        if not len(combiner.detectors) == len(combiner.transforms) == len(combiner.weights):
            raise CombinerError("detectors, transforms and weights must have one entry each")
        strays = {h.detector for h in combiner.hinges} - set(combiner.detectors)
        if strays:
            raise CombinerError(f"hinges on {sorted(strays)}, which the combiner does not combine")
        for transform in combiner.transforms:
            transformed(np.zeros(1), transform)
        return combiner

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / COMBINER_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, folder: str | Path) -> "ScoreCombiner | None":
        """The combiner saved in a model folder, or None when the model is served alone."""
        path = Path(folder) / COMBINER_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError, CombinerError) as exc:
            raise CombinerError(
                f"{path}: not a combiner this job can use ({exc}); write it again with `shopguard train`"
            ) from None
