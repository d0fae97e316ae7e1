"""A risk team's own labels: which users were normal, which abused, how, and from when.

The file ``shopguard evaluate --labels`` reads is one JSON object::

    {"users": {"u1": "normal",
               "u2": "card_testing",
               "u3": {"type": "bot", "onset": "2017-11-26T01:00:00Z"},
               "u4": {"type": "scalping", "onset": 1511658000000}}}

A user is ``"normal"`` or has a type (any name the team uses), given alone or as an object with an
optional ``onset``: when the abuse began, RFC 3339 with an offset or epoch milliseconds, from which
the detection delay is measured. A file that does not say this is refused with the file and the
user named, never read halfway.

Example
-------
>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labels.json"
>>> _ = path.write_text(json.dumps({"users": {"u1": "normal", "u2": {"type": "bot", "onset": 1511658000000}}}))
>>> labels = read_labels(path)
>>> labels["u1"].abused, labels["u2"]
(False, UserLabel(anomaly_type='bot', onset_ms=1511658000000))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shopguard.errors import ShopguardError

NORMAL = "normal"
LABEL_KEYS = ("type", "onset")


class LabelsError(ShopguardError):
    """The labels file cannot be read as labels; the message names the file, the user and what is wrong."""


@dataclass(frozen=True)
class UserLabel:
    """One user's label: ``normal`` or an anomaly type, and when the abuse began (if known)."""

    anomaly_type: str
    onset_ms: int | None = None

    @property
    def abused(self) -> bool:
        return self.anomaly_type != NORMAL


def read_labels(path: str | Path) -> dict[str, UserLabel]:
    """Every user's label in ``path``; :class:`LabelsError` for a file that is not a labels file."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelsError(f"{path}: no such labels file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LabelsError(f"{path}: not a JSON labels file ({exc})") from None
    users = body.get("users") if isinstance(body, dict) else None
    if not isinstance(users, dict):
        raise LabelsError(f'{path}: expected one JSON object {{"users": {{user_id: "normal" | type, ...}}}}')
    if not users:
        raise LabelsError(f'{path}: "users" is empty: label at least one normal and one abused user')
    return {str(user): parse_label(value, f"{path}: user {user!r}") for user, value in users.items()}


def parse_label(value: object, where: str) -> UserLabel:
    """One user's entry: ``"normal"``, a type, or ``{"type": ..., "onset": ...}``; ``where`` prefixes errors.

    >>> parse_label({"type": "bot", "onset": "2017-11-26T01:00:00+08:00"}, "u1")
    UserLabel(anomaly_type='bot', onset_ms=1511629200000)
    >>> parse_label({"type": "normal", "onset": 5}, "labels.json: user 'u1'")
    Traceback (most recent call last):
    ...
    shopguard.training.user_labels.LabelsError: labels.json: user 'u1': a normal user has no onset; remove it
    """
    if isinstance(value, str):
        return UserLabel(_type_name(value, where))
    if not isinstance(value, dict):
        raise LabelsError(f'{where}: expected "normal", a type name or {{"type": ..., "onset": ...}}, got {value!r}')
    unknown = sorted(set(value) - set(LABEL_KEYS))
    if unknown:
        raise LabelsError(f"{where}: unknown key(s) {unknown}; a label has {' and '.join(LABEL_KEYS)}")
    if "type" not in value:
        raise LabelsError(f'{where}: no "type" ("normal" or the anomaly type)')
    kind = _type_name(value["type"], where)
    if "onset" not in value or value["onset"] is None:
        return UserLabel(kind)
    if kind == NORMAL:
        raise LabelsError(f"{where}: a normal user has no onset; remove it")
    return UserLabel(kind, epoch_ms(value["onset"], f"{where}: onset"))


def epoch_ms(value: object, where: str) -> int:
    """A time as epoch milliseconds: an integer, digits, or RFC 3339 with an offset (as events and alerts carry).

    >>> epoch_ms("2017-11-26T00:00:00Z", "u1"), epoch_ms("1511654400000", "u1")
    (1511654400000, 1511654400000)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    raise LabelsError(
        f"{where} {value!r} is neither epoch milliseconds nor RFC 3339 with an offset (2017-11-26T01:00:00Z)"
    )


def _type_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelsError(f'{where}: the type must be "normal" or a non-empty anomaly type name, got {value!r}')
    return value.strip()
