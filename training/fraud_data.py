"""Fraud_Data as a labelled check: each purchase row becomes a ``signup`` and a ``purchase`` event.

``../shared/data/fraud_data_subset.csv`` (``data.fraud_data_csv``) holds one row per account: when it
signed up, when it made its one purchase, on which device, for how much, and ``class`` (1 = fraud).
:func:`fraud_events` turns a row into two canonical events of the user ``user_id``:

- ``signup`` at ``signup_time`` and ``purchase`` at ``purchase_time`` (the file's ``m/d/yy H:MM``, read
  as UTC, so to the minute: a purchase in the signup's minute is 0 s after it);
- ``device_id`` on both, as it is (the job pseudonymises it wherever it leaves);
- ``source`` (``SEO``, ``Ads``, ``Direct``) as ``channel`` and ``browser`` as ``user_agent``, on both;
- ``purchase_value`` as the purchase's ``price``, with ``quantity`` 1 and no item (the file names none);
- ``sex`` and ``age`` are not carried (the canonical event has no place for them), nor ``ip_address``,
  which this subset of the file dropped: no event has an ``ip``.

:func:`fraud_labels` labels each user ``normal`` or ``{"type": "fraud", "onset": signup}`` (the
account was opened to defraud, so an alert from its signup on is right), in the format of
``shopguard evaluate --labels`` (:mod:`shopguard.training.user_labels`).

:func:`split_by_signup` cuts the accounts in two by signup time: anything fitted on Fraud_Data is
fitted on the earlier half, and ``shopguard evaluate --dataset fraud-data`` judges only the later half.
The job replays every account's events in time order (the earlier half is history it has seen, as it
would have in production); only the later half's labels are given to the judge.

The file's last row is cut off (a real bad-input case): rows that cannot be read are skipped and
counted with their line numbers, never guessed at.

Example
-------
>>> import tempfile, pathlib
>>> csv = pathlib.Path(tempfile.mkdtemp()) / "fraud.csv"
>>> _ = csv.write_text("user_id,signup_time,purchase_time,purchase_value,device_id,source,browser,sex,age,class\\n"
...                    "7,1/1/15 18:52,1/1/15 18:52,15,DEV1,SEO,Opera,M,53,1\\n"
...                    "9,2/24/15 22:55,4/18/15 2:47,34,DEV2,Ads,Chrome,F,39,0\\n"
...                    "5,1/25/15 22:53,5/21/15 16:44,30,DEV3,Ads,FireFox,M,32,\\n")
>>> accounts = read_fraud_data(csv)
>>> [a.user_id for a in accounts.rows], accounts.skipped
(['7', '9'], {4: "class '' is not 0 or 1"})
>>> signup, purchase = fraud_events(accounts.rows[0])
>>> signup.event_type, purchase.event_type, purchase.ts_ms - signup.ts_ms, purchase.price, purchase.channel
('signup', 'purchase', 0, 15.0, 'SEO')
>>> fraud_labels(accounts.rows)["7"]
{'type': 'fraud', 'onset': 1420138320000}
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from shopguard.errors import ShopguardError
from shopguard.udfs.events import Event

DATASET = "fraud-data"
FRAUD = "fraud"
SIGNUP = "signup"
TIME_FORMAT = "%m/%d/%y %H:%M"
COLUMNS = ("user_id", "signup_time", "purchase_time", "purchase_value", "device_id", "source", "browser", "class")


@dataclass(frozen=True)
class Account:
    """One row of the file: an account, its signup and its one purchase."""

    user_id: str
    signup_ms: int
    purchase_ms: int
    value: float
    device_id: str
    source: str
    browser: str
    fraud: bool


@dataclass(frozen=True)
class FraudData:
    """The accounts read, and the lines skipped with why (line number: reason)."""

    rows: list[Account]
    skipped: dict[int, str]


def read_fraud_data(path: str | Path) -> FraudData:
    """Every readable row of the Fraud_Data file at ``path``; unreadable rows are skipped and named."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise ShopguardError(
            f"{path}: Fraud_Data file not found; point data.fraud_data_csv at fraud_data_subset.csv "
            "(see ../shared/data/README.md)"
        ) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
        if missing:
            raise ShopguardError(f"{path}: line 1 has no column(s) {missing}; is this the Fraud_Data file?")
        rows, skipped = [], {}
        for line, record in enumerate(reader, start=2):
            try:
                rows.append(_account(record))
            except ValueError as exc:
                skipped[line] = str(exc)
    return FraudData(rows, skipped)


