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
from dataclasses import dataclass
from pathlib import Path

from shopguard.errors import ShopguardError
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
        raise ShopguardError(f"{path}: Taobao data file not found; point demo.taobao_csv at "
                             "taobao_user_behavior_slice.csv (it lives in ../shared/data/)")
    events: list[Event] = []
    bad: list[BadRow] = []
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if len(row) != 5:
                bad.append(BadRow(str(path), line, f"expected 5 columns (user_id,item_id,category_id,behavior,ts), "
                                                   f"found {len(row)}"))
                continue
            user_id, item_id, category_id, behaviour, ts = row
            if behaviour not in TAOBAO_BEHAVIOURS:
                bad.append(BadRow(str(path), line, f"unknown behavior {behaviour!r} (expected pv, cart, fav or buy)"))
                continue
            if not ts.isdigit():
                bad.append(BadRow(str(path), line, f"ts {ts!r} is not epoch seconds"))
                continue
            events.append(Event(event_id=f"taobao-{line}", user_id=user_id, event_type=TAOBAO_BEHAVIOURS[behaviour],
                                ts_ms=int(ts) * 1000, item_id=item_id, category_id=category_id, channel="taobao"))
    return events, bad
