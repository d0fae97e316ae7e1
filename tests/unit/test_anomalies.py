"""Anomaly injectors: valid canonical events, exact labels, blunt and subtle strengths, reproducible."""

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
    assert all(e.ts_ms > onset and e.user_id == "u1" for e in injected)
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
