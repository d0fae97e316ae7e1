"""Calibrating the ``new_account`` detector on real labelled purchases: tail shares among normal accounts.

:func:`fit_new_account` reads only the *normal* accounts of one half of Fraud_Data
(:mod:`shopguard.training.fraud_data`; the earlier half by signup time, so that the later half stays
for the report) and learns nothing from fraud or from this project's injectors:

- how soon normal accounts buy: the share whose purchase came at most ``t`` seconds after their signup,
  at the knots :data:`SECONDS_KNOTS`;
- how shared normal purchases' devices are: the share made on a device where at least ``k`` *other*
  accounts of the file signed up in the 24 h before the purchase, at the knots :data:`OTHERS_KNOTS`.

Shares are smoothed as ``(count + 1) / (accounts + 1)``, so a value no normal account showed is rare
in proportion to how many were seen, not infinitely rare. Sooner than the fastest normal account, the
share goes on falling as the fastest :data:`LOWER_TAIL_ACCOUNTS` normal accounts say it does
(:func:`lower_tail_log_share`: the share of normal accounts that bought within ``t`` seconds as a power of
``t``, its exponent estimated from them), down to one second, the resolution of the labelled times: a purchase
seconds after signup is rarer than one minutes after, although no normal account shows either.

:func:`with_new_account_hinge` gives the detector its place in a model's combiner as a fixed rule, not a
learned weight (the labelled data the combiner is fitted on is this project's own injectors): weight 0
and a hinge whose knee is at :data:`KNEE_DECADES` of rarity and whose weight makes :data:`CLEAR_DECADES`
cross the threshold whatever the other detectors say (their least favourable contribution), as the
rarity hinge of :mod:`shopguard.training.real_calibration` does. :func:`add_new_account` writes both into
a model folder; ``shopguard train`` and ``shopguard calibrate`` apply it.

    python -m shopguard.training.new_account_calibration --defaults   # rewrite udfs/shipped-tables/new_account.json
    python -m shopguard.training.new_account_calibration --model DIR  # DIR/new_account.json and its hinge

Example
-------
>>> from shopguard.training.fraud_data import Account
>>> normal = [Account(str(i), 0, (600 + 60 * i) * 1000, 1.0, f"D{i}", "", "", False) for i in range(99)]
>>> tables = fit_new_account(normal + [Account("x", 0, 0, 1.0, "D1", "", "", True)])
>>> tables.time_decades([0.0, 120.0]).round(2).tolist(), tables.shared_decades([0.0, 1.0]).round(2).tolist()
([3.95, 2.0], [0.0, 1.7])
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from shopguard.training.fraud_data import Account, read_fraud_data, split_by_signup
from shopguard.udfs.new_account import DAY_S, DETECTOR, NewAccountTables
from shopguard.udfs.score_combiner import COMBINER_FILE, Hinge, ScoreCombiner, transformed
from shopguard.udfs.shipped_tables import write_shipped_tables

SECONDS_KNOTS = (0, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600) + tuple(
    int(DAY_S) * d for d in (1, 2, 3, 7, 14, 30, 60, 90, 120, 180, 365)
)
OTHERS_KNOTS = (0, 1, 2, 3, 5, 10, 20)
LOWER_TAIL_ACCOUNTS = 20  # the fastest normal accounts the share below the fastest one is extrapolated from
KNEE_DECADES = 2.0  # rarer than one normal account's purchase in 100: the hinge starts to count
CLEAR_DECADES = 4.0  # rarer than one in 10,000 (buying within minutes of signup): alerts on its own
_LOGIT_BOUND = float(np.log((1 - 1e-7) / 1e-7))  # the combiner clips probabilities to [1e-7, 1 - 1e-7]
_LOG1P_BOUND = float(np.log1p(20.0))  # a count-like score (velocity rules) up to 20 over its level


def fit_new_account(accounts: list[Account], source: str = "") -> NewAccountTables:
    """The detector's tables from the normal accounts among ``accounts`` (see the module docstring)."""
    normal = [a for a in accounts if not a.fraud]
    n = len(normal)
    gaps = np.sort([(a.purchase_ms - a.signup_ms) / 1000.0 for a in normal])
    log_shares = [_log_share(gaps, t) for t in SECONDS_KNOTS]
    others = np.array(_other_new_accounts(accounts, normal), dtype=np.float64)
    tails = [float(np.log10(((others >= k).sum() + 1) / (n + 1))) if k else 0.0 for k in OTHERS_KNOTS]
    return NewAccountTables(
        tuple(float(t) for t in SECONDS_KNOTS),
        tuple(np.maximum.accumulate(log_shares).tolist()),
        tuple(float(k) for k in OTHERS_KNOTS),
        tuple(np.minimum.accumulate(tails).tolist()),
        source or f"{n:,} normal accounts",
    )


