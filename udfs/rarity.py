"""The ``rarity`` detector: how rare a user's current behaviour is among real shoppers.

It learns nothing from injected abuse. Each feature of the behaviour profile the keyed step keeps
(:class:`~shopguard.udfs.session_features.SessionFeatures`: the session, its gaps, the day around it)
is turned into a one-sided tail probability, the share of real shoppers whose profile ever reached a
value as extreme, read from an empirical survival function fitted on real traffic
(:mod:`shopguard.training.rarity_calibration`) and saved as ``rarity.json`` in the model folder.
Beyond the most extreme shopper seen, the tail is extended exponentially, so 40 categories in a visit
is rarer than 25 even if no shopper had either.

Real data calibrates only what it watched. ``window_minutes`` (in ``rarity.json``) is how long the
calibration data followed its shoppers (the Taobao slice: under two hours). A *window-bound* feature,
one that grows with how long a shopper is watched (visit minutes, 24-hour totals), gets a table only
from data that followed shoppers for a day (:data:`DAY_MINUTES`): a two-hour slice cannot say how rare
a long visit or a busy day is, and would call any of them extremely rare. The counts of a visit longer
than the window (events, page views, items, categories, page views per cart) are judged per window
minutes of it, at the visit's average pace, since no calibration visit could be longer.

The score combines the features by the smallest probability with a Bonferroni correction:
``1 - min(1, K * min p)`` over the K features the row has, so a threshold at ``1 - a`` flags at most
about a share ``a`` of real shoppers. Everything is vectorized over a batch of profile bytes;
:meth:`RarityTables.reasons` says in words what is rare.

Example
-------
>>> import numpy as np
>>> from shopguard.udfs.events import Event
>>> from shopguard.udfs.session_features import SessionFeatures
>>> ids = [str(i) for i in np.random.default_rng(1).integers(1, 5_000_000, 60)]
>>> def profile(views, gap_s):
...     session = SessionFeatures()
...     for i in range(views):
...         event = Event(f"e{i}", "u", "page_view", 1000 * gap_s * i, item_id=ids[i], category_id=ids[-i])
...         session.advance(event, 1000 * gap_s * (i - 1), False, False, 1_800_000)
...     return session.to_bytes()
>>> population = np.array([[1, 1, 1, 1]] * 90 + [[5, 5, 4, 3]] * 9 + [[9, 9, 6, 5]], dtype=float)
>>> tables = RarityTables.fit({"session_events": population[:, 0], "session_page_views": population[:, 1],
...                            "session_categories": population[:, 2], "session_items": population[:, 3]})
>>> scores = tables.score([profile(2, 60), profile(30, 90)])
>>> bool(scores[0] == 0.0), bool(scores[1] > 0.999)
(True, True)
>>> print(tables.reasons(profile(30, 90))[0]["text"])
30 page views in 30 categories in 43.5 minutes, never a cart: rarer than 99.999999% of shoppers (items in the visit: 35)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from shopguard.errors import ShopguardError
from shopguard.udfs.session_features import STATE_BYTES

RARITY_FILE = "rarity.json"
RARITY_VERSION = 1
DETECTOR = "rarity"
MIN_LOG_SURVIVAL = math.log(1e-15)  # the extrapolated tail stops here (float64 resolves 1 - 1e-15)

_PROFILE_DTYPE = np.dtype(
    [
        ("start_ts_ms", "<i8"),
        ("producer_session", "<u4"),
        ("events", "<u2"),
        ("page_views", "<u2"),
        ("carts", "<u2"),
        ("checkouts", "<u2"),
        ("purchases", "<u2"),
        ("payment_failed", "<u2"),
        ("login_failed", "<u2"),
        ("identity_changes", "<u2"),
        ("items", "<u8"),
        ("categories", "<u8"),
        ("duration_s", "<u4"),
        ("gaps", "<u2"),
        ("gap_log_sum", "<f8"),
        ("gap_log_squares", "<f8"),
        ("day_start_ts_ms", "<i8"),
        ("day_events", "<u2"),
        ("day_page_views", "<u2"),
        ("day_commitments", "<u2"),
        ("day_sessions", "<u2"),
        ("day_items", "<u8"),
        ("day_categories", "<u8"),
    ]
)
assert _PROFILE_DTYPE.itemsize == STATE_BYTES

DAY_MINUTES = 24 * 60  # a window-bound feature needs calibration data that followed shoppers this long
RARE_SCORE = 0.99  # from this score on an alert says in words what is rare (at most ~1% of shoppers get there)
MIN_EVENTS_FOR_RATES = 5  # pace and regularity of a session are read from this many events on
MIN_VIEWS_FOR_BREADTH = 8  # categories per page view, from this many page views on


@dataclass(frozen=True)
class Feature:
    name: str
    tail: str  # "high": large values are rare; "low": small values are rare
    words: str  # what it is, for reasons
    window_bound: bool = False  # grows with how long a shopper is watched: needs DAY_MINUTES of calibration


FEATURES: tuple[Feature, ...] = (
    Feature("session_events", "high", "events in the visit"),
    Feature("session_page_views", "high", "page views in the visit"),
    Feature("session_items", "high", "items in the visit"),
    Feature("session_categories", "high", "categories in the visit"),
    Feature("session_categories_per_view", "high", "categories per page view in the visit"),
    Feature("session_views_per_commitment", "high", "page views per cart or purchase in the visit"),
    Feature("session_minutes", "high", "minutes in the visit", window_bound=True),
    Feature("session_events_per_minute", "high", "events per minute in the visit"),
    Feature("session_gap_spread", "low", "spread of the gaps between events (log seconds)"),
    Feature("day_events", "high", "events in 24 hours", window_bound=True),
    Feature("day_categories", "high", "categories in 24 hours", window_bound=True),
    Feature("day_views_per_commitment", "high", "page views per cart or purchase in 24 hours", window_bound=True),
    Feature("day_sessions", "high", "visits in 24 hours", window_bound=True),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
VISIT_COUNTS = ("session_events", "session_page_views", "session_items", "session_categories")
"""Counts that grow with the visit's length: judged per calibration window (with page views per cart)."""


