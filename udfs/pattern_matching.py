"""Matching a user's current behaviour against their own normal patterns, online, one event at a time.

For every event the matcher takes the behaviour sequences that end with it (lengths
``patterns.min_length``..``max_length``, from the window of codes the job already keeps), skips those
whose IDF is below the threshold for their length (everyone performs them: they cannot tell this user
apart, and skipping them saves lookups), and weighs the rest by IDF:

* a sequence in the user's profile, or learned online, is *matched*;
* otherwise it is *unmatched*, fully for a user with a rich profile; a user with a thin profile or
  none falls back to the population, and an unmatched sequence that many users perform counts only
  as much as the profile is thin.

The score is the IDF-weighted share of unmatched sequences, as a moving average over about
``patterns.recent_events`` events, in [0, 1]. The share is taken of the most the event could weigh
(every sequence ending with it unmatched and performed by no user: IDF ``ln(users + 1)``), not of the
weight of the sequences that passed the threshold: a share of those alone made one odd sequence of a
user with sparse history weigh as much as a burst of never-seen behaviour, and ranked users worse on the
returning-shopper evaluation (``shopguard evaluate``). Behaviour that stays normal (score below
``patterns.learn_max_score``) extends the profile online: a sequence counts as the user's once it has
been seen in ``patterns.learn_min_sessions`` sessions, with a half-life, so profiles follow slow change
while an attack confined to one session cannot teach itself to the detector. The learned part lives in
the user's keyed state (:class:`PatternState`, at most ``28 + 20 * patterns.learned_capacity`` bytes).

A user the store has no profile for (a stranger) is compared with the population only, and the store's
population is whoever it was mined from; real strangers can do what none of them did. If the store holds a
:class:`StrangerScale` (meta key ``stranger_scale``, fitted on real shoppers by
:mod:`shopguard.training.stranger_scale`), a stranger's score is mapped through it to the score a known
user reaches as rarely, so that a score means the same for strangers and for known users. The state and
what is learned keep the unmapped score.

Example
-------
>>> import tempfile, pathlib
>>> from shopguard.config import PatternSettings
>>> from shopguard.udfs.behaviour_tokens import sequences_ending_here, window_tokens
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> from shopguard.udfs.pattern_store import PATTERNS_FILE, PatternStore, write_pattern_store
>>> usual = encode_user_events([Event("a", "u", "page_view", 0), Event("b", "u", "page_view", 20_000)], 32)[-1]
>>> odd = encode_user_events([Event("a", "u", "page_view", 0), Event("b", "u", "login_failed", 1_000)], 32)[-1]
>>> path = pathlib.Path(tempfile.mkdtemp()) / PATTERNS_FILE
>>> _ = write_pattern_store(path, users=1000, document_frequency={},
...                         profiles=[("u", 50, sequences_ending_here(window_tokens(usual), 2, 2))], meta={})
>>> settings = PatternSettings(min_length=2, max_length=2, min_idf=(1.0,), recent_events=1)
>>> matcher = PatternMatcher(PatternStore.open(path, 1000, 0.01), settings)
>>> matcher.observe("u", usual, 20_000, PatternState()).score, matcher.observe("u", odd, 1_000, PatternState()).score
(0.0, 1.0)
"""

from __future__ import annotations

import bisect
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from shopguard.config import PatternSettings
from shopguard.udfs.behaviour_tokens import sequence_length, sequences_ending_here, starts_visit, window_tokens
from shopguard.udfs.pattern_store import PatternStore, UserProfile

_HEADER = struct.Struct("<ddIq")
_ENTRY = struct.Struct("<qdI")  # a learned sequence: its id, evidence, last session
_SEQUENCE = struct.Struct("<q")  # the id at the start of an _ENTRY
DAY_MS = 86_400_000


def idf_threshold(settings: PatternSettings, sequence: int) -> float:
    """The IDF a sequence of its length needs to say anything about who the user is (``patterns.min_idf``)."""
    return idf_threshold_of_length(settings, sequence_length(sequence))


def idf_threshold_of_length(settings: PatternSettings, length: int) -> float:
    """The IDF a sequence of ``length`` tokens needs (:func:`idf_threshold`)."""
    return settings.min_idf[min(length - settings.min_length, len(settings.min_idf) - 1)]


STRANGER_SCALE_KEY = "stranger_scale"


