"""Detectors for training and evaluation: one per module, each behind one small contract.

The contract (:class:`Detector`, in ``base.py``)::

    detector.name                     # its column in scores, combiners and alerts
    detector.fit(train) -> detector   # learn from encoded training traffic (some learn nothing)
    detector.score(traffic) -> array  # one finite score per event: higher is more abnormal

A fitted detector is plain data: it pickles and scores the same after. ``tests/unit/test_detectors.py``
runs one suite of checks over every module of this package.

==================== ============================ ==================
module               class                        ``name``
==================== ============================ ==================
``velocity_rules``   ``VelocityRules``            ``velocity_rules``
``onnx_sequence``    ``OnnxSequenceDetector``     ``lstm`` (or given)
``next_event``       ``NextEventDetector``        ``next_event``
``user_patterns``    ``UserPatternDetector``      ``user_patterns``
``rarity``           ``RarityDetector``           ``rarity``
``new_account``      ``NewAccountDetector``       ``new_account``
``isolation_forest`` ``IsolationForestDetector``  ``isolation_forest``
==================== ============================ ==================

Each detector is imported from its own module, so one detector's dependencies load only with it
(``next_event`` trains with torch; the others do not need it).

Example
-------
>>> from shopguard.training.detectors.velocity_rules import VelocityRules
>>> from shopguard.training.encoded_traffic import encode_traffic
>>> from shopguard.training.labelled_traffic import LabelledTraffic
>>> from shopguard.udfs.events import Event
>>> failures = [Event(f"e{i}", "u1", "payment_failed", 500 * i) for i in range(6)]
>>> traffic = encode_traffic(LabelledTraffic(failures, []), 8)
>>> detector: Detector = VelocityRules().fit(traffic)
>>> scores = detector.score(traffic)
>>> detector.name, scores.shape, bool(scores[-1] >= scores[0])
('velocity_rules', (6,), True)
"""

from shopguard.training.detectors.base import Detector

__all__ = ["Detector"]