def calibrated(window_minutes: float | None) -> tuple[str, ...]:
    """The features real data that followed its shoppers for ``window_minutes`` can calibrate (None: every one).

    >>> len(calibrated(None)), len(calibrated(DAY_MINUTES)), calibrated(115.0)[-1]
    (13, 13, 'session_gap_spread')
    """
    short = window_minutes is not None and window_minutes < DAY_MINUTES
    return tuple(f.name for f in FEATURES if not (short and f.window_bound))


class RarityRefused(ShopguardError):
    """A ``rarity.json`` the job cannot use; the message names the file and what is wrong."""


def decode_profiles(profiles: Sequence[bytes]) -> np.ndarray:
    """A structured array (one record per row) of profile bytes; short (older) or empty bytes read as zeros."""
    padded = b"".join(bytes(p or b"")[:STATE_BYTES].ljust(STATE_BYTES, b"\0") for p in profiles)
    return np.frombuffer(padded, dtype=_PROFILE_DTYPE)


def distinct(sketches: np.ndarray) -> np.ndarray:
    """Linear-counting estimates of 64-bit sketches, as :func:`shopguard.udfs.session_features._distinct`."""
    bits = np.unpackbits(np.ascontiguousarray(sketches, dtype="<u8").view(np.uint8).reshape(-1, 8), axis=1)
    empty = 64 - bits.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore"):
        estimate = np.where(empty == 0, 64.0, np.round(-64 * np.log(np.maximum(empty, 1) / 64)))
    return estimate