@dataclass(frozen=True)
class StrangerScale:
    """A monotone map from a stranger's pattern score to the known users' score that is as rare
    (piecewise linear between knots; below the first knot unchanged, beyond the last the last value).

    >>> scale = StrangerScale((0.0, 0.5, 1.0), (0.0, 0.2, 0.6))
    >>> [scale.apply(v) for v in (0.0, 0.25, 1.0)], StrangerScale.from_json(scale.to_json()) == scale
    ([0.0, 0.1, 0.6], True)
    """

    raw: tuple[float, ...]
    scaled: tuple[float, ...]

    def apply(self, score: float) -> float:
        i = bisect.bisect_right(self.raw, score)
        if i == 0:
            return score
        if i == len(self.raw):
            return self.scaled[-1]
        r0, r1, s0, s1 = self.raw[i - 1], self.raw[i], self.scaled[i - 1], self.scaled[i]
        return s0 + (s1 - s0) * (score - r0) / (r1 - r0)

    def to_json(self) -> str:
        return json.dumps({"raw": list(self.raw), "scaled": list(self.scaled)})

    @classmethod
    def from_json(cls, text: str | None) -> "StrangerScale | None":
        if not text:
            return None
        body = json.loads(text)
        return cls(tuple(float(v) for v in body["raw"]), tuple(float(v) for v in body["scaled"]))


class PatternState:
    """What the matcher keeps per user in keyed state: the moving sums and the learned sequences.

    The learned sequences stay packed as :meth:`to_bytes` wrote them until something changes them:
    :meth:`evidence` reads one from the packed bytes, and only :attr:`learned` (the matcher learning or
    forgetting) unpacks them into a dict, so an event that teaches nothing costs no unpacking and no packing.

    >>> state = PatternState(learned={7: (2.0, 1)})
    >>> restored = PatternState.from_bytes(state.to_bytes())
    >>> restored.evidence(7), restored.evidence(8), restored == state
    (2.0, None, True)
    >>> restored.learned[8] = (1.0, 1); PatternState.from_bytes(restored.to_bytes()).evidence(8)
    1.0
    """

    def __init__(
        self,
        unmatched: float = 0.0,  # moving average of IDF-weighted unmatched sequences
        weighed: float = 0.0,  # moving average of IDF-weighted sequences
        session: int = 0,  # sessions seen, so that a sequence is learned at most once per session
        session_start_ms: int = -1,
        learned: dict[int, tuple[float, int]] | None = None,  # sequence -> (evidence, last session)
        packed: bytes = b"",  # the learned sequences as _ENTRY records, when ``learned`` is None
    ):
        self.unmatched = unmatched
        self.weighed = weighed
        self.session = session
        self.session_start_ms = session_start_ms
        self._learned = learned if learned is not None or packed else {}
        self._packed = packed

    @property
    def learned(self) -> dict[int, tuple[float, int]]:
        """The learned sequences, unpacked (from then on, :meth:`to_bytes` packs them anew)."""
        if self._learned is None:
            self._learned = {
                sequence: (evidence, last) for sequence, evidence, last in _ENTRY.iter_unpack(self._packed)
            }
            self._packed = b""
        return self._learned

    @learned.setter
    def learned(self, value: dict[int, tuple[float, int]]) -> None:
        self._learned, self._packed = value, b""

    @property
    def has_learned(self) -> bool:
        return bool(self._packed) if self._learned is None else bool(self._learned)

    def evidence(self, sequence: int) -> float | None:
        """How well ``sequence`` is learned (None: not learned), without unpacking the rest."""
        if self._learned is not None:
            learned = self._learned.get(sequence)
            return None if learned is None else learned[0]
        key = _SEQUENCE.pack(sequence)
        at = self._packed.find(key)
        while at != -1:
            if at % _ENTRY.size == 0:
                return _ENTRY.unpack_from(self._packed, at)[1]
            at = self._packed.find(key, at + 1)
        return None

    @property
    def score(self) -> float:
        return self.unmatched / self.weighed if self.weighed > 0 else 0.0

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(self.unmatched, self.weighed, self.session, self.session_start_ms)
        if self._learned is None:
            return head + self._packed
        return head + b"".join(_ENTRY.pack(s, e, last) for s, (e, last) in self._learned.items())

    @classmethod
    def from_bytes(cls, data: bytes | None) -> "PatternState":
        if not data:
            return cls()
        entries = data[_HEADER.size :]
        if len(entries) % _ENTRY.size:
            raise ValueError(f"learned sequences of {len(entries)} bytes, not a multiple of {_ENTRY.size}")
        return cls(*_HEADER.unpack_from(data), packed=bytes(entries))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatternState) and self.to_bytes() == other.to_bytes()

    def __repr__(self) -> str:
        return (
            f"PatternState(unmatched={self.unmatched!r}, weighed={self.weighed!r}, session={self.session!r}, "
            f"session_start_ms={self.session_start_ms!r}, learned={self.learned!r})"
        )


