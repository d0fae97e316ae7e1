"""Where users' normal-behaviour patterns live: one SQLite file per model version, next to the model.

``patterns.sqlite`` holds how many users perform each behaviour sequence (the IDF table) and every
user's profile (the sequences of their own normal history that can tell them apart). SQLite because
it is a single file that versions and ships with ``model.onnx``, is read with no server, and answers
one user's profile from disk: profiles never have to fit in memory. The IDF table is loaded whole
(bounded by ``patterns.max_idf_sequences`` when mining); profiles are read on demand and kept in a
least-recently-used cache bounded by ``patterns.profile_cache_sequences``.

Example
-------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / PATTERNS_FILE
>>> _ = write_pattern_store(path, users=100, document_frequency={11: 90, 12: 1},
...                         profiles=[("u1", 40, [12])], meta={"min_length": "2"})
>>> store = PatternStore.open(path, cache_sequences=1000, population_min_share=0.5)
>>> round(store.idf(11), 3), round(store.idf(12), 3), round(store.idf(99), 3)
(0.104, 3.922, 4.615)
>>> store.is_common(11), store.profile("u1"), store.profile("stranger")
(True, UserProfile(events=40, sequences=frozenset({12})), None)
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from shopguard.errors import ShopguardError
from shopguard.udfs.behaviour_tokens import TOKEN_SPEC_VERSION

PATTERNS_FILE = "patterns.sqlite"
log = logging.getLogger("shopguard.patterns")


def inverse_document_frequency(users: int, performed_by: int) -> float:
    """ln((users + 1) / (users performing the sequence + 1)): high for sequences few users perform."""
    return math.log((users + 1) / (performed_by + 1))


class PatternStoreError(ShopguardError):
    """A pattern store that cannot be read; the job scores without the pattern detector."""


@dataclass(frozen=True)
class UserProfile:
    """A user's own normal sequences (already pruned by IDF) and how many events they were mined from."""

    events: int
    sequences: frozenset[int]


def write_pattern_store(
    path: str | Path,
    users: int,
    document_frequency: Mapping[int, int],
    profiles: Iterable[tuple[str, int, Sequence[int]]],
    meta: Mapping[str, str],
) -> Path:
    """Write a store atomically (a temporary file renamed into place)."""
    path = Path(path)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    with sqlite3.connect(temporary) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE sequences (id INTEGER PRIMARY KEY, users INTEGER NOT NULL)")
        db.execute("CREATE TABLE profiles (user_id TEXT PRIMARY KEY, events INTEGER NOT NULL, sequences BLOB NOT NULL)")
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("users", str(users)), ("token_spec_version", TOKEN_SPEC_VERSION), *meta.items()],
        )
        db.executemany("INSERT INTO sequences VALUES (?, ?)", document_frequency.items())
        db.executemany(
            "INSERT INTO profiles VALUES (?, ?, ?)",
            ((user, events, np.asarray(sorted(seqs), dtype="<i8").tobytes()) for user, events, seqs in profiles),
        )
    temporary.replace(path)
    return path


class PatternStore:
    """The read side the job and the evaluation use (open it in ``open()``, not in ``__init__``)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        meta: dict[str, str],
        idf: dict[int, float],
        common: frozenset[int],
        cache_sequences: int,
        path: Path,
    ):
        self._db = db
        self.meta = meta
        self.users = int(meta["users"])
        self._idf = idf
        self.unseen_idf = inverse_document_frequency(self.users, 0)  # the most a sequence can weigh
        self._common = common
        self._cache: OrderedDict[str, UserProfile | None] = OrderedDict()
        self._cached_sequences = 0
        self._cache_sequences = cache_sequences
        self.path = path

    @classmethod
    def open(cls, path: str | Path, cache_sequences: int, population_min_share: float) -> "PatternStore":
        """Open a store read-only; :class:`PatternStoreError` names the file and what is wrong with it."""
        path = Path(path)
        if not path.is_file():
            raise PatternStoreError(
                f"no pattern store at {path}: train one with `shopguard train` "
                f"(it writes {PATTERNS_FILE} next to model.onnx)"
            )
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if meta.get("token_spec_version") != TOKEN_SPEC_VERSION:
                raise PatternStoreError(
                    f"{path} was mined with tokens {meta.get('token_spec_version')!r}; "
                    f"this job reads {TOKEN_SPEC_VERSION!r}: mine it again with `shopguard train`"
                )
            users = int(meta["users"])
            idf, common = {}, []
            min_users = population_min_share * users
            for sequence, performed_by in db.execute("SELECT id, users FROM sequences"):
                idf[sequence] = inverse_document_frequency(users, performed_by)
                if performed_by >= min_users:
                    common.append(sequence)
        except (sqlite3.Error, KeyError, ValueError) as exc:
            raise PatternStoreError(f"cannot read the pattern store {path}: {exc}") from None
        return cls(db, meta, idf, frozenset(common), cache_sequences, path)

    def idf(self, sequence: int) -> float:
        """The sequence's :func:`inverse_document_frequency` (unseen sequences weigh the most)."""
        return self._idf.get(sequence, self.unseen_idf)

    def is_common(self, sequence: int) -> bool:
        """Performed by at least ``population_min_share`` of users: the population's normal behaviour."""
        return sequence in self._common

    def profile(self, user_id: str) -> UserProfile | None:
        """The user's profile, or None for a user the store does not know."""
        if user_id in self._cache:
            self._cache.move_to_end(user_id)
            return self._cache[user_id]
        row = self._db.execute("SELECT events, sequences FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        profile = None if row is None else UserProfile(int(row[0]), frozenset(np.frombuffer(row[1], "<i8").tolist()))
        self._remember(user_id, profile)
        return profile

    def close(self) -> None:
        self._db.close()

    def _remember(self, user_id: str, profile: UserProfile | None) -> None:
        self._cache[user_id] = profile
        self._cached_sequences += 1 + (len(profile.sequences) if profile else 0)
        while self._cached_sequences > self._cache_sequences and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cached_sequences -= 1 + (len(evicted.sequences) if evicted else 0)
