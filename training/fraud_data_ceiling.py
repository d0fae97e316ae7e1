"""How far anything can get on Fraud_Data: a gradient-boosted model on every column of the file.

Issue 21 asks the job for ROC-AUC ≥ 0.85 and PR-AUC ≥ 0.70 per user on Fraud_Data. Whether that is
reachable is a property of the file, not of the job, so this module measures a ceiling: a supervised
model with every column, more than the job can know when it decides.

- **Features** (:func:`ceiling_features`): seconds from signup to purchase; accounts on the device in the
  *whole file* (the future included, which the streaming job cannot know); purchase value; source,
  browser, sex and age (the job carries neither sex nor age); hour and weekday of the purchase and hour of
  the signup.
- **Model**: scikit-learn's ``HistGradientBoostingClassifier`` (300 rounds, learning rate 0.05, fixed seed).
- **Splits** (:func:`ceiling`):
  - ``later half, fitted on the earlier half``: the issue's own rule (fit on the earlier half by signup
    time, report the later half);
  - ``whole file, each half fitted on the other``: how the job's whole-file figure is cross-fitted
    (:mod:`shopguard.training.fraud_data_crossfit`);
  - ``whole file, 5 random folds``: time ignored, each account predicted by a model fitted on 80% of the
    others from every period: the most favourable set-up there is.

Each with 90% bootstrap intervals over accounts (:func:`~shopguard.training.fraud_data_baselines.auc_figures`).
``python -m shopguard.training.fraud_data_ceiling [--csv FILE]`` prints them as JSON.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> fraud = rng.random(400) < 0.2
>>> features = np.column_stack([np.where(fraud, 0.0, 1e6) + rng.random(400), rng.random(400)])
>>> scores = random_folds(features, fraud)
>>> bool(scores[fraud].min() > scores[~fraud].max())
True
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

from shopguard.config import DataSettings
from shopguard.training.fraud_data import Account, read_fraud_data, split_by_signup
from shopguard.training.fraud_data_baselines import auc_figures

SEED = 0
FEATURES = (
    "seconds_signup_to_purchase",
    "accounts_on_device_whole_file",
    "purchase_value",
    "source",
    "browser",
    "sex",
    "age",
    "purchase_hour",
    "purchase_weekday",
    "signup_hour",
)


def model() -> HistGradientBoostingClassifier:
    """The ceiling's model (fixed seed)."""
    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=SEED)


def person_columns(csv_path: str | Path) -> dict[str, tuple[str, float]]:
    """``user_id -> (sex, age)`` from the file (columns :class:`~shopguard.training.fraud_data.Account` leaves out)."""
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        return {
            str(row["user_id"]).strip(): ((row.get("sex") or "").strip(), _number(row.get("age")))
            for row in csv.DictReader(handle)
        }


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def ceiling_features(accounts: list[Account], persons: dict[str, tuple[str, float]]) -> np.ndarray:
    """One row of :data:`FEATURES` per account; categories as integer codes."""
    on_device = Counter(a.device_id for a in accounts)
    codes: dict[str, dict[str, int]] = {"source": {}, "browser": {}, "sex": {}}

    def code(kind: str, value: str) -> int:
        return codes[kind].setdefault(value, len(codes[kind]))

    rows = []
    for a in accounts:
        sex, age = persons.get(a.user_id, ("", float("nan")))
        bought, opened = _utc(a.purchase_ms), _utc(a.signup_ms)
        rows.append(
            (
                (a.purchase_ms - a.signup_ms) / 1000,
                on_device[a.device_id],
                a.value,
                code("source", a.source),
                code("browser", a.browser),
                code("sex", sex),
                age,
                bought.hour,
                bought.weekday(),
                opened.hour,
            )
        )
    return np.array(rows, dtype=np.float64)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def fitted_on(features: np.ndarray, fraud: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Fraud probabilities of the ``test`` rows from a model fitted on the ``train`` rows."""
    return model().fit(features[train], fraud[train]).predict_proba(features[test])[:, 1]


def random_folds(features: np.ndarray, fraud: np.ndarray, folds: int = 5) -> np.ndarray:
    """Each row's fraud probability from a model fitted on the other folds (stratified, shuffled)."""
    scores = np.zeros(len(fraud))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(features, fraud):
        scores[test] = fitted_on(features, fraud, train, test)
    return scores


def ceiling(csv_path: str | Path) -> list[dict]:
    """The ceiling's ROC-AUC and PR-AUC under each split (see the module docstring)."""
    earlier, later = split_by_signup(read_fraud_data(csv_path).rows)
    accounts = earlier + later
    features = ceiling_features(accounts, person_columns(csv_path))
    fraud = np.array([a.fraud for a in accounts], dtype=bool)
    first, second = np.arange(len(earlier)), np.arange(len(earlier), len(accounts))
    later_scores = fitted_on(features, fraud, first, second)
    crossed = np.concatenate([fitted_on(features, fraud, second, first), later_scores])
    return [
        {"split": "later half, fitted on the earlier half", "accounts": len(later)}
        | auc_figures(fraud[second], later_scores),
        {"split": "whole file, each half fitted on the other", "accounts": len(accounts)} | auc_figures(fraud, crossed),
        {"split": "whole file, 5 random folds", "accounts": len(accounts)}
        | auc_figures(fraud, random_folds(features, fraud)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=DataSettings().fraud_data_csv, help="Fraud_Data CSV (data.fraud_data_csv)")
    args = parser.parse_args(argv)
    print(json.dumps({"features": list(FEATURES), "ceiling": ceiling(args.csv)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
