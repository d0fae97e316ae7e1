"""Mining every user's normal-behaviour pattern from their history, offline, into a pattern store.

1. Each user's history becomes a stream of behaviour tokens (the token of each event's own code, so
   the job's encoder decides what a token is), at most ``patterns.max_history_events`` newest events
   per user: a user with a huge history costs bounded memory and time.
2. The user's variable-length sequences (``min_length``..``max_length`` tokens) are counted.
3. Each sequence's document frequency across users gives its IDF. Sequences below the IDF threshold
   for their length are dropped from profiles (the job skips them anyway); the rest are ranked by
   count x IDF and the top ``max_profile_sequences`` kept.
4. Everything goes into ``patterns.sqlite`` (:mod:`shopguard.udfs.pattern_store`) next to the model.

Example
-------
>>> from shopguard.config import ConfigError, PatternSettings
>>> from shopguard.training.encoded_traffic import encode_traffic
>>> from shopguard.training.labelled_traffic import LabelledTraffic
>>> from shopguard.udfs.events import Event
>>> events = [Event(f"{u}-{i}", u, kind, 60_000 * i) for u, kind in (("a", "page_view"), ("b", "search"))
...           for i in range(5)]
>>> settings = PatternSettings(min_length=2, max_length=3, min_idf=(0.1,))
>>> mined = mine_patterns(encode_traffic(LabelledTraffic(events, []), 8), settings)
>>> mined.users, len(mined.document_frequency), {user: len(seqs) for user, _, seqs in mined.profiles}
(2, 8, {'a': 4, 'b': 4})
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shopguard.config import ConfigError, PatternSettings
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.behaviour_tokens import MAX_SEQUENCE_LENGTH, all_sequences, code_token
from shopguard.udfs.encoding import CODE_BYTES
from shopguard.udfs.pattern_matching import idf_threshold
from shopguard.udfs.pattern_store import PATTERNS_FILE, inverse_document_frequency, write_pattern_store


@dataclass
class MinedPatterns:
    users: int
    document_frequency: dict[int, int]  # sequence -> users performing it
    profiles: list[tuple[str, int, list[int]]]  # (user, events mined, kept sequences)

    def write(self, folder: str | Path, settings: PatternSettings) -> Path:
        meta = {"min_length": str(settings.min_length), "max_length": str(settings.max_length)}
        return write_pattern_store(
            Path(folder) / PATTERNS_FILE, self.users, self.document_frequency, self.profiles, meta
        )


def user_token_streams(traffic: EncodedTraffic, max_events: int) -> dict[str, list[int]]:
    """Each user's tokens in time order (the last code of each event's window is the event's own code)."""
    streams: dict[str, list[int]] = {}
    for user, window in zip(traffic.user_ids, traffic.windows):
        streams.setdefault(user, []).append(code_token(window[-CODE_BYTES:]))
    return {user: tokens[-max_events:] for user, tokens in streams.items()}


def mine_patterns(
    history: EncodedTraffic, settings: PatternSettings, progress: Callable[[str], None] = lambda line: None
) -> MinedPatterns:
    """Count, weigh by IDF and prune every user's sequences (``history`` holds normal behaviour only)."""
    _check(settings)
    streams = user_token_streams(history, settings.max_history_events)
    progress(
        f"mining sequences of {settings.min_length}..{settings.max_length} behaviour tokens "
        f"from {len(streams):,} users' histories"
    )
    counts = {
        user: Counter(all_sequences(tokens, settings.min_length, settings.max_length))
        for user, tokens in streams.items()
    }
    document_frequency: Counter[int] = Counter()
    for user_counts in counts.values():
        document_frequency.update(user_counts.keys())
    users = len(streams)
    kept = dict(document_frequency.most_common(settings.max_idf_sequences))
    profiles = [
        (user, len(streams[user]), _profile(user_counts, kept, users, settings)) for user, user_counts in counts.items()
    ]
    return MinedPatterns(users, kept, profiles)


def _profile(counts: Counter, document_frequency: dict[int, int], users: int, settings: PatternSettings) -> list[int]:
    ranked = []
    for sequence, count in counts.items():
        idf = inverse_document_frequency(users, document_frequency.get(sequence, 0))
        if idf >= idf_threshold(settings, sequence):
            ranked.append((count * idf, sequence))
    ranked.sort(reverse=True)
    return [sequence for _, sequence in ranked[: settings.max_profile_sequences]]


def _check(settings: PatternSettings) -> None:
    if not 1 <= settings.min_length <= settings.max_length <= MAX_SEQUENCE_LENGTH:
        raise ConfigError(
            f"patterns.min_length and patterns.max_length must satisfy 1 <= min <= max <= "
            f"{MAX_SEQUENCE_LENGTH}; got {settings.min_length} and {settings.max_length}"
        )
    if not settings.min_idf:
        raise ConfigError("patterns.min_idf needs one threshold per sequence length (or one for all)")