def profile_features(profiles: Sequence[bytes], window_minutes: float | None = None) -> np.ndarray:
    """``[rows, len(FEATURES)]`` feature values (NaN where a feature says nothing about the row); with
    ``window_minutes``, a longer visit's counts per that many minutes of it (see the module docstring)."""
    p = decode_profiles(profiles)
    nan = np.nan
    minutes = p["duration_s"] / 60.0
    per_window = (
        np.ones(len(p)) if window_minutes is None else np.minimum(1.0, window_minutes / np.maximum(minutes, 1e-9))
    )
    events = p["events"].astype(np.float64)
    views = p["page_views"].astype(np.float64)
    commitments = (p["carts"] + p["checkouts"].astype(np.int64) + p["purchases"]).astype(np.float64)
    categories = np.where(p["categories"] != 0, distinct(p["categories"]), nan)
    items = np.where(p["items"] != 0, distinct(p["items"]), nan)
    gaps = p["gaps"].astype(np.float64)
    enough = events >= MIN_EVENTS_FOR_RATES
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = p["gap_log_sum"] / np.maximum(gaps, 1)
        spread = np.sqrt(np.maximum(p["gap_log_squares"] / np.maximum(gaps, 1) - mean**2, 0.0))
        per_view = np.where(views >= MIN_VIEWS_FOR_BREADTH, categories / np.maximum(views, 1), nan)
    day_events = p["day_events"].astype(np.float64)
    day_categories = np.where(p["day_categories"] != 0, distinct(p["day_categories"]), nan)
    columns = [
        events * per_window,
        views * per_window,
        items * per_window,
        categories * per_window,
        per_view,
        views * per_window / (1 + commitments * per_window),
        minutes,
        np.where(enough, events / np.maximum(minutes, 1.0), nan),
        np.where(enough & (gaps >= MIN_EVENTS_FOR_RATES - 1), spread, nan),
        day_events,
        day_categories,
        p["day_page_views"] / (1.0 + p["day_commitments"]),
        p["day_sessions"].astype(np.float64),
    ]
    values = np.stack(columns, axis=1)
    values[events == 0] = nan  # no profile (no event yet, or state from before the profile existed)
    values[(events > 0) & (day_events == 0), len(columns) - 4 :] = nan  # a session restored without its day
    return values


@dataclass(frozen=True)
class TailTable:
    """``log P(X >= value)`` among real shoppers at ascending ``values`` (X oriented so that high is rare)."""

    values: np.ndarray
    log_survival: np.ndarray

    @classmethod
    def fit(cls, sample: np.ndarray, points: int = 64) -> "TailTable":
        """From one value per shopper; NaN (the feature never applied to the shopper) counts as not extreme."""
        population = len(sample)
        sample = np.sort(sample[np.isfinite(sample)])
        if len(sample) == 0:
            raise RarityRefused("a feature has no finite value in the calibration data")
        unique = np.unique(sample)
        if len(unique) > points:  # keep the tail dense: points spaced evenly in log survival
            levels = np.geomspace(1.0, 1.0 / len(sample), points)
            unique = np.unique(sample[np.clip(np.round((1 - levels) * (len(sample) - 1)).astype(int), 0, None)])
            unique = np.unique(np.append(unique, sample[-1]))
        at_least = len(sample) - np.searchsorted(sample, unique, side="left")
        return cls(unique.astype(np.float64), np.log(at_least / population))

    def log_p(self, x: np.ndarray) -> np.ndarray:
        """``log P(X >= x)``: interpolated inside the table, exponential beyond its largest value, NaN for NaN."""
        values, logs = self.values, self.log_survival
        inside = np.interp(x, values, logs, left=0.0, right=logs[-1])
        beyond = x > values[-1]
        if beyond.any():
            inside = np.where(beyond, logs[-1] + self.tail_slope * (x - values[-1]), inside)
        return np.where(np.isnan(x), np.nan, np.maximum(inside, MIN_LOG_SURVIVAL))

    @property
    def tail_slope(self) -> float:
        """Decay of log survival per unit beyond the table, from the last 1% of shoppers (at least one unit's worth)."""
        values, logs = self.values, self.log_survival
        reference = int(np.searchsorted(-logs, -math.log(0.01), side="left"))
        reference = min(reference, len(values) - 2) if len(values) > 1 else 0
        span = values[-1] - values[reference]
        if len(values) < 2 or span <= 0:
            return -1.0 / max(abs(values[-1]), 1e-9)
        return min((logs[-1] - logs[reference]) / span, -1e-6 / span)

    def to_dict(self) -> dict[str, list[float]]:
        return {"values": self.values.tolist(), "log_survival": self.log_survival.tolist()}


