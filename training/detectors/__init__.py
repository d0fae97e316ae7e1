"""Detectors behind one small contract (:class:`~shopguard.training.detectors.base.Detector`), one per module."""
