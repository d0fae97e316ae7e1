"""The ``rarity`` detector as the evaluation judges it: exactly the job's scoring of each event's profile.

Scores come from :meth:`shopguard.udfs.rarity.RarityTables.score`, the function the job's scoring step
runs, over the session bytes the job's keyed state holds after each event
(:attr:`~shopguard.training.encoded_traffic.EncodedTraffic.profiles`). The tables are calibrated on
real shoppers (:mod:`shopguard.training.rarity_calibration`), never on the labelled traffic: ``fit``
learns nothing.

Example
-------
>>> from shopguard.training.encoded_traffic import encode_traffic
>>> from shopguard.training.labelled_traffic import LabelledTraffic
>>> from shopguard.training.rarity_calibration import fit_rarity
>>> from shopguard.udfs.events import Event
>>> real = [Event(f"e{u}-{i}", f"u{u}", "page_view", 60_000 * (u + i), category_id=f"c{u % 3}") for u in range(50)
...         for i in range(1 + u % 3)]  # shoppers arriving a minute apart: the data follows them for 51 minutes
>>> crawler = [Event(f"x{i}", "x", "page_view", 90_000 * i, category_id=f"k{i}") for i in range(20)]
>>> detector = RarityDetector(fit_rarity([real]))
>>> scores = detector.score(encode_traffic(LabelledTraffic(real + crawler, []), 8))
>>> round(float(scores[:-20].max()), 3), bool(scores[-1] > 0.99)
(0.0, True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shopguard.errors import ShopguardError
from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.rarity import DETECTOR, RarityTables


class RarityDetector:
    """Population-relative rarity of each event's behaviour profile (see the module docstring)."""

    name = DETECTOR

    def __init__(self, tables: RarityTables, batch_size: int = 8192):
        self.tables = tables
        self.batch_size = batch_size

    @classmethod
    def for_folder(cls, folder: str | Path, fallback: RarityTables | None = None) -> "RarityDetector":
        """The tables of a model folder's ``rarity.json``, else ``fallback``."""
        tables = RarityTables.read(folder) or fallback
        if tables is None:
            raise ShopguardError(f"{Path(folder) / 'rarity.json'}: missing; calibrate it with `shopguard train`")
        return cls(tables)

    def fit(self, train: EncodedTraffic) -> "RarityDetector":
        return self  # calibrated on real shoppers, not on labelled traffic

    def score(self, traffic: EncodedTraffic) -> np.ndarray:
        if len(traffic.profiles) != len(traffic):
            raise ShopguardError(
                "the rarity detector needs each event's session bytes; encode the traffic with encode_traffic()"
            )
        parts = [
            self.tables.score(traffic.profiles[i : i + self.batch_size])
            for i in range(0, len(traffic), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)
