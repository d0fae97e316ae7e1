"""Loaders that map the real e-commerce data in ``../shared/data`` to canonical events.

Bad rows are reported with file and line, never crashed on and never silently dropped: each loader
returns the events it could read and a list of :class:`BadRow`.

Example
-------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "slice.csv"
>>> _ = path.write_text("1,10,100,pv,1511658000\\n1,11,100,buy,15\\n2,12,200,cart\\n")
>>> events, bad = read_taobao(path)
>>> [(e.user_id, e.event_type, e.ts_ms) for e in events]
[('1', 'page_view', 1511658000000), ('1', 'purchase', 15000)]
>>> bad[0].line, bad[0].problem
(3, 'expected 5 columns (user_id,item_id,category_id,behavior,ts), found 4')
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from shopguard.errors import ShopguardError
from shopguard.training.fraud_data import Account, fraud_events
from shopguard.udfs.events import Event

TAOBAO_BEHAVIOURS = {"pv": "page_view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}


@dataclass(frozen=True)
class BadRow:
    """A row a loader could not map: where it is and what is wrong with it."""

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def read_taobao(path: str | Path) -> tuple[list[Event], list[BadRow]]:
    """Taobao UserBehavior rows ``user_id,item_id,category_id,behavior,ts`` (epoch seconds, no header).

    Rows are mapped as they are, timestamps included: a corrupt timestamp such as the real ``ts=15``
    row stays in the output so that the job's validation (not the loader) decides about it.
    """
    path = Path(path)
    if not path.is_file():
        raise ShopguardError(
            f"{path}: Taobao data file not found; point data.taobao_csv at "
            "taobao_user_behavior_slice.csv (it lives in ../shared/data/)"
        )
    events: list[Event] = []
    bad: list[BadRow] = []
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if len(row) != 5:
                bad.append(
                    BadRow(
                        str(path),
                        line,
                        f"expected 5 columns (user_id,item_id,category_id,behavior,ts), found {len(row)}",
                    )
                )
                continue
            user_id, item_id, category_id, behaviour, ts = row
            if behaviour not in TAOBAO_BEHAVIOURS:
                bad.append(BadRow(str(path), line, f"unknown behavior {behaviour!r} (expected pv, cart, fav or buy)"))
                continue
            if not ts.isdigit():
                bad.append(BadRow(str(path), line, f"ts {ts!r} is not epoch seconds"))
                continue
            events.append(
                Event(
                    event_id=f"taobao-{line}",
                    user_id=user_id,
                    event_type=TAOBAO_BEHAVIOURS[behaviour],
                    ts_ms=int(ts) * 1000,
                    item_id=item_id,
                    category_id=category_id,
                    channel="taobao",
                )
            )
    return events, bad


@dataclass(frozen=True)
class ShopperSession:
    """One UCI Online Shoppers session (aggregates, not events) and whether it ended in a purchase."""

    product_pages: int
    product_page_time_s: float
    bounce_rate: float
    exit_rate: float
    page_value: float
    weekend: bool
    visitor_type: str
    made_purchase: bool


def read_fraud_data(path: str | Path) -> tuple[list[Event], dict[str, int], list[BadRow]]:
    """Fraud_Data purchases: a ``signup`` and a ``purchase`` per user, mapped as
    :func:`shopguard.training.fraud_data.fraud_events` maps them; labels ``class`` (1 = fraud).

    Times are US-style ``m/d/yy H:MM`` and read as UTC. The subset's last row is cut off: it comes back
    as a :class:`BadRow`, not as an event.
    """
    events: list[Event] = []
    labels: dict[str, int] = {}
    bad: list[BadRow] = []
    columns = ("user_id", "signup_time", "purchase_time", "purchase_value", "device_id", "source", "browser", "class")
    for line, row in _csv_rows(path, columns, bad):
        try:
            label = _label(row["class"], "class")
            signup, purchase = _us_minute_ms(row["signup_time"]), _us_minute_ms(row["purchase_time"])
            price = _price(row["purchase_value"])
        except ValueError as problem:
            bad.append(BadRow(str(path), line, str(problem)))
            continue
        user = row["user_id"]
        account = Account(user, signup, purchase, price, row["device_id"], row["source"], row["browser"], label == 1)
        events.extend(fraud_events(account))
        labels[user] = label
    return events, labels, bad


def read_talkingdata(path: str | Path) -> tuple[list[Event], dict[str, int], list[BadRow]]:
    """TalkingData ad clicks as ``page_view`` events of user ``ip-<ip>``; labels ``is_attributed`` per event.

    The file's first header field is corrupted to ``..ip``; it is read as ``ip``.
    """
    events: list[Event] = []
    labels: dict[str, int] = {}
    bad: list[BadRow] = []
    columns = ("ip", "app", "device", "os", "channel", "click_time", "is_attributed")
    for line, row in _csv_rows(path, columns, bad, rename={"..ip": "ip"}):
        try:
            ts = _iso_seconds_ms(row["click_time"])
            label = _label(row["is_attributed"], "is_attributed")
        except ValueError as problem:
            bad.append(BadRow(str(path), line, str(problem)))
            continue
        event_id = f"talkingdata-{line}"
        events.append(
            Event(
                event_id,
                f"ip-{row['ip']}",
                "page_view",
                ts,
                item_id=f"app-{row['app']}",
                device_id=f"{row['device']}-{row['os']}",
                channel=row["channel"],
            )
        )
        labels[event_id] = label
    return events, labels, bad


def read_diginetica(path: str | Path) -> tuple[list[Event], list[BadRow]]:
    """Diginetica item views as ``page_view`` events; anonymous sessions become users ``session-<id>``.

    Event time is the view's date (UTC midnight) plus ``timeframe`` milliseconds since the session start.
    """
    events: list[Event] = []
    bad: list[BadRow] = []
    columns = ("session_id", "user_id", "item_id", "timeframe", "eventdate")
    for line, row in _csv_rows(path, columns, bad, delimiter=";"):
        try:
            day = datetime.strptime(row["eventdate"], "%Y-%m-%d").replace(tzinfo=timezone.utc)
            offset = _non_negative_int(row["timeframe"], "timeframe")
        except ValueError as problem:
            bad.append(BadRow(str(path), line, str(problem)))
            continue
        user = row["user_id"] if row["user_id"] not in ("", "NA") else f"session-{row['session_id']}"
        events.append(
            Event(
                f"diginetica-{line}",
                user,
                "page_view",
                int(day.timestamp() * 1000) + offset,
                session_id=row["session_id"],
                item_id=row["item_id"],
                channel="diginetica",
            )
        )
    return events, bad


def read_online_shoppers(path: str | Path) -> tuple[list[ShopperSession], list[BadRow]]:
    """UCI Online Shoppers sessions with their purchase label."""
    sessions: list[ShopperSession] = []
    bad: list[BadRow] = []
    columns = (
        "ProductPagesViewed",
        "ProductPageTime",
        "AvgBounceRate",
        "AvgExitRate",
        "AvgPageValue",
        "IsWeekendVisit",
        "UserCategory",
        "MadePurchase",
    )
    for line, row in _csv_rows(path, columns, bad):
        try:
            sessions.append(
                ShopperSession(
                    product_pages=_non_negative_int(row["ProductPagesViewed"], "ProductPagesViewed"),
                    product_page_time_s=_finite(row["ProductPageTime"], "ProductPageTime"),
                    bounce_rate=_finite(row["AvgBounceRate"], "AvgBounceRate"),
                    exit_rate=_finite(row["AvgExitRate"], "AvgExitRate"),
                    page_value=_finite(row["AvgPageValue"], "AvgPageValue"),
                    weekend=_boolean(row["IsWeekendVisit"], "IsWeekendVisit"),
                    visitor_type=row["UserCategory"],
                    made_purchase=_boolean(row["MadePurchase"], "MadePurchase"),
                )
            )
        except ValueError as problem:
            bad.append(BadRow(str(path), line, str(problem)))
    return sessions, bad


def _csv_rows(
    path: str | Path,
    required: Sequence[str],
    bad: list[BadRow],
    delimiter: str = ",",
    rename: dict[str, str] | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for each well-formed data line; rows with the wrong number of fields go to ``bad``.

    A missing file, an empty file or a header without a required column is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ShopguardError(f"{path}: data file not found; the shared data lives in ../shared/data/")
    with path.open(newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise ShopguardError(f"{path}: the file is empty; expected a header with {', '.join(required)}")
        header = [(rename or {}).get(name.strip(), name.strip()) for name in header]
        missing = [name for name in required if name not in header]
        if missing:
            raise ShopguardError(
                f"{path}:1: the header lacks column {missing[0]!r} (it has {', '.join(header)}); "
                "is this the right file?"
            )
        for line, values in enumerate(reader, start=2):
            if len(values) != len(header):
                bad.append(BadRow(str(path), line, f"expected {len(header)} fields, found {len(values)}"))
                continue
            yield line, dict(zip(header, values))


def _label(value: str, name: str) -> int:
    if value not in ("0", "1"):
        raise ValueError(f"{name} is {value!r}, expected 0 or 1 (a cut-off row?)")
    return int(value)


def _utc_ms(value: str, pattern: str, shown: str) -> int:
    """``value`` read with the ``strptime`` ``pattern`` as UTC, in epoch ms; refused as not ``shown``."""
    try:
        moment = datetime.strptime(value, pattern).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"time {value!r} is not {shown}") from None
    return int(moment.timestamp() * 1000)


def _us_minute_ms(value: str) -> int:
    return _utc_ms(value, "%m/%d/%y %H:%M", "m/d/yy H:MM")


def _iso_seconds_ms(value: str) -> int:
    return _utc_ms(value, "%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:MM:SS")


def _finite(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} is {value!r}, not a finite number")
    return number


def _price(value: str) -> float:
    price = _finite(value, "price")
    if price < 0:
        raise ValueError(f"price {value!r} is negative")
    return price


def _non_negative_int(value: str, name: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{name} {value!r} is not a whole number >= 0")
    return int(value)


def _boolean(value: str, name: str) -> bool:
    if value.upper() not in ("TRUE", "FALSE"):
        raise ValueError(f"{name} is {value!r}, expected TRUE or FALSE")
    return value.upper() == "TRUE"
