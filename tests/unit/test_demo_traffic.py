"""Demo traffic: blunt abnormal users that the placeholder model must catch, mixed into real traffic."""

import random

from shopguard.local.demo_traffic import ABNORMAL_USERS, abnormal_users, demo_events
from shopguard.udfs.encoding import batch_features, encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.scoring import OnnxModel

T0 = 1_511_658_000_000


def test_every_kind_of_demo_abnormal_user_crosses_the_placeholder_threshold(tmp_path):
    model = OnnxModel.load(write_placeholder_model(tmp_path))
    for kind, make in ABNORMAL_USERS:
        events = make(f"demo-{kind}", T0, random.Random(3))
        peak = model.score(batch_features(encode_user_events(events, 32), 32)).max()
        assert peak >= model.card.threshold, kind


def test_abnormal_users_cycle_through_the_kinds_and_are_reproducible():
    first = abnormal_users(6, T0, 300_000, seed=7)
    assert first == abnormal_users(6, T0, 300_000, seed=7)
    assert len({e.user_id for e in first}) == 6
    assert {e.channel for e in first} == {"demo"}  # every demo event says where it came from
    assert all(T0 <= e.ts_ms for e in first)


def test_demo_events_are_in_time_order_with_implausible_times_sent_first():
    taobao = [
        Event("t1", "1", "page_view", T0 + 5000),
        Event("t2", "2", "purchase", 15_000),
        Event("t3", "3", "page_view", T0),
    ]
    mixed = demo_events(taobao, abnormal_count=2, seed=1)
    assert mixed[0].event_id == "t2"
    plausible = [e.ts_ms for e in mixed[1:]]
    assert plausible == sorted(plausible) and len(mixed) > 3
