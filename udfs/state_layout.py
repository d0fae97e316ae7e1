"""The layout tag every keyed state value starts with, and what a step does with a value it cannot read.

The job keeps each key's state as one byte string (:class:`~shopguard.udfs.user_state.UserState` per user,
:class:`~shopguard.udfs.entity_sketch.EntitySketch` per device and IP, :class:`~shopguard.udfs.item_reviews.
ItemSketch` per item, :class:`~shopguard.udfs.churn_state.ChurnState` per user in the churn step). A savepoint
or checkpoint written by another shopguard version may hold bytes of another layout; read as this version's,
they would raise on every event of that key (the job restarting from the same checkpoint forever) or, worse,
be misread. So each kind's ``to_bytes`` starts with a 3-byte tag, :data:`MAGIC` and the kind's layout version
(:class:`StateLayout`), and its ``from_bytes`` checks it: a value without this version's tag, or whose body
does not decode, raises :class:`UnreadableState`. The keyed step reads its value through a
:class:`StateReader`, which turns that into a fresh state for the key, counts it in the metric
``state_reset_unreadable`` (label ``state``: the kind) and logs once per kind and process what happened.
An open alert's record, kept as JSON, has no tag (its fields name themselves); :class:`RecordReader` resets one
of another shape the same way.

Raise a kind's version whenever its ``to_bytes`` changes (``tests/unit/test_state_layout.py`` pins each
kind's bytes, so a change that forgets fails there). A kind whose body is still the layout the versions before
the tag wrote (``reads_untagged=True``: user, item and churn state) reads such an untagged value as it is, so
an upgrade from them keeps every key's state; a kind whose layout changed since (the entity sketch) resets
it. Set ``reads_untagged`` to False when a kind's body changes. The tag is ASCII, so it costs 3 bytes in Flink's
string state too; checking it is one 3-byte compare per read.

Example
-------
>>> layout = StateLayout("example", 1)
>>> data = layout.tag + b"body"
>>> data
b'sg\\x01body'
>>> layout.body(data)
b'body'
>>> layout.body(b"bytes of an older version")
Traceback (most recent call last):
...
shopguard.udfs.state_layout.UnreadableState: example not of layout 1, starts b'byt'
>>> reader = StateReader(layout, lambda data: layout.body(data) if data else b"")
>>> reader.read("sg\\x01kept"), reader.read(None), reader.read("bytes of an older version"), reader.resets.count
(b'kept', b'', b'', 1)
>>> StateLayout("example", 1, reads_untagged=True).body(b"bytes written before the tag")
b'bytes written before the tag'
>>> StateLayout("example", 1, reads_untagged=True).body(b"sg\\x02 another version")
Traceback (most recent call last):
...
shopguard.udfs.state_layout.UnreadableState: example not of layout 1, starts b'sg\\x02'

"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DECODE_ERRORS", "MAGIC", "RecordReader", "StateLayout", "StateReader", "UnreadableState"]

log = logging.getLogger("shopguard.state")

MAGIC = b"sg"
"""The first bytes of every tagged state value (no untagged layout of before starts with them but by chance:
the older values began with a time's low bytes, a length or ``ff ff``)."""

DECODE_ERRORS = (struct.error, ValueError, IndexError, KeyError, TypeError, OverflowError)
"""What decoding a damaged body may raise (UnicodeDecodeError is a ValueError); a ``from_bytes`` turns these into
:class:`UnreadableState`."""

T = TypeVar("T")

_LOGGED: set[str] = set()  # the kinds whose reset this process has logged


class UnreadableState(ValueError):
    """A stored value this version cannot read: another layout (tag missing or of another version) or damaged."""


class StateLayout:
    """One kind of state's layout version and its tag (:data:`MAGIC` + the version byte)."""

    __slots__ = ("kind", "version", "tag", "reads_untagged", "_size")

    def __init__(self, kind: str, version: int, reads_untagged: bool = False):
        if not 0 < version < 128:
            raise ValueError(f"layout version {version}: use 1..127 (one ASCII byte)")
        self.kind, self.version, self.reads_untagged = kind, version, reads_untagged
        self.tag = MAGIC + bytes([version])
        self._size = len(self.tag)

    def body(self, data: bytes) -> bytes:
        """``data`` without its tag; untagged bytes as they are when the body is still the layout written before
        the tag (``reads_untagged``); :class:`UnreadableState` otherwise."""
        if data[: self._size] == self.tag:
            return data[self._size :]
        if self.reads_untagged and data[: len(MAGIC)] != MAGIC:
            return data
        raise UnreadableState(f"{self.kind} not of layout {self.version}, starts {bytes(data[:3])!r}")

    def decode(self, data: bytes, decode_body: Callable[[bytes], T]) -> T:
        """``decode_body`` of ``data`` without its tag; :class:`UnreadableState` when the tag is not this layout's or
        the body fails to decode with one of :data:`DECODE_ERRORS`."""
        body = self.body(data)
        try:
            return decode_body(body)
        except DECODE_ERRORS as error:
            raise self.unreadable(error) from error

    def unreadable(self, error: Exception) -> UnreadableState:
        """The :class:`UnreadableState` for a tagged body that failed to decode with ``error``."""
        return UnreadableState(f"{self.kind} of layout {self.version} does not decode: {error!r}")


class _NoCounter:
    """Counts locally, for a reader used outside Flink (``open`` not called) and in tests."""

    def __init__(self):
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class StateReader(Generic[T]):
    """How a keyed step reads its stored value (a latin-1 string, one char per byte, or None): ``from_bytes``'s
    result, or a fresh state (``from_bytes(None)``) when the value is unreadable, counted and logged once per kind.

    ``open(metrics_group)`` registers the counter ``reset_unreadable`` in the key-value group ``state`` = kind:
    the ``state_reset_unreadable`` metric, labelled by kind.
    """

    def __init__(self, layout: StateLayout, from_bytes: Callable[[bytes | None], T]):
        self.kind = layout.kind
        self.from_bytes = from_bytes
        self.resets = _NoCounter()

    def open(self, metrics_group) -> None:
        self.resets = metrics_group.add_group("state", self.kind).counter("reset_unreadable")

    def read(self, stored: str | None) -> T:
        if not stored:
            return self.from_bytes(None)
        try:
            return self.from_bytes(stored.encode("latin-1"))
        except (UnreadableState, UnicodeEncodeError) as error:
            return self._reset(error)

    def _reset(self, error: Exception) -> T:
        """A fresh state in place of an unreadable one: counted, and logged the first time for this kind."""
        self.resets.inc()
        kind = self.kind
        if kind not in _LOGGED:
            _LOGGED.add(kind)
            log.warning(
                "%s: a stored %s value is unreadable (%s). It came from another shopguard version (a savepoint or "
                "checkpoint taken before an upgrade or after a downgrade): its key starts over with empty state, "
                "counted in the metric state_reset_unreadable{state=%s}; logged once per process. Nothing to do "
                "unless this keeps counting after the upgrade: then a writer of another version still runs.",
                kind,
                kind,
                error,
                kind,
            )
        return self.from_bytes(None)


class RecordReader(StateReader[T]):
    """A :class:`StateReader` for a keyed record kept as JSON text (an open alert's record): no tag, its fields name
    themselves, but a record of another shape (another shopguard version's fields) fails ``from_json`` and reads as
    a fresh one (``from_json(None)``), counted and logged like a byte state.

    >>> import json
    >>> reader = RecordReader("example_record", lambda text: json.loads(text)["n"] if text else 0)
    >>> reader.read('{"n": 3}'), reader.read('{"m": 3}'), reader.read("{not json"), reader.resets.count
    (3, 0, 0, 2)
    """

    def __init__(self, kind: str, from_json: Callable[[str | None], T]):
        self.kind = kind
        self.from_bytes = from_json  # read(None) and a reset call it with None, as for a byte state
        self.resets = _NoCounter()

    def read(self, stored: str | None) -> T:
        if not stored:
            return self.from_bytes(None)
        try:
            return self.from_bytes(stored)
        except DECODE_ERRORS as error:  # JSON errors are ValueErrors; a missing or unknown field a Key- or TypeError
            return self._reset(UnreadableState(f"{self.kind} does not decode: {error!r}"))
