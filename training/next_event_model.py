"""An unsupervised sequence detector in the style of DeepLog: how surprising is each user's next event?

Trained on normal users only (no labels needed, so it also meets abuse nobody has labelled yet), an
LSTM reads a user's events before the newest one and predicts the newest one's *token* — its event
type and how soon it came (first event, under 2 s, under a minute, later). The score of a window is
``1 - p(actual token)``: near 0 for what this population usually does next, near 1 for the unexpected.

The exported ONNX model reads the same ``[batch, L, features]`` window as every other model (the newest
event last) and returns ``score [batch, 1]``, so the job can serve it unchanged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.udfs.encoding import FEATURE_NAMES
from shopguard.udfs.events import EVENT_TYPES

GAP_GROUPS = 4  # first event, under 2 s, under a minute, a minute or more
TOKENS = len(EVENT_TYPES) * GAP_GROUPS
_GAP = FEATURE_NAMES.index("gap_bucket")
_FIRST = FEATURE_NAMES.index("first_event")


@dataclass
class NextEventConfig:
    features: int = len(FEATURE_NAMES)
    hidden: int = 64
    epochs: int = 4
    batch_size: int = 512
    learning_rate: float = 3e-3
    threads: int = 2
    seed: int = 0


def next_tokens(events: torch.Tensor) -> torch.Tensor:
    """Token of the newest event of each window: ``event type * GAP_GROUPS + gap group``."""
    newest = events[:, -1, :]
    kind = newest[:, : len(EVENT_TYPES)].argmax(dim=-1)
    gap_bucket = torch.round(newest[:, _GAP] * 15)
    group = torch.where(newest[:, _FIRST] > 0.5, 0, torch.where(gap_bucket < 4, 1, torch.where(gap_bucket < 8, 2, 3)))
    return kind * GAP_GROUPS + group


class NextEventPredictor(nn.Module):
    """``forward(events) -> logits over the newest event's token``, reading every event but the newest."""

    def __init__(self, config: NextEventConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.features, config.hidden, batch_first=True)
        self.head = nn.Linear(config.hidden, TOKENS)

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(events[:, :-1, :])
        return self.head(hidden[-1])


class SurpriseScore(nn.Module):
    """What is exported: ``score = 1 - p(newest event's token | the events before it)``."""

    def __init__(self, predictor: NextEventPredictor):
        super().__init__()
        self.predictor = predictor

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(self.predictor(events), dim=-1)
        actual = probabilities.gather(1, next_tokens(events).unsqueeze(-1))
        return 1.0 - actual


def train_next_event_model(
    train: EncodedTraffic, config: NextEventConfig, progress: Callable[[str], None] = print
) -> NextEventPredictor:
    """Fit on the windows of *normal* training users only."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    normal = train.subset(np.array([not t for t in train.user_types]))
    x = torch.from_numpy(normal.features())
    targets = next_tokens(x)
    model = NextEventPredictor(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(1, config.epochs + 1):
        started, total = time.monotonic(), 0.0
        for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
            loss = loss_fn(model(x[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        progress(
            f"next-event model epoch {epoch}/{config.epochs}: loss {total / max(len(x), 1):.4f} "
            f"on {len(x):,} normal windows ({time.monotonic() - started:.1f} s)"
        )
    return model.eval()


def next_event_checkpoint(model: NextEventPredictor) -> dict:
    return {"config": asdict(model.config), "state_dict": model.state_dict()}
