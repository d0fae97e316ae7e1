"""Calibrating the ``rarity`` detector on real shoppers: ``rarity.json`` for a model folder.

Every real user's events run, in time order, through the job's own keyed state
(:func:`~shopguard.udfs.admission.session_profiles`), so the profile bytes are exactly those the job
would send to scoring. Each feature of :mod:`shopguard.udfs.rarity` is read after every event, and
each user contributes the most extreme value they ever reached (the largest for a feature whose high
values are rare, the smallest for a low one): the tables then say what share of *shoppers* ever got
that far, which is what a per-user alert rate needs. The tables record how long the data followed its
shoppers (``window_minutes``: the shortest span of the populations, so the Taobao slice's for the shipped
tables); features that grow with how long a shopper is watched get no table from data shorter than a day,
and a visit's counts are read per window (:func:`shopguard.udfs.rarity.calibrated`).

The real data is the Taobao slice (users) and the Diginetica sessions (``data.taobao_csv`` and, when it
is there, ``diginetica_item_views_sample.csv`` in the same folder); nothing here sees injected abuse.

Example
-------
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"e{u}-{i}", f"u{u}", "page_view", 60_000 * i, item_id=f"i{i}", category_id=f"c{u}")
...           for u in range(20) for i in range(1 + u % 4)]
>>> tables = fit_rarity([events], source="toy")
>>> tables.tables["session_events"].values.tolist(), round(float(tables.score([b""])[0]), 3)
([1.0, 2.0, 3.0, 4.0], 0.0)
>>> tables.window_minutes, "session_minutes" in tables.tables  # three minutes of data: no visit minutes
(3.0, False)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from shopguard.config import JobSettings, ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.training.behaviour_stats import by_user
from shopguard.training.datasets import read_diginetica, read_taobao
from shopguard.udfs.admission import session_profiles
from shopguard.udfs.events import Event
from shopguard.udfs.rarity import FEATURES, RarityTables, profile_features
from shopguard.udfs.shipped_tables import write_shipped_tables

DIGINETICA_FILE = "diginetica_item_views_sample.csv"


def user_extremes(
    events: Iterable[Event], settings: JobSettings | None = None, window_minutes: float | None = None
) -> np.ndarray:
    """``[users, features]``: each user's most extreme value of every feature over their events (NaN: never
    defined), a visit's counts read per ``window_minutes`` as the job reads them."""
    settings = settings or JobSettings()
    profiles: list[bytes] = []
    owners: list[int] = []
    for user, history in enumerate(by_user(events).values()):
        profiles += session_profiles(history, settings)
        owners += [user] * len(history)
    if not profiles:
        return np.zeros((0, len(FEATURES)))
    signs = np.array([1.0 if f.tail == "high" else -1.0 for f in FEATURES])
    oriented = profile_features(profiles, window_minutes) * signs
    extremes = np.full((owners[-1] + 1, len(FEATURES)), np.nan)
    np.fmax.at(extremes, np.array(owners), oriented)  # fmax: NaN only where a user never had the feature
    return extremes * signs


def fit_rarity(
    populations: Sequence[Iterable[Event]], source: str = "", settings: JobSettings | None = None
) -> RarityTables:
    """Tables from the users of every population (each a stream of real events), for as long as the shortest
    population followed its shoppers."""
    populations = [list(events) for events in populations]
    window = watched_minutes(populations)
    extremes = np.vstack([user_extremes(events, settings, window) for events in populations])
    if len(extremes) == 0:
        raise ShopguardError("no real users to calibrate the rarity detector on")
    return RarityTables.fit(
        {f.name: extremes[:, i] for i, f in enumerate(FEATURES) if np.isfinite(extremes[:, i]).any()}, source, window
    )


def watched_minutes(populations: Sequence[Sequence[Event]]) -> float | None:
    """How long the real data followed its shoppers: the shortest span, first to last event, of the populations
    (a minute at least; None without events).

    >>> hour = [Event("a", "u", "page_view", 0), Event("b", "v", "page_view", 3_600_000)]
    >>> watched_minutes([hour, hour + [Event("c", "w", "page_view", 86_400_000)]])
    60.0
    """
    spans = [max(e.ts_ms for e in events) - min(e.ts_ms for e in events) for events in populations if events]
    return max(min(spans) / 60_000, 1.0) if spans else None


def real_populations(cfg: ShopguardConfig) -> dict[str, list[Event]]:
    """The real shoppers the detector is calibrated on, by name (Taobao slice users, Diginetica sessions); events
    with an implausible time (``validation.min_event_time_ms``) are left out, as they would stretch the window."""
    taobao, _ = read_taobao(cfg.data.taobao_csv)
    populations = {"taobao": [e for e in taobao if e.ts_ms >= cfg.validation.min_event_time_ms]}  # no ts=15 row
    diginetica_csv = Path(cfg.data.taobao_csv).parent / DIGINETICA_FILE
    if diginetica_csv.is_file():
        diginetica, _ = read_diginetica(diginetica_csv)
        populations["diginetica"] = diginetica
    return populations


def write_default_tables(cfg: ShopguardConfig) -> Path:
    """Write the tables fitted on ``cfg``'s real data as the ones the serving code ships
    (:mod:`shopguard.udfs.rarity_defaults`): ``python -m shopguard.training.rarity_calibration``."""
    populations = real_populations(cfg)
    source = ", ".join(f"{name} ({len({e.user_id for e in events})} users)" for name, events in populations.items())
    body = fit_rarity(list(populations.values()), source, cfg.job).to_dict()
    for table in body["features"].values():
        table["log_survival"] = [round(v, 9) for v in table["log_survival"]]
    return write_shipped_tables("rarity", body)


def calibrate_rarity(cfg: ShopguardConfig, folder: str | Path, progress: Callable[[str], None] = print) -> Path:
    """Fit the tables on the real data of ``cfg`` and write ``rarity.json`` into ``folder``."""
    populations = real_populations(cfg)
    source = ", ".join(f"{name} ({len({e.user_id for e in events})} users)" for name, events in populations.items())
    progress(f"calibrating the rarity detector on real shoppers: {source}")
    return fit_rarity(list(populations.values()), source, cfg.job).write(folder)


if __name__ == "__main__":
    from shopguard.config import load_config

    print(write_default_tables(load_config(sys.argv[1] if len(sys.argv) > 1 else None)))