def _log_share(gaps: np.ndarray, seconds: float) -> float:
    """log10 share of normal accounts (sorted ``gaps``, seconds from signup to purchase) that bought within
    ``seconds``: counted and smoothed; sooner than the fastest of them, the lower tail's extrapolation if rarer."""
    counted = float(np.log10((np.searchsorted(gaps, seconds, side="right") + 1) / (len(gaps) + 1)))
    if len(gaps) and seconds < gaps[0]:
        return min(counted, lower_tail_log_share(gaps, seconds))
    return counted


def lower_tail_log_share(gaps: np.ndarray, seconds: float, accounts: int = LOWER_TAIL_ACCOUNTS) -> float:
    """log10 share of normal accounts that bought within ``seconds`` (below the ``accounts`` fastest ``gaps``),
    as the fastest ones say: ``share(t) = k / (n + 1) * (t / u) ** a``, with ``u`` the gap of the (k+1)-th fastest
    and the exponent ``a`` estimated from the k fastest by Hill's estimator, at most 1. An exponent of 1 is a
    density that stays flat down to zero (the share halves with the time); a larger one would claim that the
    density vanishes near zero, which the fastest accounts may suggest but cannot show, so it is not taken.
    Times are whole seconds in the labelled data, so ``seconds`` counts as at least one.

    >>> gaps = np.arange(100.0, 2200.0, 100.0)  # 21 accounts, evenly spread from 100 s to 2,100 s
    >>> [round(float(lower_tail_log_share(gaps, t) - np.log10(20 / 22)), 3) for t in (2100.0, 1050.0, 0.0)]
    [0.0, -0.301, -3.322]
    """
    ordered = np.sort(np.maximum(np.asarray(gaps, dtype=np.float64), 1.0))
    k = min(accounts, len(ordered) - 1)
    if k < 2:
        return 0.0 if not len(ordered) else float(np.log10(1.0 / (len(ordered) + 1)))
    u = ordered[k]
    spread = float(np.log(u / ordered[:k]).sum())
    exponent = min(k / spread, 1.0) if spread > 0 else 1.0
    t = max(float(seconds), 1.0)
    return float(np.log10(k / (len(ordered) + 1)) + exponent * np.log10(min(t, u) / u))


def _other_new_accounts(accounts: list[Account], purchases: list[Account]) -> list[int]:
    """For each of ``purchases``: other accounts of ``accounts`` that signed up on its device in the 24 h before it."""
    signups = defaultdict(list)
    for account in accounts:
        signups[account.device_id].append((account.signup_ms, account.user_id))
    for times in signups.values():
        times.sort()
    counts = []
    for buyer in purchases:
        times = signups[buyer.device_id]
        low = bisect.bisect_right(times, (buyer.purchase_ms - int(DAY_S * 1000), "\uffff"))
        high = bisect.bisect_right(times, (buyer.purchase_ms, "\uffff"))
        counts.append(sum(1 for _, user in times[low:high] if user != buyer.user_id))
    return counts


def _decades_logit(decades: float) -> float:
    """The combiner's scale (logit) of the score ``d / (1 + d)``: ``ln d``."""
    return float(transformed(np.array(decades / (1.0 + decades)), "logit"))


def _least_favourable_logit(combiner: ScoreCombiner) -> float:
    """The lowest logit every detector but new_account can give (scaled scores within their bounds)."""
    total = combiner.intercept
    hinges = {h.detector: h for h in combiner.hinges}
    for name, transform, weight in zip(combiner.detectors, combiner.transforms, combiner.weights):
        if name == DETECTOR:
            continue
        low, high = {"logit": (-_LOGIT_BOUND, _LOGIT_BOUND), "log1p": (0.0, _LOG1P_BOUND)}.get(transform, (0.0, 1.0))
        values = [low, high] + ([hinges[name].knee] if name in hinges and low < hinges[name].knee < high else [])
        total += min(weight * v + (hinges[name].term(np.array([v]))[0] if name in hinges else 0.0) for v in values)
    return float(total)


