"""Occlusion explanations: the events whose removal lowers the score are named, strongest first."""

from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.explanations import occlusion_contributions
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.scoring import OnnxModel

T0 = 1_511_658_000_000


def test_failed_payments_outweigh_page_views_in_a_card_tester_s_alert(tmp_path):
    model = OnnxModel.load(write_placeholder_model(tmp_path))
    events = [
        Event("v0", "u", "page_view", T0),
        Event("f1", "u", "payment_failed", T0 + 60_000, price=1.0),
        Event("v2", "u", "page_view", T0 + 120_000),
        Event("f3", "u", "payment_failed", T0 + 180_000, price=1.0),
    ]
    window = encode_user_events(events, 32)[-1]
    top = occlusion_contributions(model, window, [e.event_id for e in events], 32, top=2)
    assert [c["event_id"] for c in top] == ["f1", "f3"] or [c["event_id"] for c in top] == ["f3", "f1"]
    assert all(c["contribution"] > 0 for c in top)
    assert top[0]["event"].startswith("payment_failed")


def test_only_events_with_known_ids_are_occluded_and_an_empty_window_explains_nothing(tmp_path):
    model = OnnxModel.load(write_placeholder_model(tmp_path))
    events = [Event(f"f{i}", "u", "payment_failed", T0 + 1000 * i) for i in range(12)]
    top = occlusion_contributions(model, encode_user_events(events, 32)[-1], ["f10", "f11"], 32, top=5)
    assert sorted(c["event_id"] for c in top) == ["f10", "f11"]
    assert occlusion_contributions(model, b"", [], 32) == []
