"""Time splits keep each user whole and put later users in later splits."""

from shopguard.training.anomalies import AnomalyLabel
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.splits import split_by_time
from shopguard.udfs.events import Event


def test_users_are_split_by_their_first_event_and_keep_all_their_events_and_labels():
    events = [Event(f"e{u}-{i}", f"u{u}", "page_view", 1000 * u + 10_000 * i) for u in range(10) for i in range(3)]
    labels = [AnomalyLabel("u9", "bot", False, 9000, ("e9-2",)), AnomalyLabel("u1", "bot", True, 1000, ("e1-1",))]
    parts = split_by_time(LabelledTraffic(events, labels), train_share=0.5, validation_share=0.3)
    users = {name: {e.user_id for e in part.events} for name, part in parts.items()}
    assert users == {"train": {f"u{i}" for i in range(5)}, "validation": {"u5", "u6", "u7"}, "test": {"u8", "u9"}}
    assert all(len([e for e in parts[n].events if e.user_id == u]) == 3 for n in users for u in users[n])
    assert [label.user_id for label in parts["test"].labels] == ["u9"]
    assert [label.user_id for label in parts["train"].labels] == ["u1"]
    first = {n: min(e.ts_ms for e in parts[n].events if e.event_id.endswith("-0")) for n in parts}
    assert first["train"] < first["validation"] < first["test"]
