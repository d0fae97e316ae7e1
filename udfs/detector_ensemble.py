"""One model version as the job serves it: the LSTM, its companions, and the combined decision.

A model folder always holds the LSTM (``model.onnx`` + ``card.json``). A folder made
by ``shopguard train`` also holds the unsupervised next-event model (``next-event/``), the users'
pattern store (``patterns.sqlite``, read by the keyed step, see :mod:`shopguard.udfs.pattern_matching`),
the ``rarity`` detector's tables calibrated on real shoppers (``rarity.json``, :mod:`shopguard.udfs.rarity`;
a folder without them serves without ``rarity``, whose score is then NaN), the ``entities`` detector's
population tables (``entities.json``, :mod:`shopguard.udfs.entities_detector`; without them its score is
NaN and it is off) and ``combiner.json``, which
turns every detector's score into one calibrated score and threshold (:mod:`shopguard.udfs.score_combiner`).
Without a combiner the LSTM's score is the decision, as with the placeholder model. Everything
loads and is checked together, and is swapped together.

Example
-------
>>> import tempfile
>>> from shopguard.udfs.placeholder_model import write_placeholder_model
>>> ensemble = DetectorEnsemble.load(write_placeholder_model(tempfile.mkdtemp(), "m1", threshold=0.9))
>>> ensemble.detectors, ensemble.threshold
(('lstm', 'velocity_rules'), 0.9)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from shopguard.udfs.alert_types import new_account_evidence
from shopguard.udfs.entities_detector import DETECTOR as ENTITIES
from shopguard.udfs.entities_detector import EntitiesRefused, EntityTables
from shopguard.udfs.new_account import DETECTOR as NEW_ACCOUNT
from shopguard.udfs.new_account import DEVICE_NEW_ACCOUNTS, NewAccountRefused, NewAccountTables, tables_for
from shopguard.udfs.rarity import DETECTOR as RARITY
from shopguard.udfs.rarity import RarityRefused, RarityTables
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS
from shopguard.udfs.score_combiner import PATTERN_DETECTOR, CombinerError, ScoreCombiner
from shopguard.udfs.scoring import ModelCard, ModelRefused, OnnxModel
from shopguard.udfs.velocity_rules import velocity_rule_scores

NEXT_EVENT_FOLDER = "next-event"
IP_NEW_ACCOUNTS = "ip_new_accounts_24h"


@dataclass(frozen=True)
class DetectorScores:
    """One batch's decision inputs and outcome, a value per row."""

    score: np.ndarray
    threshold: np.ndarray
    anomaly_type: list[str]
    lstm: np.ndarray
    next_event: np.ndarray  # NaN without a next-event model
    user_patterns: np.ndarray  # NaN when the pattern detector is off or has no store
    velocity_rules: np.ndarray
    rarity: np.ndarray  # NaN without rarity tables or profiles
    entities: np.ndarray  # NaN without entity tables, or for an event with neither a device nor an IP
    new_account: np.ndarray  # NaN without the events' types and seconds since signup


