"""State per active entity: the bytes a device's or IP's keyed state takes, as the job stores it.

The entity steps (:mod:`shopguard.udfs.entity_streams`) keep per entity one string value, the sketch's
bytes read as Latin-1 (:class:`~shopguard.udfs.entity_sketch.EntitySketch`), which Flink's string
serializer writes as UTF-8 behind a length: a byte of 128 or more takes two. That stored size is what
this measures, for every entity after replaying a population through the job's own sketch
(:func:`~shopguard.training.entity_figures.replay_entities`): its mean and maximum per entity type, and
for entities that raised a ring alert the second value (the open alert and the accounts it names).

Populations: Fraud_Data's whole file (real device ids, numeric account ids), the rings evaluation's
simulated shoppers with rings woven in (devices and IPs), and one IP shared by 50,000 accounts with
UUID-long ids (the hot entity).

``python -m shopguard.bench.entity_state`` prints one JSON line per population.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Sequence

import numpy as np

from shopguard.config import ShopguardConfig, load_config
from shopguard.training.entity_figures import replay_entities
from shopguard.udfs.entity_sketch import MAX_STATE_BYTES, EntitySketch
from shopguard.udfs.entity_streams import ring_watch
from shopguard.udfs.events import Event

T0 = 1_600_000_000_000


def stored_bytes(sketch: EntitySketch) -> int:
    """Bytes of the value the job stores for ``sketch``: its bytes as a Latin-1 string, written as UTF-8, plus a
    4-byte length.

    >>> stored_bytes(EntitySketch()) - 4 >= len(EntitySketch().to_bytes())
    True
    """
    return len(sketch.to_bytes().decode("latin-1").encode("utf-8")) + 4


def entity_state(cfg: ShopguardConfig, events: Sequence[Event], name: str) -> dict:
    """Stored state per entity after ``events``, per entity type, with the ring records of ring entities."""
    watches = {t: ring_watch(t, cfg.entities, cfg.job) for t in ("device", "ip")}
    replay = replay_entities(events, watches)
    body: dict = {"population": name, "events": len(events), "max_state_bytes_bound": MAX_STATE_BYTES}
    for entity_type in ("device", "ip"):
        sizes = np.array([stored_bytes(s) for (t, _), s in replay.sketches.items() if t == entity_type])
        if len(sizes):
            body[entity_type] = {
                "entities": int(len(sizes)),
                "mean_bytes": round(float(sizes.mean()), 1),
                "p99_bytes": int(np.quantile(sizes, 0.99)),
                "max_bytes": int(sizes.max()),
                "over_1kb": int((sizes > 1024).sum()),
            }
    rings = _ring_record_bytes(replay.ring_alerts)
    if rings:
        body["ring_records"] = {
            "entities": len(rings),
            "mean_bytes": round(float(np.mean(rings)), 1),
            "max_bytes": max(rings),
        }
    return body


def _ring_record_bytes(alerts: list[dict]) -> list[int]:
    """The ring record's size per ring entity (its last alert: the open alert and the accounts named)."""
    from shopguard.udfs.cool_down import OpenAlert
    from shopguard.udfs.entity_rings import RingRecord

    last = {(a["entity_type"], a["entity"]): a for a in alerts}
    sizes = []
    for alert in last.values():
        open_alert = OpenAlert(
            alert["alert_id"], T0, T0, float(alert["score"]), alert["anomaly_type"], alert["revision"]
        )
        record = RingRecord(open_alert, tuple(alert["accounts"]))
        sizes.append(len(record.to_json().encode("utf-8")) + 4)
    return sizes


def hot_ip(users: int = 50_000) -> list[Event]:
    """``users`` accounts with UUID-long ids on one IP over three days, a few signing up or failing."""
    rng = np.random.default_rng(7)
    kinds = np.array(
        ["page_view"] * 80 + ["add_to_cart"] * 8 + ["purchase"] * 5 + ["login_failed"] * 2 + ["signup"] * 2
    )
    return [
        Event(
            f"e{n}",
            str(uuid.UUID(int=int(rng.integers(0, 2**63)))),
            str(kinds[int(rng.integers(0, len(kinds)))]),
            T0 + n * 3 * 86_400_000 // users,
            item_id=f"item-{int(rng.integers(0, 2000))}",
            ip="100.64.0.1",
        )
        for n in range(users)
    ]


def populations(cfg: ShopguardConfig) -> list[tuple[str, list[Event]]]:
    from shopguard.training.evaluation_rings import (
        RING_DAYS,
        RING_SEED,
        RING_SHOPPERS,
        SharingAssumptions,
        ring_traffic,
        share_like_people,
        simulated_shoppers,
    )
    from shopguard.training.fraud_data import events_in_time_order, read_fraud_data

    fraud = events_in_time_order(read_fraud_data(cfg.data.fraud_data_csv).rows)
    normal = simulated_shoppers(cfg, RING_SHOPPERS, RING_DAYS, RING_SEED)
    shared = share_like_people(normal, np.random.default_rng(RING_SEED), SharingAssumptions())
    rings = ring_traffic(shared, 20, RING_SEED + 1)[0]
    return [
        ("fraud_data whole file", fraud),
        ("rings evaluation traffic (simulated shoppers + 60 rings)", rings),
        ("one IP, 50,000 accounts with UUID ids", hot_ip()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    for name, events in populations(cfg):
        print(json.dumps(entity_state(cfg, events, name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
