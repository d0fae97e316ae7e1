"""A labelled check on real traffic: the Taobao slice with abuse injected into a share of its users.

Writes ``EVENTS.jsonl`` (canonical events, one per line) and ``LABELS.json`` (``{"users": {user_id:
"normal" | {"type", "onset"}}}``) for ``shopguard evaluate --events EVENTS.jsonl --labels LABELS.json``:
every real shopper of the slice, and a share of them abused by :mod:`shopguard.training.anomalies`
(every family, blunt and subtle). The normal users are real; the abuse comes from this project's own
injectors, so figures on it are an upper bound for abuse of other origins.

    python -m shopguard.training.injected_taobao OUT_DIR [--share 0.01] [--seed 5] [--users N]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.training.behaviour_stats import by_user
from shopguard.training.evaluation_data import real_events
from shopguard.training.labelled_traffic import LabelledTraffic, mix_in_anomalies


def injected_taobao(cfg: ShopguardConfig, share: float, seed: int, users: int = 0) -> LabelledTraffic:
    """The slice's events (corrupt row left out), ``share`` of its users abused; ``users`` > 0 keeps that many."""
    events = real_events(cfg)
    if users:
        keep = set(np.random.default_rng(seed).permutation(sorted(by_user(events)))[:users])
        events = [e for e in events if e.user_id in keep]
    return mix_in_anomalies(events, share, seed)


def write_labelled(traffic: LabelledTraffic, out: Path) -> dict[str, int]:
    """``EVENTS.jsonl`` and ``LABELS.json`` under ``out``; returns how many users each family abused."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "EVENTS.jsonl").write_text("".join(e.to_json() + "\n" for e in traffic.events))
    labels: dict[str, object] = {e.user_id: "normal" for e in traffic.events}
    for label in traffic.labels:
        labels[label.user_id] = {"type": label.anomaly_type, "onset": label.onset_ms}
    (out / "LABELS.json").write_text(json.dumps({"users": labels}) + "\n")
    return dict(Counter(label.anomaly_type for label in traffic.labels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for EVENTS.jsonl and LABELS.json")
    parser.add_argument("--share", type=float, default=0.01, help="share of the slice's users abused")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--users", type=int, default=0, help="keep only this many users (0: all)")
    args = parser.parse_args(argv)
    traffic = injected_taobao(ShopguardConfig(), args.share, args.seed, args.users)
    families = write_labelled(traffic, args.out)
    print(f"{len(traffic.events):,} events, {len(traffic.labels)} users abused {families} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
