"""The ``new_account`` detector: buying within minutes of opening the account, on a device other new
accounts use.

An account opened to spend a stolen card buys at once; real customers mostly browse for days first. The
keyed step knows each event's ``seconds_since_signup`` (the user's signup time is in their state) and
the entity steps know how many accounts signed up on the event's device in the last 24 h
(``device_new_accounts_24h``, counting the event's own account). For an event
that spends (:data:`SPENDING`), two tail shares among *normal* accounts, read from tables calibrated on
real labelled purchases (:mod:`shopguard.training.new_account_calibration`; never on this project's
injected abuse) and saved as ``new_account.json`` in the model folder:

- how soon: the share of normal accounts whose purchase came at most this soon after their signup;
- how shared: the share of normal purchases made on a device where at least this many *other* new
  accounts signed up in the 24 h before (the event's own account is taken out when it signed up within
  those 24 h). This counts only for a purchase sooner than most normal accounts' (:data:`NEW_DECADES`):
  a busy device alone is the ``entities`` detector's business. The IP's figure is not used: the labelled
  purchases the tables are calibrated on carry no IP, and an IP (a carrier NAT, an office) is shared by
  honest crowds far more than a device, so a device's tail shares would over-flag it.

The evidence is their decades of rarity added (``-log10`` of each share; independence assumed), and the
score is ``d / (1 + d)`` for ``d`` decades, as the tail combiners write it: 0.5 is one normal account in
ten, 0.8 one in ten thousand. Rows that do not spend, or whose user's signup the job never saw, score 0
(nothing unusual seen). A model folder without ``new_account.json`` is served with the tables shipped
with the serving code (:data:`~shopguard.udfs.new_account_defaults.DEFAULT_TABLES`, fitted the same
way), so the detector, its score in the alert and its reasons are always there.

Example
-------
>>> tables = NewAccountTables((0.0, 120.0, 86400.0, 8.64e6), (-4.0, -3.0, -1.0, 0.0),
...                           (0.0, 1.0, 5.0), (0.0, -2.0, -4.0))
>>> scores = tables.score(["purchase", "purchase", "page_view", "purchase"], np.array([40.0, 40.0, 40.0, 4e6]),
...                       np.array([1.0, 6.0, 6.0, 1.0]))
>>> scores.round(3).tolist()
[0.786, 0.885, 0.0, 0.352]
>>> tables.reasons("purchase", 40.0, 6.0)[0]["text"]
'bought 40 s after opening the account, on a device 5 other new accounts used in the last 24 h'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from shopguard.errors import ShopguardError

DETECTOR = "new_account"
NEW_ACCOUNT_FILE = "new_account.json"
NEW_ACCOUNT_VERSION = 1
SPENDING = ("purchase", "checkout", "payment_failed")
"""The event types that spend: what an account opened to defraud does at once."""
NEW_DECADES = 1.0
"""Sharing counts only for a purchase sooner than (1 - 10^-NEW_DECADES) of normal accounts' purchases."""
REASON_DECADES = 2.0
"""A reason is written when the evidence is rarer than one normal account in 10^REASON_DECADES."""
DAY_S = 86400.0
DEVICE_NEW_ACCOUNTS = "device_new_accounts_24h"
"""The entity figure the detector reads: accounts that signed up on the event's device in 24 h (udfs/rows.py)."""


class NewAccountRefused(ShopguardError):
    """A ``new_account.json`` the job cannot use; the message names the file and what is wrong."""


