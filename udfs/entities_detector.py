"""The ``entities`` detector: how unusual an event's device and IP sharing is, against the population.

Each event reaches scoring with its device's and its IP's figures across accounts
(:mod:`shopguard.udfs.entity_streams`). Sharing is normal up to a point (a family's tablet, a
household's router, a carrier NAT) and that point is learned, not guessed: :class:`EntityTables` holds,
per figure, where a value lies among the figures of a population of events (the share of them at least
as high, log10; the same :class:`~shopguard.udfs.score_combiner.TailTable` the label-free combiner
uses). The detector's score is ``d / (1 + d)`` for ``d`` decades of rarity of the rarest figure, times
the number of figures (Bonferroni): 0.5 is one event in ten, 0.75 one in a thousand. An event with
neither a device nor an IP scores NaN, as does every event of a model folder without ``entities.json``
(the detector is then off: not combined, not in the alert).

The tables are fitted by ``python -m shopguard.training.entity_population`` on figures computed by
the same sketch as the job's, in event-time order across users; the placeholder model ships the default
tables of :mod:`shopguard.udfs.entity_defaults`.

Example
-------
>>> tables = EntityTables.from_dict({"source": "example", "tails": [
...     {"detector": "device_accounts_24h", "scores": [0.69, 1.1, 1.6], "log_tails": [0.0, -2.0, -4.0]}]})
>>> figures = np.full((2, len(ENTITY_FIGURE_FIELDS)), np.nan)
>>> figures[0, ENTITY_FIGURE_FIELDS.index("device_accounts_24h")] = 7.0
>>> tables.score(figures).round(3).tolist()
[0.817, nan]
>>> tables.reasons(dict(zip(ENTITY_FIGURE_FIELDS, figures[0])))[0]["text"]
'this device: 7 accounts in 24 h, 0 of them new'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from shopguard.errors import ShopguardError
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS
from shopguard.udfs.score_combiner import TailTable

DETECTOR = "entities"
ENTITIES_FILE = "entities.json"
RARE_LOG_TAIL = -2.0
"""A figure at most one event in a hundred of the population reaches is named in the alert's reasons."""

_WORDS = {"device": "this device", "ip": "this IP address"}
_FIGURE_TEXT = {
    "accounts_1h": "{n} accounts in the last hour",
    "failed_payments_24h": "{n} failed payments in 24 h across its accounts",
    "failed_logins_24h": "{n} failed logins in 24 h across its accounts",
    "same_item_accounts_24h": "{n} accounts bought, carted or favorited this item in 24 h",
    "accounts_30d": "{n} accounts in 30 days",
}


class EntitiesRefused(ShopguardError):
    """An ``entities.json`` the job cannot use."""


@dataclass(frozen=True)
class EntityTables:
    """Population tail tables, one per entity figure column it scores (see the module docstring)."""

    tails: tuple[TailTable, ...]
    source: str = ""

    def score(self, figures: np.ndarray) -> np.ndarray:
        """One score per row of ``figures`` (columns in :data:`~shopguard.udfs.rows.ENTITY_FIGURE_FIELDS` order)."""
        figures = np.asarray(figures, dtype=np.float64).reshape(-1, len(ENTITY_FIGURE_FIELDS))
        log_tails = np.array(
            [t.log_tail(np.log1p(figures[:, ENTITY_FIGURE_FIELDS.index(t.detector)])) for t in self.tails]
        ).reshape(len(self.tails), len(figures))
        decades = np.maximum(-(log_tails.min(axis=0, initial=0.0) + math.log10(max(len(self.tails), 1))), 0.0)
        scores = decades / (1.0 + decades)
        scores[np.isnan(figures).all(axis=1)] = np.nan  # neither a device nor an IP: nothing to say
        return scores

    def reasons(self, figures: Mapping[str, float | None]) -> list[dict[str, Any]]:
        """The event's entity figures that are rare in the population, in words (no device id, no IP)."""
        reasons = []
        for entity, words in _WORDS.items():
            rare = [t for t in self.tails if t.detector.startswith(entity + "_") and self._rare(t, figures)]
            if not rare:
                continue
            accounts = _count(figures, f"{entity}_accounts_24h")
            new = _count(figures, f"{entity}_new_accounts_24h")
            reasons.append(
                {
                    "feature": f"{entity}_accounts_24h",
                    "value": accounts,
                    "text": f"{words}: {accounts} accounts in 24 h, {new} of them new",
                }
            )
            for table in rare:
                figure = table.detector[len(entity) + 1 :]
                if figure in _FIGURE_TEXT:
                    n = _count(figures, table.detector)
                    reasons.append(
                        {"feature": table.detector, "value": n, "text": f"{words}: {_FIGURE_TEXT[figure].format(n=n)}"}
                    )
        return reasons

    @staticmethod
    def _rare(table: TailTable, figures: Mapping[str, float | None]) -> bool:
        value = figures.get(table.detector)
        if value is None or not math.isfinite(value):
            return False
        return float(table.log_tail(np.array([math.log1p(value)]))[0]) <= RARE_LOG_TAIL

    @classmethod
    def default(cls) -> "EntityTables":
        """The tables shipped with the serving code (:mod:`shopguard.udfs.entity_defaults`)."""
        from shopguard.udfs.entity_defaults import DEFAULT_TABLES

        return cls.from_dict(DEFAULT_TABLES)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "tails": [t.to_dict() for t in self.tails]}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "EntityTables":
        tails = tuple(
            TailTable(str(t["detector"]), tuple(map(float, t["scores"])), tuple(map(float, t["log_tails"])))
            for t in body["tails"]
        )
        unknown = {t.detector for t in tails} - set(ENTITY_FIGURE_FIELDS)
        if unknown:
            raise ValueError(f"tables for {sorted(unknown)}, which are no entity figures ({ENTITY_FIGURE_FIELDS})")
        return cls(tails, str(body.get("source", "")))

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / ENTITIES_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def read(cls, folder: str | Path) -> "EntityTables | None":
        """The tables in a model folder, or None when it has none (the detector is then off)."""
        path = Path(folder) / ENTITIES_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise EntitiesRefused(
                f"{path}: not entity tables this job can use ({exc}); write them again with "
                "`python -m shopguard.training.entity_population`"
            ) from None


def _count(figures: Mapping[str, float | None], name: str) -> int:
    value = figures.get(name)
    return int(value) if value is not None and math.isfinite(value) else 0
