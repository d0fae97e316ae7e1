"""One-line baselines for the Fraud_Data check, computed on the accounts it reports (not streaming).

What issue 21 measured with two rules over the whole file, here on the later half by signup time that
``shopguard evaluate --dataset fraud-data`` judges, each with bootstrap intervals over users:

- ``accounts on the same device``: how many accounts of the whole file used the account's device;
- ``purchase within 2 minutes of signup``: 1 if the purchase came at most 120 s after the signup, else 0;
- ``both``: the fast purchases first, then by accounts on the device;
- ``both, fitted on the other half``: the fitted half's share of fraud among accounts alike in these
  two signals (fast or not, and 1, 2, ... :data:`DEVICE_CAP` or more accounts on the device): what
  a supervised lookup of the same two signals reaches on the later half.

Example
-------
>>> from shopguard.training.fraud_data import Account
>>> def account(user, device, gap_s, fraud):
...     return Account(user, 0, gap_s * 1000, 1.0, device, "SEO", "IE", fraud)
>>> earlier = [account("a", "D1", 0, True), account("b", "D1", 60, True), account("c", "D2", 9000, False)]
>>> later = [account("d", "D3", 0, True), account("e", "D4", 9000, False), account("f", "D4", 9000, False)]
>>> rows = fraud_data_baselines(earlier, later)
>>> [(row["rule"], row["roc_auc"]) for row in rows][:2]
[('accounts on the same device', 0.0), ('purchase within 2 minutes of signup', 1.0)]
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from shopguard.training.detection_metrics import pr_auc_interval, roc_auc_interval
from shopguard.training.fraud_data import Account

FAST_PURCHASE_S = 120
DEVICE_CAP = 5  # accounts on a device: 1, 2, ..., 5 or more, for the fitted lookup


def fast_purchase(account: Account) -> bool:
    """Whether the purchase came within :data:`FAST_PURCHASE_S` seconds of the signup."""
    return account.purchase_ms - account.signup_ms <= FAST_PURCHASE_S * 1000


def fraud_data_baselines(earlier: list[Account], later: list[Account]) -> list[dict]:
    """Each baseline's ROC-AUC and PR-AUC on ``later``, with intervals (see the module docstring)."""
    on_device = Counter(a.device_id for a in earlier + later)
    devices = np.array([on_device[a.device_id] for a in later], dtype=np.float64)
    fast = np.array([fast_purchase(a) for a in later], dtype=np.float64)
    abused = np.array([a.fraud for a in later], dtype=bool)
    scores = {
        "accounts on the same device": devices,
        "purchase within 2 minutes of signup": fast,
        "both": fast * (devices.max(initial=0) + 1) + devices,
        "both, fitted on the other half": _fitted_lookup(earlier, on_device, later),
    }
    return [{"rule": name} | auc_figures(abused, score) for name, score in scores.items()]


def auc_figures(abused: np.ndarray, scores: np.ndarray) -> dict:
    """ROC-AUC and PR-AUC of ``scores`` with their bootstrap intervals (None without both kinds of user)."""
    both = abused.any() and not abused.all()
    return {
        "roc_auc": float(roc_auc_score(abused, scores)) if both else None,
        "roc_auc_interval": roc_auc_interval(abused, scores),
        "pr_auc": float(average_precision_score(abused, scores)) if both else None,
        "pr_auc_interval": pr_auc_interval(abused, scores),
    }


def _cell(account: Account, on_device: Counter) -> tuple[bool, int]:
    return fast_purchase(account), min(on_device[account.device_id], DEVICE_CAP)


def _fitted_lookup(earlier: list[Account], on_device: Counter, later: list[Account]) -> np.ndarray:
    """The earlier half's fraud share in each later account's cell (the earlier half's overall share
    for a cell it never saw)."""
    seen: Counter = Counter()
    frauds: Counter = Counter()
    for account in earlier:
        cell = _cell(account, on_device)
        seen[cell] += 1
        frauds[cell] += account.fraud
    overall = sum(frauds.values()) / max(len(earlier), 1)
    return np.array(
        [frauds[cell] / seen[cell] if seen[cell] else overall for cell in (_cell(a, on_device) for a in later)]
    )
