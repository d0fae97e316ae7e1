"""The contract every detector meets, so that one evaluation serves them all.

A detector learns from encoded training traffic (``fit``) and gives every event's window a score in
[0, 1] or any monotone scale (``score``): higher means more abnormal. Detectors are plain picklable
objects: the checks in ``tests/unit/test_detectors.py`` run against every one of them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shopguard.training.encoded_traffic import EncodedTraffic


class Detector(Protocol):
    name: str

    def fit(self, train: EncodedTraffic) -> "Detector": ...

    def score(self, traffic: EncodedTraffic) -> np.ndarray: ...
