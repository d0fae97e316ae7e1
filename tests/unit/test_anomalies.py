"""Anomaly injectors: valid canonical events, exact labels, blunt and subtle strengths, reproducible."""

from collections import Counter

import numpy as np
import pytest

from shopguard.config import ValidationSettings
from shopguard.training.anomalies import ANOMALY_TYPES, INJECTORS, inject, inject_ring
from shopguard.training.labelled_traffic import mix_in_anomalies
from shopguard.udfs.events import Event, parse_event

T0 = 1_511_658_000_000


def normal_history(user="u1", n=6):
    return [
        Event(
            f"{user}-n{i}",
            user,
            "page_view",
            T0 + 90_000 * i,
            item_id=f"i{i}",
            category_id="c1",
            device_id=f"{user}-phone",
            ip="10.0.0.1",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("kind", ANOMALY_TYPES)
@pytest.mark.parametrize("subtle", [False, True])
def test_every_injected_event_is_a_valid_canonical_event_after_the_onset(kind, subtle):
    history = normal_history()
    onset = T0 + 600_000
    events, label = inject(INJECTORS[kind], history, onset, subtle, np.random.default_rng(4))
    injected = [e for e in events if e.event_id in set(label.event_ids)]
    assert injected and label.anomaly_type == kind and label.subtle is subtle and label.onset_ms == onset
    assert all(e.ts_ms > onset and e.user_id == label.user_id for e in injected)
    assert label.user_id == ("new-u1" if kind == "new_account_abuse" else "u1")
    assert [e for e in events if e.event_id not in set(label.event_ids)] == history
    for e in injected:
        assert parse_event(e.to_json(), ValidationSettings(), now_ms=T0 + 86_400_000) == e
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)


def test_a_subtle_bot_is_slower_and_shorter_than_a_blunt_one():
    def median_gap_and_count(subtle):
        events, label = inject(INJECTORS["bot"], normal_history(), T0 + 600_000, subtle, np.random.default_rng(1))
        times = [e.ts_ms for e in events if e.event_id in set(label.event_ids)]
        return np.median(np.diff(times)), len(times)

    (blunt_gap, _), (subtle_gap, _) = median_gap_and_count(False), median_gap_and_count(True)
    assert subtle_gap > 2 * blunt_gap


def test_blunt_card_testing_fails_more_payments_than_subtle():
    def failures(subtle):
        events, _ = inject(INJECTORS["card_testing"], normal_history(), T0 + 600_000, subtle, np.random.default_rng(2))
        return sum(e.event_type == "payment_failed" for e in events)

    assert failures(False) >= 6 > 4 >= failures(True) >= 2


def test_account_takeover_comes_from_a_new_device_and_buys_something_expensive():
    events, label = inject(
        INJECTORS["account_takeover"], normal_history(), T0 + 600_000, False, np.random.default_rng(3)
    )
    abuse = [e for e in events if e.event_id in set(label.event_ids)]
    assert abuse[0].event_type == "login_failed" and all(e.device_id != "u1-phone" for e in abuse)
    assert max(e.price or 0 for e in abuse if e.event_type == "purchase") >= 1500


def test_a_click_farming_ring_shares_one_device_and_the_same_items():
    histories = [normal_history(f"u{i}") for i in range(4)]
    events, labels = inject_ring(histories, T0 + 600_000, False, np.random.default_rng(5))
    abuse = [e for e in events if any(e.event_id in label.event_ids for label in labels)]
    assert len(labels) == 4 and len({e.device_id for e in abuse}) == 1
    bought = {
        u: {e.item_id for e in abuse if e.user_id == u and e.event_type == "purchase"}
        for u in {label.user_id for label in labels}
    }
    assert len({frozenset(items) for items in bought.values()}) == 1


def test_mixing_keeps_every_normal_event_labels_every_injected_one_and_is_reproducible():
    normal = [e for u in range(100) for e in normal_history(f"u{u}", n=3)]
    traffic = mix_in_anomalies(normal, abused_share=0.2, seed=8)
    assert traffic == mix_in_anomalies(normal, abused_share=0.2, seed=8)
    ids = {e.event_id for e in traffic.events}
    assert {e.event_id for e in normal} <= ids and len(ids) == len(traffic.events)
    assert len(traffic.labels) == 20 and len({label.user_id for label in traffic.labels}) == 20
    assert {label.anomaly_type for label in traffic.labels} == set(ANOMALY_TYPES)
    labelled = traffic.event_labels()
    assert sum(v is not None for v in labelled.values()) == sum(len(label.event_ids) for label in traffic.labels)
    assert all(labelled[e.event_id] is None for e in normal)


def abuse_of(kind, subtle, seed, history=None):
    events, label = inject(
        INJECTORS[kind], history or normal_history(), T0 + 600_000, subtle, np.random.default_rng(seed)
    )
    return [e for e in events if e.event_id in set(label.event_ids)]


@pytest.mark.parametrize("subtle", [False, True])
def test_a_slow_crawler_views_a_new_category_every_time_and_never_carts(subtle):
    for seed in range(5):
        abuse = abuse_of("slow_crawler", subtle, seed)
        categories = [e.category_id for e in abuse]
        assert {e.event_type for e in abuse} == {"page_view"} and len(set(categories)) == len(categories)
        assert "c1" not in categories and len(abuse) >= 15
        assert np.median(np.diff([e.ts_ms for e in abuse])) >= (15_000 if subtle else 4_000)


def test_paces_span_sub_second_to_minutes_across_families_and_draws():
    medians = [
        np.median(np.diff([e.ts_ms for e in abuse_of(kind, subtle, seed)]))
        for kind in ("bot", "scalping", "card_testing", "slow_crawler")
        for subtle in (False, True)
        for seed in range(6)
    ]
    assert min(medians) < 1_000 and max(medians) > 120_000


def test_a_category_scraper_stays_in_one_category_and_a_price_check_comes_back_to_the_same_items():
    blunt = abuse_of("category_scraper", False, 1)
    assert len({e.category_id for e in blunt}) == 1 and len({e.item_id for e in blunt}) == len(blunt) >= 40
    views = [e.item_id for e in abuse_of("category_scraper", True, 1) if e.event_type == "page_view"]
    assert len(views) >= 2 * len(set(views))


@pytest.mark.parametrize("subtle", [False, True])
def test_hoarders_cart_and_never_buy(subtle):
    abuse = abuse_of("inventory_hoarding", subtle, 3)
    kinds = [e.event_type for e in abuse]
    assert kinds.count("add_to_cart") >= 3 and "purchase" not in kinds and "checkout" not in kinds


@pytest.mark.parametrize("subtle", [False, True])
def test_new_account_abuse_is_a_fresh_account_that_signs_up_and_buys_within_minutes(subtle):
    history = normal_history()
    events, label = inject(INJECTORS["new_account_abuse"], history, T0 + 600_000, subtle, np.random.default_rng(2))
    account = [e for e in events if e.user_id == label.user_id]
    assert [e for e in events if e.user_id == "u1"] == history and [e.event_id for e in account] == list(
        label.event_ids
    )
    assert account[0].event_type == "signup" and account[0].device_id not in {e.device_id for e in history}
    assert account[0].item_id is None and "signup" not in [e.event_type for e in account[1:]]
    first_purchase = next(e for e in account if e.event_type == "purchase")
    assert first_purchase.ts_ms - account[0].ts_ms < 20 * 60_000


def test_review_and_refund_abuse_write_reviews_without_purchases_and_refunds_in_series():
    reviews = abuse_of("review_abuse", False, 5)
    assert sum(e.event_type == "review" for e in reviews) >= 5 and not any(e.event_type == "purchase" for e in reviews)
    refunds = abuse_of("refund_abuse", False, 5)
    assert sum(e.event_type == "refund_request" for e in refunds) >= 3
    subtle = abuse_of("refund_abuse", True, 5)
    bought = {e.item_id for e in subtle if e.event_type == "purchase"}
    assert bought and bought == {e.item_id for e in subtle if e.event_type == "refund_request"}


def test_review_abusers_give_one_extreme_rating_to_most_of_their_reviews():
    directions = set()
    for subtle in (False, True):
        for seed in range(12):
            ratings = [e.rating for e in abuse_of("review_abuse", subtle, seed) if e.event_type == "review"]
            assert set(ratings) <= {None, 1, 2, 3, 4, 5}
            top, count = Counter(ratings).most_common(1)[0]
            if not subtle:
                assert top in (1, 5) and count >= len(ratings) / 2, ratings
                directions.add(top)
    assert directions == {1, 5}, "some push an item up, some sink one"


def test_only_reviews_carry_ratings_in_every_injector():
    for kind in INJECTORS:
        for subtle in (False, True):
            assert all(e.rating is None for e in abuse_of(kind, subtle, 4) if e.event_type != "review"), kind
