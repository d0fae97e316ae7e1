"""The LSTM: a sequence model over a user's last L encoded events, with two heads.

The binary head says how likely the user's recent behaviour is abuse; the type head says which kind
(``normal`` first, then :data:`~shopguard.training.anomalies.ANOMALY_TYPES`). Input is exactly what the
streaming job computes, ``batch_features(windows)``: ``float32 [batch, L, len(FEATURE_NAMES)]``,
left-padded so that the last step is the newest event. Like nanoGPT, the hyper-parameters are a
dataclass saved with every checkpoint, so a checkpoint rebuilds its own model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from shopguard.training.anomalies import ANOMALY_TYPES
from shopguard.udfs.encoding import FEATURE_NAMES

TYPE_CLASSES = ("normal", *ANOMALY_TYPES)


@dataclass
class SequenceModelConfig:
    features: int = len(FEATURE_NAMES)
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.0
    type_classes: int = len(TYPE_CLASSES)


class SequenceClassifier(nn.Module):
    """``forward(events) -> (abuse_logit [batch], type_logits [batch, classes])``."""

    def __init__(self, config: SequenceModelConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            config.features,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.abuse_head = nn.Linear(config.hidden, 1)
        self.type_head = nn.Linear(config.hidden, config.type_classes)

    def forward(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (hidden, _) = self.lstm(events)
        last = hidden[-1]
        return self.abuse_head(last).squeeze(-1), self.type_head(last)


class ServingModel(nn.Module):
    """What is exported to ONNX: probabilities, named as the job reads them (``score`` first)."""

    def __init__(self, classifier: SequenceClassifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        abuse_logit, type_logits = self.classifier(events)
        return torch.sigmoid(abuse_logit).unsqueeze(-1), torch.softmax(type_logits, dim=-1)
