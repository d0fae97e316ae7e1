"""The ``new_account`` detector as the evaluation judges it: the job's scoring of each event, offline.

Scores come from :meth:`shopguard.udfs.new_account.NewAccountTables.score`, the function the job's scoring
step runs, over what the job's rows carry for each event: its type, its ``seconds_since_signup`` (from
the user's keyed state: :func:`seconds_since_signup` advances a :class:`~shopguard.udfs.user_state.UserState`
per user exactly as the keyed step does) and its device's new accounts in 24 h. The tables are calibrated
on real labelled purchases (:mod:`shopguard.training.new_account_calibration`): ``fit`` learns nothing.

:meth:`NewAccountDetector.score_events` takes the events themselves and is the job's score, the device
figure from the entity steps' own code replayed offline (:mod:`shopguard.training.entity_figures`) unless
it is given; :meth:`NewAccountDetector.score` takes encoded traffic, which keeps no device ids, so there
the device part is left out (the time part is the job's).

Example
-------
>>> from shopguard.udfs.events import Event
>>> events = [Event("s", "u1", "signup", 0), Event("p", "u1", "purchase", 40_000, price=9.0),
...           Event("q", "u2", "purchase", 50_000, price=9.0)]
>>> seconds_since_signup(events).tolist()
[0.0, 40.0, nan]
>>> NewAccountDetector().score_events(events, device_new_accounts=[1.0, 6.0, 1.0]).round(3).tolist()
[0.0, 0.906, 0.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from shopguard.config import JobSettings
from shopguard.training.behaviour_stats import by_user
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.admission import admit_event
from shopguard.udfs.encoding import CODE_BYTES
from shopguard.udfs.events import EVENT_TYPES, Event
from shopguard.udfs.new_account import DETECTOR, DEVICE_NEW_ACCOUNTS, NewAccountTables, tables_for
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS
from shopguard.udfs.user_state import SIGNUP, UserState


class NewAccountDetector:
    """How soon after signup an account spends, among normal accounts (see the module docstring)."""

    name = DETECTOR

    def __init__(self, tables: NewAccountTables | None = None):
        self.tables = tables if tables is not None else tables_for(None)

    @classmethod
    def for_folder(cls, folder: str | Path) -> "NewAccountDetector":
        """The folder's ``new_account.json``, else the shipped tables (as the job serves it)."""
        return cls(tables_for(folder))

    def fit(self, train: EncodedTraffic) -> "NewAccountDetector":
        return self  # calibrated on real labelled purchases' normal accounts, not on labelled traffic

    def score_events(
        self, events: Sequence[Event], device_new_accounts: Sequence[float] | None = None, settings=None
    ) -> np.ndarray:
        """The job's score for each of ``events`` (any order of users; each user's in time order)."""
        if device_new_accounts is None:
            from shopguard.training.entity_figures import entity_figures

            device_new_accounts = entity_figures(events)[:, ENTITY_FIGURE_FIELDS.index(DEVICE_NEW_ACCOUNTS)]
        devices = device_new_accounts
        return self.tables.score([e.event_type for e in events], seconds_since_signup(events, settings), devices)

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        """Scores for encoded traffic: types from the windows, signups from each user's earlier events."""
        types = [_newest_type(window) for window in traffic.windows]
        seconds = np.full(len(traffic), np.nan)
        signup_of: dict[str, int] = {}
        for i, (user, ts, kind) in enumerate(zip(traffic.user_ids, traffic.ts_ms, types)):
            if kind == SIGNUP and (user not in signup_of or ts < signup_of[user]):
                signup_of[user] = int(ts)
            if user in signup_of and ts >= signup_of[user]:
                seconds[i] = (ts - signup_of[user]) / 1000.0
        return self.tables.score(types, seconds, np.full(len(traffic), np.nan))


def seconds_since_signup(events: Sequence[Event], settings: JobSettings | None = None) -> np.ndarray:
    """Each event's ``seconds_since_signup`` as the keyed step puts it in the scoring row (NaN: none seen)."""
    settings = settings or JobSettings()
    position = {id(event): i for i, event in enumerate(events)}
    seconds = np.full(len(events), np.nan)
    for history in by_user(events).values():
        state = UserState()
        for event in history:
            admit_event(state, event, settings)
            seconds[position[id(event)]] = state.seconds_since_signup(event.ts_ms)
    return seconds


def _newest_type(window: bytes) -> str:
    """The event type of a window's newest code ('' for an empty window)."""
    if len(window) < CODE_BYTES or not window[-CODE_BYTES]:
        return ""
    return EVENT_TYPES[window[-CODE_BYTES] - 1]
