"""Training the LSTM on encoded, labelled traffic.

A window is labelled abuse when any of the user's last L events was injected abuse (the model sees
the whole window, so that is what it can know), and with the type of that abuse. Training shows
progress per epoch and keeps the epoch with the best validation PR-AUC.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from shopguard.training.encoded_traffic import EncodedTraffic
from shopguard.training.lstm_model import TYPE_CLASSES, SequenceClassifier, SequenceModelConfig


@dataclass
class TrainingRun:
    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 3e-3
    type_loss_weight: float = 0.5
    threads: int = 2
    seed: int = 0


def window_labels(traffic: EncodedTraffic) -> tuple[np.ndarray, np.ndarray]:
    """Per window: does it hold injected abuse, and the index in :data:`TYPE_CLASSES` of that abuse."""
    abuse = np.zeros(len(traffic), dtype=np.float32)
    kinds = np.zeros(len(traffic), dtype=np.int64)
    last_abuse, last_kind, user = -(10**9), 0, None
    for i in range(len(traffic)):
        if traffic.user_ids[i] != user:
            user, last_abuse, last_kind = traffic.user_ids[i], -(10**9), 0
        if traffic.event_types[i]:
            last_abuse, last_kind = i, TYPE_CLASSES.index(traffic.event_types[i])
        if i - last_abuse < traffic.history_length:
            abuse[i], kinds[i] = 1.0, last_kind
    return abuse, kinds


def train_sequence_model(
    train: EncodedTraffic,
    validation: EncodedTraffic,
    config: SequenceModelConfig,
    run: TrainingRun,
    progress: Callable[[str], None] = print,
) -> SequenceClassifier:
    """Train and return the epoch with the best validation PR-AUC (per window)."""
    torch.manual_seed(run.seed)
    torch.set_num_threads(run.threads)
    x = torch.from_numpy(train.features())
    abuse, kinds = (torch.from_numpy(a) for a in window_labels(train))
    x_val = torch.from_numpy(validation.features())
    abuse_val, _ = window_labels(validation)
    model = SequenceClassifier(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=run.learning_rate)
    positive_weight = ((len(abuse) - abuse.sum()) / abuse.sum().clamp(min=1.0)).clamp(max=20.0)
    bce, ce = nn.BCEWithLogitsLoss(pos_weight=positive_weight), nn.CrossEntropyLoss()
    best_state, best_pr_auc = None, -1.0
    generator = torch.Generator().manual_seed(run.seed)
    for epoch in range(1, run.epochs + 1):
        started, model_loss = time.monotonic(), 0.0
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(run.batch_size):
            logit, type_logits = model(x[batch])
            loss = bce(logit, abuse[batch]) + run.type_loss_weight * ce(type_logits, kinds[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            model_loss += loss.item() * len(batch)
        pr_auc = average_precision_score(abuse_val, predict_scores(model, x_val)) if abuse_val.any() else 0.0
        progress(
            f"epoch {epoch}/{run.epochs}: loss {model_loss / len(x):.4f}, validation PR-AUC {pr_auc:.4f} "
            f"({time.monotonic() - started:.1f} s)"
        )
        if pr_auc > best_pr_auc:
            best_pr_auc, best_state = pr_auc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval()


def predict_scores(model: SequenceClassifier, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """Abuse probabilities for ``x``, in batches, without gradients."""
    model.eval()
    with torch.no_grad():
        parts = [torch.sigmoid(model(chunk)[0]) for chunk in x.split(batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros(0)


def checkpoint(model: SequenceClassifier, run: TrainingRun) -> dict:
    """Weights with the config that rebuilds the model (saved with ``torch.save``)."""
    return {"config": asdict(model.config), "run": asdict(run), "state_dict": model.state_dict()}
