"""Fraud_Data as a whole, cross-fitted: each half judged by the replay whose fitted parts never saw it.

What the decision on Fraud_Data uses that is fitted on Fraud_Data itself is the ``new_account``
detector's tables (``new_account.json``: how soon normal accounts buy after signup, how many other new
accounts a device sees), fitted on the normal accounts of one half by signup time. The ``entities``
tables are fitted there too, but the shipped decision does not weigh ``entities``; the hinge that turns
``new_account`` into alerts (knee 2 decades, 4 decades cross) is fixed, not fitted; the rest (LSTM,
patterns, rarity, combiner, threshold) is fitted on simulated and Taobao traffic. So the whole file cannot
be reported from one replay, but it can be from two: ``shopguard evaluate --dataset fraud-data --half
later`` (shipped tables, fitted on the earlier half) and ``--half earlier`` (tables refitted on the later
half). Both replay every event of the file; :func:`cross_fitted` takes each account's scores and alerts
from the replay whose tables were fitted on the *other* half, and judges all accounts together
(:func:`~shopguard.training.labelled_replay.judge_replay`, the same figures and intervals).

Beside it, :func:`whole_file_baselines`: the issue's one-line rules over the whole file (they count every
account of a device, the future included), and the "both" lookup cross-fitted the same way.

``python -m shopguard.training.fraud_data_crossfit LATER_REPORT_DIR EARLIER_REPORT_DIR`` prints the
figures (the two ``--report-dir`` folders of those runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from shopguard.config import DataSettings
from shopguard.training.fraud_data import read_fraud_data, split_by_signup
from shopguard.training.fraud_data_baselines import _fitted_lookup, auc_figures, fraud_data_baselines
from shopguard.training.labelled_replay import ReplayOutput, judge_replay, read_replay_output
from shopguard.training.user_labels import read_labels

MIN_EVENTS = 1


def half_output(report_dir: str | Path) -> ReplayOutput:
    """What one ``--dataset fraud-data`` run's replay wrote (its ``fraud-data`` work folder under ``report_dir``)."""
    work = Path(report_dir) / "fraud-data"
    replay = work / "replay"
    return read_replay_output(work / "EVENTS.jsonl", replay / "scores.jsonl", replay / "alerts.jsonl")


def merged(outputs: dict[str, ReplayOutput], owner: dict[str, str]) -> ReplayOutput:
    """One output: each user's scores and alerts from ``outputs[owner[user]]``.

    >>> a = ReplayOutput({"u": 1, "v": 1}, {"u": [(1, 0.1)], "v": [(1, 0.2)]}, {}, ("m",))
    >>> b = ReplayOutput({"u": 1, "v": 1}, {"u": [(1, 0.9)], "v": [(1, 0.8)]}, {"v": [1]}, ("m2",))
    >>> out = merged({"a": a, "b": b}, {"u": "a", "v": "b"})
    >>> out.scores, out.alert_times, out.model_versions
    ({'u': [(1, 0.1)], 'v': [(1, 0.8)]}, {'v': [1]}, ('m', 'm2'))
    """
    first = next(iter(outputs.values()))
    pick = {user: outputs[half] for user, half in owner.items()}
    return ReplayOutput(
        dict(first.events_per_user),
        {user: list(out.scores.get(user, ())) for user, out in pick.items() if user in out.scores},
        {user: list(out.alert_times[user]) for user, out in pick.items() if out.alert_times.get(user)},
        tuple(sorted({v for out in outputs.values() for v in out.model_versions})),
    )


def cross_fitted(later_dir: str | Path, earlier_dir: str | Path) -> dict:
    """The whole file judged, each half by the replay not fitted on it (see the module docstring)."""
    work = {"later": Path(later_dir) / "fraud-data", "earlier": Path(earlier_dir) / "fraud-data"}
    labels = {
        "later": read_labels(work["later"] / "LABELS.json"),
        "earlier": read_labels(work["earlier"] / "EARLIER_LABELS.json"),
    }
    if set(labels["later"]) & set(labels["earlier"]):
        raise ValueError(f"{work}: the halves share accounts; give a --half later and a --half earlier run")
    owner = {user: half for half, half_labels in labels.items() for user in half_labels}
    output = merged({"later": half_output(later_dir), "earlier": half_output(earlier_dir)}, owner)
    result = judge_replay({**labels["later"], **labels["earlier"]}, output, MIN_EVENTS)
    result.pop("user_scores", None)
    result["halves"] = {half: len(half_labels) for half, half_labels in labels.items()}
    result["runs"] = {half: str(path) for half, path in (("later", later_dir), ("earlier", earlier_dir))}
    return result


def whole_file_baselines(csv_path: str | Path) -> list[dict]:
    """The one-line rules on every account, and the "both" lookup with each half looked up in the other's cells."""
    earlier, later = split_by_signup(read_fraud_data(csv_path).rows)
    rows = fraud_data_baselines([], earlier + later)[:3]
    on_device = Counter(a.device_id for a in earlier + later)
    lookup = np.concatenate([_fitted_lookup(later, on_device, earlier), _fitted_lookup(earlier, on_device, later)])
    abused = np.array([a.fraud for a in earlier + later], dtype=bool)
    return rows + [{"rule": "both, each half fitted on the other"} | auc_figures(abused, lookup)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("later_report_dir", help="--report-dir of shopguard evaluate --dataset fraud-data --half later")
    parser.add_argument("earlier_report_dir", help="--report-dir of the same with --half earlier")
    parser.add_argument("--csv", default=DataSettings().fraud_data_csv, help="Fraud_Data CSV (for the baselines)")
    args = parser.parse_args(argv)
    result = cross_fitted(args.later_report_dir, args.earlier_report_dir)
    body = {"halves": result["halves"], "overall": result["overall"], "false_alerts": len(result["false_alerts"])}
    print(json.dumps(body | {"baselines": whole_file_baselines(args.csv)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