class RarityTables:
    """Tail tables per feature (see the module docstring); ``score`` and ``reasons`` read a batch of profiles."""

    def __init__(self, tables: Mapping[str, TailTable], source: str = "", window_minutes: float | None = None):
        unknown = set(tables) - set(FEATURE_NAMES)
        if unknown:
            raise RarityRefused(f"unknown rarity features {sorted(unknown)} (known: {list(FEATURE_NAMES)})")
        uncalibrated = set(tables) - set(calibrated(window_minutes))
        if uncalibrated:
            raise RarityRefused(
                f"features {sorted(uncalibrated)} grow with how long a shopper is watched; data that followed "
                f"shoppers for {window_minutes:g} minutes cannot calibrate them (it needs {DAY_MINUTES})"
            )
        if window_minutes is not None and not window_minutes > 0:
            raise RarityRefused(f"window_minutes must be positive, not {window_minutes!r}")
        self.tables = dict(tables)
        self.source = source
        self.window_minutes = window_minutes
        self._columns = [i for i, name in enumerate(FEATURE_NAMES) if name in self.tables]
        self._signs = np.array([1.0 if FEATURES[i].tail == "high" else -1.0 for i in self._columns])

    @classmethod
    def fit(
        cls, samples: Mapping[str, np.ndarray], source: str = "", window_minutes: float | None = None
    ) -> "RarityTables":
        """Tables from each feature's per-shopper extreme (max for a high tail, min for a low one), for the
        features data that followed its shoppers for ``window_minutes`` can calibrate (the others are left out)."""
        tails = {f.name: f.tail for f in FEATURES}
        keep = calibrated(window_minutes)
        return cls(
            {
                name: TailTable.fit(np.asarray(values, dtype=np.float64) * (1.0 if tails[name] == "high" else -1.0))
                for name, values in samples.items()
                if name in keep
            },
            source,
            window_minutes,
        )

    def log_p(self, profiles: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Feature values ``[rows, features]`` and their log tail probabilities (NaN where undefined)."""
        values = profile_features(profiles, self.window_minutes)[:, self._columns]
        oriented = values * self._signs
        logs = np.stack(
            [self.tables[FEATURE_NAMES[c]].log_p(oriented[:, j]) for j, c in enumerate(self._columns)], axis=1
        )
        return values, logs

    def score(self, profiles: Sequence[bytes]) -> np.ndarray:
        """``1 - min(1, K * min p)`` per row, K the number of features; 0 for rows with no profile."""
        if len(profiles) == 0:
            return np.zeros(0)
        _, logs = self.log_p(profiles)
        defined = np.isfinite(logs)
        smallest = np.min(np.where(defined, logs, 0.0), axis=1)
        corrected = np.minimum(smallest + math.log(len(self._columns)), 0.0)
        return 0.0 - np.expm1(corrected)

    def reasons(self, profile: bytes, top: int = 3) -> list[dict[str, Any]]:
        """The rarest features of one profile in words, rarest first (features rarer than 1 in 100 shoppers)."""
        values, logs = self.log_p([profile])
        values, logs = values[0], logs[0]
        order = [j for j in np.argsort(np.where(np.isfinite(logs), logs, 0.0)) if logs[j] <= math.log(0.01)][:top]
        if not order:
            return []
        decoded = decode_profiles([profile])[0]
        summary = describe_visit(decoded)
        longer = self.window_minutes is not None and decoded["duration_s"] / 60 > self.window_minutes
        reasons = []
        for j in order:
            feature = FEATURES[self._columns[j]]
            share = 1 - math.exp(logs[j])
            words = feature.words
            if longer and (feature.name in VISIT_COUNTS or feature.name == "session_views_per_commitment"):
                words += f" per {_number(self.window_minutes)} minutes"
            reasons.append(
                {
                    "feature": f"rarity:{feature.name}",
                    "value": round(float(values[j]), 3),
                    "suggests": "unknown",
                    "text": f"{summary}: rarer than {_percent(share)} of shoppers ({words}: {_number(values[j])})",
                }
            )
        return reasons

    def to_dict(self) -> dict[str, Any]:
        window = {} if self.window_minutes is None else {"window_minutes": self.window_minutes}
        return {
            "version": RARITY_VERSION,
            "source": self.source,
            **window,
            "features": {name: table.to_dict() for name, table in self.tables.items()},
        }

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / RARITY_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "RarityTables":
        if body.get("version") != RARITY_VERSION:
            raise RarityRefused(f"version {body.get('version')!r}, this job reads version {RARITY_VERSION}")
        tables = {}
        for name, table in body["features"].items():
            values = np.asarray(table["values"], dtype=np.float64)
            logs = np.asarray(table["log_survival"], dtype=np.float64)
            if values.ndim != 1 or len(values) == 0 or values.shape != logs.shape:
                raise RarityRefused(f"feature {name!r}: values and log_survival must be equal, non-empty lists")
            if not (np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)):
                raise RarityRefused(f"feature {name!r}: values must be finite and strictly ascending")
            if not (np.all(logs <= 0) and np.all(np.diff(logs) <= 0)):
                raise RarityRefused(f"feature {name!r}: log_survival must be <= 0 and non-increasing")
            tables[name] = TailTable(values, logs)
        if not tables:
            raise RarityRefused("no features")
        window = body.get("window_minutes")
        return cls(tables, str(body.get("source", "")), None if window is None else float(window))

    @classmethod
    def default(cls) -> "RarityTables":
        """The tables shipped with the serving code (:mod:`shopguard.udfs.rarity_defaults`), for the placeholder."""
        from shopguard.udfs.rarity_defaults import DEFAULT_TABLES

        return cls.from_dict(DEFAULT_TABLES)

    @classmethod
    def read(cls, folder: str | Path) -> "RarityTables | None":
        """The tables saved in a model folder, or None when the folder serves without ``rarity``."""
        path = Path(folder) / RARITY_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError, RarityRefused) as exc:
            raise RarityRefused(
                f"{path}: not rarity tables this job can use ({exc}); write them again with `shopguard train`"
            ) from None


def describe_visit(profile: np.void) -> str:
    """``31 page views in 24 categories in 48 minutes, never a cart`` for one decoded profile."""
    views, events = int(profile["page_views"]), int(profile["events"])
    what = f"{views} page views" if views == events else f"{events} events ({views} page views)"
    categories = int(distinct(np.array([profile["categories"]]))[0]) if profile["categories"] else 0
    items = int(distinct(np.array([profile["items"]]))[0]) if profile["items"] else 0
    where = f" in {categories} categories" if categories else (f" of {items} items" if items else "")
    commitments = int(profile["carts"]) + int(profile["checkouts"]) + int(profile["purchases"])
    carts = "never a cart" if commitments == 0 else f"{commitments} carts or purchases"
    text = f"{what}{where} in {_number(profile['duration_s'] / 60)} minutes, {carts}"
    if int(profile["day_sessions"]) > 1:
        text += f"; {int(profile['day_events'])} events in {int(profile['day_sessions'])} visits over 24 hours"
    return text


def _percent(share: float) -> str:
    """99.97% with as many decimals as it takes to stay below 100%."""
    rest = 100 * (1 - share)
    decimals = 0 if rest >= 1 else min(math.ceil(-math.log10(max(rest, 1e-12))), 6)
    shown = math.floor(100 * share * 10**decimals) / 10**decimals
    return f"{min(shown, 100 - 10**-decimals):.{decimals}f}%"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"
