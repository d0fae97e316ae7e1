"""The pattern matcher of the model version being served, as the keyed step loads and swaps it.

The pattern store ships inside a model version's folder, so the keyed step follows the same registry
manifest as the scoring step (a :class:`~shopguard.udfs.model_source.LiveModel` with this loader) and
both move to a new version within one poll interval. A version without a store, a store that cannot
be read, or ``patterns.enabled = false`` gives no matcher: the pattern score is then NaN and the
combiner decides with the other detectors (its fallback), so the job keeps running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shopguard.config import PatternSettings
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.pattern_matching import PatternMatcher
from shopguard.udfs.pattern_store import PATTERNS_FILE, PatternStoreError
from shopguard.udfs.scoring import ModelCard

log = logging.getLogger("shopguard.patterns")


@dataclass
class ServedPatterns:
    """One version's matcher, or ``None`` with the reason there is none."""

    card: ModelCard
    matcher: PatternMatcher | None
    problem: str = ""

    @classmethod
    def load(cls, source: ModelSource, version: str | None, settings: PatternSettings) -> "ServedPatterns":
        folder = source.servable_folder(version)
        card = ModelCard.read(folder / "card.json")
        if not settings.enabled:
            return cls(card, None, "patterns.enabled = false")
        try:
            return cls(card, PatternMatcher.open(folder / PATTERNS_FILE, settings))
        except PatternStoreError as exc:
            log.warning("shopguard: model %s is served without the pattern detector: %s", card.model_version, exc)
            return cls(card, None, str(exc))