def _account(record: dict) -> Account:
    label = (record.get("class") or "").strip()
    if label not in ("0", "1"):
        raise ValueError(f"class {label!r} is not 0 or 1")
    signup, purchase = _epoch_ms(record["signup_time"]), _epoch_ms(record["purchase_time"])
    if purchase < signup:
        raise ValueError("purchase_time is before signup_time")
    device = (record.get("device_id") or "").strip()
    if not device:
        raise ValueError("no device_id")
    return Account(
        user_id=str(record["user_id"]).strip(),
        signup_ms=signup,
        purchase_ms=purchase,
        value=float(record["purchase_value"]),
        device_id=device,
        source=(record.get("source") or "").strip(),
        browser=(record.get("browser") or "").strip(),
        fraud=label == "1",
    )


def _epoch_ms(text: str | None) -> int:
    """``m/d/yy H:MM`` read as UTC, in epoch milliseconds.

    >>> _epoch_ms("1/1/15 18:52")
    1420138320000
    """
    try:
        moment = datetime.strptime((text or "").strip(), TIME_FORMAT)
    except ValueError:
        raise ValueError(f"time {text!r} is not m/d/yy H:MM") from None
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


def fraud_events(account: Account) -> tuple[Event, Event]:
    """The account's ``signup`` and ``purchase`` events (see the module docstring for the mapping)."""
    shared = {
        "device_id": account.device_id,
        "channel": account.source or None,
        "user_agent": account.browser or None,
    }
    signup = Event(f"fd-{account.user_id}-signup", account.user_id, SIGNUP, account.signup_ms, **shared)
    purchase = Event(
        f"fd-{account.user_id}-purchase",
        account.user_id,
        "purchase",
        account.purchase_ms,
        price=account.value,
        quantity=1,
        **shared,
    )
    return signup, purchase


def events_in_time_order(accounts: list[Account]) -> list[Event]:
    """Every account's two events, by event time; at the same time a signup comes before a purchase.

    >>> a = Account("a", 120_000, 180_000, 1.0, "D", "SEO", "IE", False)
    >>> b = Account("b", 60_000, 120_000, 1.0, "D", "SEO", "IE", True)
    >>> [(e.user_id, e.event_type) for e in events_in_time_order([a, b])]
    [('b', 'signup'), ('a', 'signup'), ('b', 'purchase'), ('a', 'purchase')]
    """
    events = [event for account in accounts for event in fraud_events(account)]
    return sorted(events, key=lambda e: (e.ts_ms, e.event_type != SIGNUP, e.user_id))


def split_by_signup(accounts: list[Account]) -> tuple[list[Account], list[Account]]:
    """The earlier and the later half of the accounts by signup time (ties by user id, so it is stable).

    >>> rows = [Account(str(i), 1000 * (5 - i), 10_000, 1.0, "D", "", "", False) for i in range(5)]
    >>> [[a.user_id for a in half] for half in split_by_signup(rows)]
    [['4', '3'], ['2', '1', '0']]
    """
    ordered = sorted(accounts, key=lambda a: (a.signup_ms, a.user_id))
    middle = len(ordered) // 2
    return ordered[:middle], ordered[middle:]


def fraud_labels(accounts: list[Account]) -> dict[str, object]:
    """``{user_id: "normal" | {"type": "fraud", "onset": signup ms}}`` for ``accounts``."""
    return {a.user_id: {"type": FRAUD, "onset": a.signup_ms} if a.fraud else "normal" for a in accounts}


@dataclass(frozen=True)
class FraudDataFiles:
    """What :func:`write_fraud_data` wrote, and the accounts behind it."""

    events: Path
    labels: Path  # the later half: what is reported
    earlier_labels: Path  # the earlier half: what may be fitted on
    earlier: list[Account]
    later: list[Account]
    skipped: dict[int, str]


def write_fraud_data(csv_path: str | Path, out_dir: str | Path) -> FraudDataFiles:
    """``EVENTS.jsonl`` (every account, in time order), ``LABELS.json`` (the later half) and
    ``EARLIER_LABELS.json`` (the earlier half) under ``out_dir``."""
    data = read_fraud_data(csv_path)
    if not data.rows:
        raise ShopguardError(f"{csv_path}: no readable row (skipped: {dict(list(data.skipped.items())[:3])})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier, later = split_by_signup(data.rows)
    events = out / "EVENTS.jsonl"
    with events.open("w", encoding="utf-8") as lines:
        for event in events_in_time_order(data.rows):
            lines.write(event.to_json() + "\n")
    labels, earlier_labels = out / "LABELS.json", out / "EARLIER_LABELS.json"
    labels.write_text(json.dumps({"users": fraud_labels(later)}) + "\n")
    earlier_labels.write_text(json.dumps({"users": fraud_labels(earlier)}) + "\n")
    return FraudDataFiles(events, labels, earlier_labels, earlier, later, data.skipped)
