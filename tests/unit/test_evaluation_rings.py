"""Ring families and their evaluation: rings share devices and IPs, the figures go through the job's code."""

from __future__ import annotations

import numpy as np

from shopguard.config import ShopguardConfig
from shopguard.training.anomalies import RATING_RING, RING_FAMILIES, inject_ring_family
from shopguard.training.evaluation_rings import (
    RATING_RINGS_FACTOR,
    SharingAssumptions,
    evaluate_rings,
    report_lines,
    seed_lines,
    share_like_people,
)
from shopguard.udfs.events import Event

T0 = 1_600_000_000_000


def shoppers(users: int) -> list[Event]:
    return [
        Event(
            f"u{n}-{k}",
            f"u{n}",
            "page_view",
            T0 + 3_600_000 * (n % 48) + 60_000 * k,
            item_id=f"i{k}",
            device_id=f"u{n}-phone",
            ip=f"10.0.{n // 250}.{n % 250}",
        )
        for n in range(users)
        for k in range(3)
    ]


def test_every_ring_family_puts_several_fresh_accounts_on_shared_devices_and_ips():
    rng = np.random.default_rng(4)
    for family in set(RING_FAMILIES) - {RATING_RING}:
        for _ in range(5):
            events, labels = inject_ring_family(family, T0, rng)
            accounts = {label.user_id for label in labels}
            assert 3 <= len(accounts) <= 40 and {label.anomaly_type for label in labels} == {family}
            by_device: dict[str, set] = {}
            for event in events:
                by_device.setdefault(event.device_id, set()).add(event.user_id)
            assert len({e.ip for e in events}) <= 3
            assert {e.event_id for e in events} == {i for label in labels for i in label.event_ids}


def test_a_rating_ring_gives_one_item_the_same_extreme_rating_buying_it_first_only_when_subtle():
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(40):
        events, labels = inject_ring_family(RATING_RING, T0, rng, items=["old-item"])
        reviews = [e for e in events if e.event_type == "review"]
        assert len(reviews) == len(labels) >= 3 and len({e.item_id for e in reviews}) == 1
        assert len({e.rating for e in reviews}) == 1 and reviews[0].rating in (1, 5)
        subtle = {label.subtle for label in labels}
        assert len(subtle) == 1 and any(e.event_type == "purchase" for e in events) == subtle.pop()
        assert len({e.device_id for e in events}) == len(labels)  # a device each: the item is what they share
        seen.add((reviews[0].rating, reviews[0].item_id == "old-item", labels[0].subtle))
    assert len(seen) == 8  # both ratings, fresh and existing items, with and without purchases


def test_sharing_like_people_moves_some_shoppers_onto_common_ips_and_devices():
    events = share_like_people(shoppers(1000), np.random.default_rng(0), SharingAssumptions())
    users_per_ip: dict[str, set] = {}
    for event in events:
        users_per_ip.setdefault(event.ip, set()).add(event.user_id)
    sizes = sorted(len(users) for users in users_per_ip.values())
    assert sizes[0] == 1 and sizes[-1] >= 30  # people alone, and carrier NATs
    assert any(e.device_id.startswith("family-tablet") for e in events)


def test_the_evaluation_reports_every_family_with_intervals_and_the_baseline():
    result = evaluate_rings(ShopguardConfig(), shoppers(600), rings_per_family=3, seed=1)
    assert set(result["families"]) == set(RING_FAMILIES)
    for family, figures in result["families"].items():
        assert figures["rings"] == 3 * (RATING_RINGS_FACTOR if family == RATING_RING else 1)
        assert 0.0 <= figures["ring_alert_coverage_mean"] <= 1.0
        assert figures["entities"]["interval"] is not None
        assert "recall_at_0.1pct_fpr" in figures["baseline_device_accounts_24h"]
    assert any(line.startswith("| fake_order_ring |") for line in report_lines(result))
    assert set(result["families"][RATING_RING]["item_alert"]) == {"blunt", "subtle"}
    assert result["normal_users_named_in_item_alerts"] == 0


def test_other_simulations_get_one_row_per_seed_and_family():
    results = [evaluate_rings(ShopguardConfig(), shoppers(300), rings_per_family=1, seed=seed) for seed in (3, 4)]
    rows = [line for line in seed_lines(results) if line.startswith("| 3 |") or line.startswith("| 4 |")]
    assert len(rows) == 2 * len(RING_FAMILIES)
    with_seeds = report_lines(results[0] | {"other_seeds": results[1:]})
    assert any(line.startswith("| 4 | click_farm_ring |") for line in with_seeds)
    assert not any(line.startswith("| 4 |") for line in report_lines(results[0]))