def with_new_account_hinge(combiner: ScoreCombiner) -> ScoreCombiner:
    """``combiner`` (and its fallback) with new_account as a fixed hinge (see the module docstring).

    >>> base = ScoreCombiner(("lstm",), ("logit",), (0.5,), -2.0, 0.9)
    >>> hinged = with_new_account_hinge(base)
    >>> at_clear = hinged.combine({"lstm": np.array([1e-9]), DETECTOR: np.array([CLEAR_DECADES / (1 + CLEAR_DECADES)])})
    >>> bool(at_clear[0] >= hinged.threshold), hinged.combine({"lstm": np.array([0.5])}).round(3).tolist()
    (True, [0.119])
    """
    plain = _without_new_account(combiner)
    knee, clear = _decades_logit(KNEE_DECADES), _decades_logit(CLEAR_DECADES)
    needed = float(np.log(plain.threshold / (1 - plain.threshold))) - _least_favourable_logit(plain)
    weight = max(needed, 0.0) / (clear - knee) * 1.01  # a margin for rounding
    fallback = with_new_account_hinge(plain.fallback) if plain.fallback is not None else None
    return dataclasses.replace(
        plain,
        detectors=plain.detectors + (DETECTOR,),
        transforms=plain.transforms + ("logit",),
        weights=plain.weights + (0.0,),
        hinges=plain.hinges + (Hinge(DETECTOR, knee, float(weight)),),
        fallback=fallback,
    )


def _without_new_account(combiner: ScoreCombiner) -> ScoreCombiner:
    if DETECTOR not in combiner.detectors:
        return combiner
    keep = [i for i, name in enumerate(combiner.detectors) if name != DETECTOR]
    return dataclasses.replace(
        combiner,
        detectors=tuple(combiner.detectors[i] for i in keep),
        transforms=tuple(combiner.transforms[i] for i in keep),
        weights=tuple(combiner.weights[i] for i in keep),
        hinges=tuple(h for h in combiner.hinges if h.detector != DETECTOR),
    )


def add_new_account(folder: str | Path, tables: NewAccountTables | None = None) -> dict:
    """Write ``new_account.json`` (``tables``; None: the shipped ones) into ``folder`` and the fixed hinge into
    its ``combiner.json`` (kept as it is otherwise); what was done, for the progress line."""
    from shopguard.udfs.new_account import tables_for

    folder = Path(folder)
    (tables or tables_for(None)).write(folder)
    combiner = ScoreCombiner.read(folder)
    if combiner is None or combiner.mode != "logistic":
        return {"new_account_json": True, "hinge": None}
    path = folder / COMBINER_FILE
    extra = {k: v for k, v in json.loads(path.read_text()).items() if k not in combiner.to_dict()}
    hinged = with_new_account_hinge(combiner)
    hinged.write(folder)
    path.write_text(json.dumps(json.loads(path.read_text()) | extra, indent=2) + "\n")
    hinge = next(h for h in hinged.hinges if h.detector == DETECTOR)
    return {"new_account_json": True, "hinge": {"knee": hinge.knee, "weight": hinge.weight}}


def fraud_data_tables(csv_path: str | Path) -> NewAccountTables:
    """Tables fitted on the normal accounts of Fraud_Data's earlier half by signup time."""
    earlier, _ = split_by_signup(read_fraud_data(csv_path).rows)
    return fit_new_account(
        earlier, f"Fraud_Data, earlier half by signup time: {sum(not a.fraud for a in earlier):,} normal accounts"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="calibrate the new_account detector on Fraud_Data's earlier half")
    parser.add_argument("--csv", default="../shared/data/fraud_data_subset.csv", help="the Fraud_Data file")
    parser.add_argument(
        "--defaults", action="store_true", help="rewrite the shipped tables (udfs/shipped-tables/new_account.json)"
    )
    parser.add_argument("--model", help="write new_account.json and the combiner's hinge into this model folder")
    args = parser.parse_args(argv)
    tables = fraud_data_tables(args.csv)
    if args.defaults:
        print(f"wrote {write_shipped_tables('new_account', tables.to_dict())} ({tables.source})")
    if args.model:
        print(f"{args.model}: {add_new_account(args.model, tables)} ({tables.source})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
