"""The per-user normal-behaviour pattern detector, judged by the same evaluation as every other detector.

``fit`` mines the profiles of the users in the traffic it is given (their normal history) into a
pattern store, then replays that history through the matcher, as the running job would have seen it,
to leave each user's :class:`~shopguard.udfs.pattern_matching.PatternState` where the job's would be.
``score`` continues from those states, replaying each user's events in time order through the very
:class:`~shopguard.udfs.pattern_matching.PatternMatcher` the streaming job runs, with the state
round-tripped through bytes after every event as Flink keyed state is.

With a ``reference`` (real shoppers, and the normal users whose profiles were mined, in a later period),
``fit`` also fits the strangers' scale (:mod:`shopguard.training.stranger_scale`) into the store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from shopguard.config import PatternSettings
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.pattern_mining import mine_patterns
from shopguard.training.real_calibration import per_user_max
from shopguard.training.stranger_scale import fit_stranger_scale, write_stranger_scale
from shopguard.udfs.pattern_matching import PatternMatcher, PatternState
from shopguard.udfs.pattern_store import PATTERNS_FILE


class UserPatternDetector:
    """Mine on ``fit(history)``, match online on ``score``; ``store_dir`` keeps the mined store; ``reference``:
    ``(real shoppers, known normal users)`` to fit the strangers' scale on (see the module's docstring)."""

    name = "user_patterns"

    def __init__(
        self,
        settings: PatternSettings,
        store_dir: str | Path | None = None,
        reference: tuple[EncodedTraffic, EncodedTraffic] | None = None,
    ):
        self.settings = settings
        self.store_dir = str(store_dir or tempfile.mkdtemp(prefix="shopguard-patterns-"))
        self.reference = reference
        self._matcher: PatternMatcher | None = None
        self._states_after_history: dict[str, bytes] = {}

    @property
    def store_path(self) -> Path:
        return Path(self.store_dir) / PATTERNS_FILE

    def fit(self, history: EncodedTraffic) -> "UserPatternDetector":
        mine_patterns(history, self.settings).write(self.store_dir, self.settings)
        self._matcher = None
        self._states_after_history = {}
        self._states_after_history = self._replay(history)[1]
        if self.reference is not None:
            self._fit_strangers(*self.reference)
        return self

    def _fit_strangers(self, real: EncodedTraffic, known: EncodedTraffic) -> None:
        """The strangers' scale from ``real`` users without a profile and ``known`` users with one."""
        store = self.matcher.store
        strangers = self._subset(real, lambda user: store.profile(user) is None)
        profiled = self._subset(known, lambda user: store.profile(user) is not None)
        if not len(strangers) or not len(profiled):
            return
        scale = fit_stranger_scale(
            per_user_max(self.score(strangers), strangers.user_ids),
            per_user_max(self.score(profiled), profiled.user_ids),
        )
        store.close()
        self._matcher = None
        write_stranger_scale(self.store_path, scale)

    @staticmethod
    def _subset(traffic: EncodedTraffic, keep) -> EncodedTraffic:
        kept = {user: bool(keep(user)) for user in set(traffic.user_ids)}
        return traffic.subset(np.array([kept[user] for user in traffic.user_ids], dtype=bool))

    @property
    def matcher(self) -> PatternMatcher:
        if self._matcher is None:
            self._matcher = PatternMatcher.open(self.store_path, self.settings)
        return self._matcher

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        return self._replay(traffic)[0]

    def _replay(self, traffic: EncodedTraffic) -> tuple[np.ndarray, dict[str, bytes]]:
        states = dict(self._states_after_history)
        scores = replay_pattern_scores(self.matcher, traffic.user_ids, traffic.windows, traffic.ts_ms.tolist(), states)
        return scores, states

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_matcher": None, "reference": None}  # an SQLite connection does not pickle


def replay_pattern_scores(
    matcher: PatternMatcher,
    user_ids: Sequence[str],
    windows: Sequence[bytes],
    ts_ms: Sequence[int],
    states: dict[str, bytes],
) -> np.ndarray:
    """Each event's pattern score, in the order given, with every user's state kept as bytes in ``states``."""
    scores = np.zeros(len(windows))
    for i, (user, window, ts) in enumerate(zip(user_ids, windows, ts_ms)):
        state = PatternState.from_bytes(states.get(user))
        scores[i] = matcher.observe(user, window, ts, state).score
        states[user] = state.to_bytes()
    return scores