@dataclass(frozen=True)
class NewAccountTables:
    """Tail shares among normal accounts (see the module docstring).

    ``seconds`` ascending knots of seconds since signup and ``log_shares`` the log10 share of normal
    accounts that bought at most that soon (ascending, the last 0); ``others`` ascending knots of other new
    accounts on the device or IP and ``others_log_tails`` the log10 share of normal purchases with at
    least that many (descending, the first 0).
    """

    seconds: tuple[float, ...]
    log_shares: tuple[float, ...]
    others: tuple[float, ...]
    others_log_tails: tuple[float, ...]
    source: str = ""

    def time_decades(self, seconds_since_signup: np.ndarray) -> np.ndarray:
        """Decades of rarity of buying this soon after signup; 0 for NaN (no signup seen)."""
        seconds = np.asarray(seconds_since_signup, dtype=np.float64)
        decades = -np.interp(np.where(np.isnan(seconds), np.inf, seconds), self.seconds, self.log_shares)
        return np.where(np.isnan(seconds), 0.0, np.maximum(decades, 0.0))

    def shared_decades(self, others: np.ndarray) -> np.ndarray:
        """Decades of rarity of this many other new accounts on the device; 0 for NaN (no device)."""
        others = np.asarray(others, dtype=np.float64)
        others = np.where(np.isnan(others), 0.0, others)
        return np.maximum(-np.interp(others, self.others, self.others_log_tails), 0.0)

    def decades(self, event_types: Sequence[str], seconds_since_signup, device_new_accounts) -> np.ndarray:
        """The evidence per row, in decades of rarity among normal accounts."""
        seconds = np.asarray(seconds_since_signup, dtype=np.float64)
        spends = np.isin(np.asarray(event_types, dtype=object), SPENDING)
        soon = self.time_decades(seconds)
        shared = np.where(
            soon >= NEW_DECADES, self.shared_decades(other_new_accounts(device_new_accounts, seconds)), 0.0
        )
        return np.where(spends, soon + shared, 0.0)

    def score(self, event_types: Sequence[str], seconds_since_signup, device_new_accounts) -> np.ndarray:
        """The detector's score per row: ``d / (1 + d)`` for ``d`` decades of rarity."""
        d = self.decades(event_types, seconds_since_signup, device_new_accounts)
        return d / (1.0 + d)

    def reasons(self, event_type: str, seconds_since_signup: float, device_new_accounts: float) -> list[dict[str, Any]]:
        """The event's new-account evidence in words, when it is rarer than :data:`REASON_DECADES` allow."""
        d = float(self.decades([event_type], [seconds_since_signup], [device_new_accounts])[0])
        if d < REASON_DECADES:
            return []
        text = f"{_verb(event_type)} {_duration(seconds_since_signup)} after opening the account"
        count = float(other_new_accounts(np.array([device_new_accounts]), np.array([seconds_since_signup]))[0])
        if count >= 1:
            text += f", on a device {count:.0f} other new account{'s' if count != 1 else ''} used in the last 24 h"
        return [
            {
                "feature": DETECTOR,
                "value": round(float(seconds_since_signup), 3),
                "suggests": "new_account_abuse",
                "text": text,
            }
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": NEW_ACCOUNT_VERSION,
            "source": self.source,
            "seconds": list(self.seconds),
            "log_shares": list(self.log_shares),
            "others": list(self.others),
            "others_log_tails": list(self.others_log_tails),
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any], where: str = NEW_ACCOUNT_FILE) -> "NewAccountTables":
        try:
            if body.get("version") != NEW_ACCOUNT_VERSION:
                raise ValueError(f"version {body.get('version')!r}, this job reads {NEW_ACCOUNT_VERSION}")
            tables = cls(
                tuple(map(float, body["seconds"])),
                tuple(map(float, body["log_shares"])),
                tuple(map(float, body["others"])),
                tuple(map(float, body["others_log_tails"])),
                str(body.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise NewAccountRefused(f"{where}: not new-account tables this job can use ({exc})") from None
        for knots, values in ((tables.seconds, tables.log_shares), (tables.others, tables.others_log_tails)):
            if len(knots) < 2 or len(knots) != len(values) or list(knots) != sorted(knots):
                raise NewAccountRefused(f"{where}: knots must be ascending, at least two, one value each")
        return tables

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / NEW_ACCOUNT_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def read(cls, folder: str | Path) -> "NewAccountTables | None":
        """The folder's ``new_account.json``, or None when it has none."""
        path = Path(folder) / NEW_ACCOUNT_FILE
        if not path.is_file():
            return None
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise NewAccountRefused(f"{path}: unreadable ({exc})") from None
        return cls.from_dict(body, str(path))


def other_new_accounts(new_accounts_24h, seconds_since_signup) -> np.ndarray:
    """Other accounts that signed up on the entity in the last 24 h: its figure (which counts the event's own
    account) less one when the user signed up within those 24 h; NaN where the event has no such entity.

    >>> other_new_accounts(np.array([3.0, 3.0, np.nan]), np.array([60.0, 3 * 86400.0, 60.0])).tolist()
    [2.0, 3.0, nan]
    """
    counts = np.asarray(new_accounts_24h, dtype=np.float64)
    own = (np.asarray(seconds_since_signup, dtype=np.float64) <= DAY_S).astype(np.float64)
    return np.maximum(counts - own, 0.0)


def tables_for(folder: str | Path | None) -> NewAccountTables:
    """The folder's tables, else the tables shipped with the serving code (a folder without its own still serves)."""
    from shopguard.udfs.new_account_defaults import DEFAULT_TABLES

    tables = NewAccountTables.read(folder) if folder is not None else None
    return tables if tables is not None else NewAccountTables.from_dict(DEFAULT_TABLES, "new_account_defaults.py")


def _verb(event_type: str) -> str:
    return {"checkout": "checked out", "payment_failed": "had a payment fail"}.get(event_type, "bought")


def _duration(seconds: float) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``3 days``.

    >>> [_duration(s) for s in (0.0, 40.0, 720.0, 18000.0, 259200.0)]
    ['0 s', '40 s', '12 min', '5 h', '3 days']
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / DAY_S:.0f} days"