class PatternMatch(NamedTuple):
    """One event's outcome: the user's pattern score after it, and what this event did that was unmatched."""

    score: float
    unmatched: tuple[int, ...] = ()  # sequence ids, highest IDF first
    has_profile: bool = False

    def unmatched_field(self, most: int = 3) -> str:
        """The ``most`` first unmatched sequence ids as the row field that carries them to the alert step.

        >>> PatternMatch(0.5, (7, 3, 9, 1)).unmatched_field()
        '7,3,9'
        >>> read_unmatched_field('7,3,9'), read_unmatched_field('')
        ([7, 3, 9], [])
        """
        return ",".join(map(str, self.unmatched[:most]))


def read_unmatched_field(text: str | None) -> list[int]:
    """The sequence ids that :meth:`PatternMatch.unmatched_field` wrote ("" or None: none)."""
    return [int(part) for part in (text or "").split(",") if part]


class PatternMatcher:
    """Scores and learns with one :class:`PatternStore`; per-user state is passed in, never kept here."""

    def __init__(self, store: PatternStore, settings: PatternSettings):
        self.store = store
        self.settings = settings
        self._alpha = 2.0 / (settings.recent_events + 1)
        self._decay_per_ms = math.log(2) / (settings.learn_half_life_days * DAY_MS)
        self.stranger_scale = StrangerScale.from_json(store.meta.get(STRANGER_SCALE_KEY))
        # the IDF threshold of each sequence sequences_ending_here gives, in its order (shortest first)
        self._thresholds = [
            idf_threshold_of_length(settings, n) for n in range(settings.min_length, settings.max_length + 1)
        ]

    @classmethod
    def open(cls, path: str | Path, settings: PatternSettings) -> "PatternMatcher":
        """A matcher on the store at ``path``, read as ``settings`` say; :class:`PatternStoreError` if it cannot be."""
        return cls(PatternStore.open(path, settings.profile_cache_sequences, settings.population_min_share), settings)

    def observe(self, user_id: str, window: bytes, ts_ms: int, state: PatternState) -> PatternMatch:
        """Score the event that ends ``window``, then learn from it if it looked normal (updates ``state``)."""
        s = self.settings
        tokens = window_tokens(window, last=s.max_length)
        if tokens and starts_visit(tokens[-1]):
            self._start_session(state, ts_ms)
        profile = self.store.profile(user_id)
        thin = 1.0 - (min(1.0, profile.events / s.min_profile_events) if profile else 0.0)
        sequences = sequences_ending_here(tokens, s.min_length, s.max_length)
        unmatched_mass, unmatched = 0.0, []
        for sequence, threshold in zip(sequences, self._thresholds):
            idf = self.store.idf(sequence)
            if idf < threshold:
                continue
            if self._matched(sequence, profile, state):
                continue
            weight = (1.0 - thin * self.store.is_common(sequence)) if thin else 1.0
            unmatched_mass += idf * weight
            if weight > 0:
                unmatched.append((idf, sequence))
        state.unmatched += self._alpha * (unmatched_mass - state.unmatched)
        state.weighed += self._alpha * (len(sequences) * self.store.unseen_idf - state.weighed)
        score = state.score
        if profile is None and self.stranger_scale is not None:
            score = self.stranger_scale.apply(score)
        if unmatched:
            unmatched.sort(reverse=True)
        match = PatternMatch(score, tuple(seq for _, seq in unmatched), profile is not None)
        if state.score < s.learn_max_score:
            self._learn(state, match.unmatched)
        return match

    def _matched(self, sequence: int, profile: UserProfile | None, state: PatternState) -> bool:
        if profile is not None and sequence in profile.sequences:
            return True
        evidence = state.evidence(sequence)
        return evidence is not None and evidence >= self.settings.learn_min_sessions

    def _start_session(self, state: PatternState, ts_ms: int) -> None:
        if state.session_start_ms >= 0 and state.has_learned:
            factor = math.exp(-self._decay_per_ms * max(0, ts_ms - state.session_start_ms))
            state.learned = {
                seq: (evidence * factor, last)
                for seq, (evidence, last) in state.learned.items()
                if evidence * factor >= 0.05
            }
        state.session += 1
        state.session_start_ms = ts_ms

    def _learn(self, state: PatternState, sequences: tuple[int, ...]) -> None:
        for sequence in sequences:
            evidence, last = state.learned.get(sequence, (0.0, -1))
            if last == state.session:
                continue  # at most once per session
            if sequence not in state.learned and len(state.learned) >= self.settings.learned_capacity:
                weakest = min(state.learned, key=lambda seq: state.learned[seq][0])
                if state.learned[weakest][0] > 1.0:
                    continue  # everything remembered is better supported than a first sighting
                del state.learned[weakest]
            state.learned[sequence] = (evidence + 1.0, state.session)