class DetectorEnsemble:
    """The LSTM with its optional next-event model and combiner (see the module docstring)."""

    def __init__(
        self,
        model: OnnxModel,
        next_event: OnnxModel | None,
        combiner: ScoreCombiner | None,
        rarity: RarityTables | None = None,
        entities: EntityTables | None = None,
        new_account: NewAccountTables | None = None,
    ):
        self.model = model
        self.next_event = next_event
        self.combiner = combiner
        self.rarity = rarity
        self.entities = entities
        self.new_account = new_account if new_account is not None else tables_for(None)

    @classmethod
    def load(cls, folder: str | Path, threads: int = 1) -> "DetectorEnsemble":
        """Load and check everything in ``folder``; :class:`ModelRefused` says what cannot be served."""
        folder = Path(folder)
        model = OnnxModel.load(folder, threads)
        next_event = (
            OnnxModel.load(folder / NEXT_EVENT_FOLDER, threads) if (folder / NEXT_EVENT_FOLDER).is_dir() else None
        )
        try:
            combiner = ScoreCombiner.read(folder)
            rarity = RarityTables.read(folder)
            entities = EntityTables.read(folder)
            new_account = tables_for(folder)
        except (CombinerError, RarityRefused, EntitiesRefused, NewAccountRefused) as exc:
            raise ModelRefused(str(exc)) from None
        ensemble = cls(model, next_event, combiner, rarity, entities, new_account)
        unknown = set(combiner.detectors if combiner else ()) - set(ensemble.available)
        if unknown:
            raise ModelRefused(
                f"{folder / 'combiner.json'} combines {sorted(unknown)}, which this model folder "
                f"does not serve (it has {list(ensemble.available)})"
            )
        return ensemble

    @property
    def card(self) -> ModelCard:
        return self.model.card

    @property
    def available(self) -> tuple[str, ...]:
        optional = (("next_event",) if self.next_event else ()) + (PATTERN_DETECTOR, "velocity_rules")
        return (
            ("lstm",)
            + optional
            + ((RARITY,) if self.rarity else ())
            + ((ENTITIES,) if self.entities else ())
            + (NEW_ACCOUNT,)
        )

    @property
    def detectors(self) -> tuple[str, ...]:
        """The detectors that decide: the combiner's, or the LSTM (with the rules beside it)."""
        return self.combiner.detectors if self.combiner else ("lstm", "velocity_rules")

    @property
    def threshold(self) -> float:
        return self.combiner.threshold if self.combiner else self.card.threshold

    def score(self, features: np.ndarray) -> np.ndarray:
        """The LSTM's scores alone (what occlusion explains)."""
        return self.model.score(features)

    def score_batch(
        self,
        features: np.ndarray,
        pattern_scores: np.ndarray,
        profiles: Sequence[bytes] | None = None,
        entity_figures: np.ndarray | None = None,
        new_account_inputs: tuple[Sequence[str], np.ndarray] | None = None,
    ) -> DetectorScores:
        """Every detector's score and the decision for a batch of windows, their users' pattern scores and
        behaviour profiles (the keyed step's session bytes; without them ``rarity`` is NaN) and the events'
        entity figures (columns of ``rows.ENTITY_FIGURE_FIELDS``; without them ``entities`` is NaN), and the
        events' types and seconds since signup (without them ``new_account`` is NaN)."""
        lstm, types = self.model.score_with_types(
            features, _new_account_seen(len(features), entity_figures, new_account_inputs)
        )
        lstm = lstm.astype(np.float64)
        next_event = (
            self.next_event.score(features).astype(np.float64) if self.next_event else np.full(len(features), np.nan)
        )
        rules = velocity_rule_scores(features)
        patterns = np.asarray(pattern_scores, dtype=np.float64)
        if self.rarity is not None and profiles is not None:
            rarity = self.rarity.score(profiles)
        else:
            rarity = np.full(len(features), np.nan)
        if self.entities is not None and entity_figures is not None:
            entities = self.entities.score(entity_figures)
        else:
            entities = np.full(len(features), np.nan)
        new_account = self._new_account(len(features), entity_figures, new_account_inputs)
        if self.combiner is None:
            score, threshold = lstm, np.full(len(features), float(self.card.threshold))
        else:
            by_name = {
                "lstm": lstm,
                "next_event": next_event,
                PATTERN_DETECTOR: patterns,
                "velocity_rules": rules,
                RARITY: rarity,
                ENTITIES: entities,
                NEW_ACCOUNT: new_account,
            }
            score = self.combiner.combine({name: by_name[name] for name in self.combiner.detectors})
            threshold = self.combiner.threshold_for(patterns, types)
        return DetectorScores(score, threshold, types, lstm, next_event, patterns, rules, rarity, entities, new_account)

    def _new_account(self, rows: int, entity_figures: np.ndarray | None, inputs) -> np.ndarray:
        """The ``new_account`` scores (NaN without the events' types and seconds since signup)."""
        if inputs is None:
            return np.full(rows, np.nan)
        event_types, seconds = inputs
        if entity_figures is None:
            device_new = np.full(rows, np.nan)
        else:
            device_new = entity_figures[:, ENTITY_FIGURE_FIELDS.index(DEVICE_NEW_ACCOUNTS)]
        return self.new_account.score(event_types, seconds, device_new)


def _new_account_seen(rows: int, entity_figures: np.ndarray | None, inputs) -> np.ndarray:
    """Per row, whether the job has evidence that the account is new (a signup in state, new accounts on the
    event's device or IP); without these inputs, none (the alert then names no ``new_account_abuse``)."""
    seconds = inputs[1] if inputs is not None else np.full(rows, np.nan)
    if entity_figures is None:
        device_new = ip_new = np.full(rows, np.nan)
    else:
        device_new = entity_figures[:, ENTITY_FIGURE_FIELDS.index(DEVICE_NEW_ACCOUNTS)]
        ip_new = entity_figures[:, ENTITY_FIGURE_FIELDS.index(IP_NEW_ACCOUNTS)]
    return new_account_evidence(seconds, device_new, ip_new)
