"""Every stored state kind carries its layout tag; a value the running version cannot read restarts its key, counted.

A savepoint of another shopguard version may hold another layout: read as this one's, it would raise on every
event of the key (a crash loop from the same checkpoint) or be misread. These tests feed each kind, and each keyed
step that stores one, the previous (untagged) layout, another version's tag and garbage.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from shopguard.config import EntitySettings, ShopguardConfig
from shopguard.udfs import churn_state, entity_sketch, item_reviews, state_layout, user_state
from shopguard.udfs.churn_state import ChurnState
from shopguard.udfs.churn_step import WatchChurn, churn_fact
from shopguard.udfs.detection_rules import NOTHING as NO_RULES
from shopguard.udfs.encoding import UserHistory
from shopguard.udfs.entity_sketch import NO_FIGURES, EntitySketch
from shopguard.udfs.entity_streams import TrackEntity, entity_inputs
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.item_reviews import ItemSketch
from shopguard.udfs.item_step import TrackItem, item_fact
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.pattern_matching import PatternState
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import pack_scoring
from shopguard.udfs.session_features import SessionFeatures
from shopguard.udfs.state_layout import StateReader, UnreadableState
from shopguard.udfs.user_history import TrackUserHistory
from shopguard.udfs.user_state import UserState
from tests.unit.flink_fakes import Metrics, NamedStates

CFG = ShopguardConfig()
T0 = 1_600_000_000_000
LIMITS = dict(history_length=8, dedup_window=16, recent_ids=4)
RESETS = "state_reset_unreadable"


def full_user_state() -> UserState:
    state = UserState()
    kinds = ["signup", "page_view", "add_to_cart", "purchase", "review"]
    for n, kind in enumerate(kinds):
        event = Event(f"e{n}", "u1", kind, T0 + 60_000 * n, item_id="i1", device_id="d1", ip="10.0.0.1", price=9.5)
        state.accept(event, **LIMITS)
    state.patterns.learned[12345] = (1.5, 2)
    return state


def full_entity_sketch() -> EntitySketch:
    sketch = EntitySketch()
    for n in range(20):  # more accounts than it remembers: some evicted
        sketch.observe(f"acct-{n}", ["signup", "purchase", "payment_failed"][n % 3], T0 + 60_000 * n, f"i{n % 2}")
    return sketch


def full_item_sketch() -> ItemSketch:
    sketch = ItemSketch()
    for n in range(20):
        sketch.observe(f"acct-{n}", "purchase" if n % 4 == 0 else "review", T0 + 600_000 * n, 5 - n % 5)
    return sketch


def full_churn_state() -> ChurnState:
    return ChurnState(1, 2, 3, 4, 65535, 1.0, 2.0, 65535, 2**32 - 1, 2**32 - 1, 65535, 16, 3, 4, 7, 8, 9)


KINDS = {
    "user_state": (user_state.LAYOUT, UserState, full_user_state),
    "entity_sketch": (entity_sketch.LAYOUT, EntitySketch, full_entity_sketch),
    "item_sketch": (item_reviews.LAYOUT, ItemSketch, full_item_sketch),
    "churn_state": (churn_state.LAYOUT, ChurnState, full_churn_state),
}


def pinned_states() -> dict:
    """One state of each kind, every field set by hand (not by ``observe``): its bytes change with the layout only."""
    history = UserHistory(1_600_000_000_000, 11, 12, devices=(13, 14), ips=(15,), codes=bytes(range(8)))
    session = SessionFeatures(*range(1, 15), 0.5, 0.25, *range(17, 24))
    patterns = PatternState(0.5, 0.75, 3, 1_600_000_000_000, {99: (1.5, 2)})
    return {
        "user_state": UserState(history, bytes(range(16)), ["e1", "\u00e92"], session, patterns, 1_599_999_999_000),
        "entity_sketch": EntitySketch(
            1_600_000_000,
            1_599_999_000,
            [0, 0, 0],
            [1.0, 2.0, 3.0],
            [bytearray(range(48)) for _ in range(3)],
            [1, 2, 3, 4, 5, 6],
            ["a1", "a\u00e92"],
            [10, 11],
            [20, 21],
            [1, 6],
            [0x21, 0],
            [7, 8],
            [0, 9],
        ),
        "item_sketch": ItemSketch(
            1_600_000_000,
            1_599_000_000,
            3,
            4,
            5,
            [0.5] * 10,
            list(range(33)),
            bytearray(range(128)),
            ["a1", "a2"],
            [1, 2],
            [5, 1],
            [1, 0],
        ),
        "churn_state": full_churn_state(),
    }


PINNED = {
    "user_state": (1, "62ba4ee6ad8e553f"),
    "entity_sketch": (1, "4b2d15f4af6ed38a"),
    "item_sketch": (1, "a7a9cb74ce74e513"),
    "churn_state": (1, "7db7178bdf5de803"),
}
"""Each kind's layout version and the sha256 (first 16 hex digits) of its pinned state's bytes at that version."""


def unreadable_values(good: bytes, kind: str) -> dict[str, bytes]:
    """Values this version cannot read, from a good one: the previous layout (the same bytes without the tag, as the
    versions before the tag wrote them) for a kind whose body changed since, another version's tag, a cut value,
    and garbage."""
    rng = random.Random(7)
    previous = {} if KINDS[kind][0].reads_untagged else {"previous layout": good[3:]}
    return {
        **previous,
        "another version": good[:2] + bytes([good[2] + 1]) + good[3:],
        "cut short": good[: len(good) // 2] if len(good) > 8 else good[:4],
        "garbage": bytes(rng.randrange(256) for _ in range(300)),
        "one byte": b"\x00",
    }


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    monkeypatch.setattr(state_layout, "_LOGGED", set())  # every test sees each kind's first reset logged


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_starts_with_its_tag_and_round_trips(kind):
    layout, cls, full = KINDS[kind]
    for state in (cls(), full()):
        data = state.to_bytes()
        assert data.startswith(state_layout.MAGIC + bytes([layout.version])) and layout.kind == kind
        restored = cls.from_bytes(data.decode("latin-1").encode("latin-1"))  # as Flink keeps it, a latin-1 string
        assert restored.to_bytes() == data


@pytest.mark.parametrize("kind", KINDS)
def test_a_layout_change_raises_the_kinds_version(kind):
    layout, cls, _ = KINDS[kind]
    data = pinned_states()[kind].to_bytes()
    assert cls.from_bytes(data).to_bytes() == data
    digest = hashlib.sha256(data).hexdigest()[:16]
    assert (layout.version, digest) == PINNED[kind], (
        f"{kind}'s bytes changed: raise its LAYOUT version (so that states of the old layout are reset and counted, "
        f"not misread), then pin ({layout.version}, {digest!r}) here"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_of_another_layout_or_garbage_is_refused_and_read_as_a_fresh_state(kind, caplog):
    layout, cls, full = KINDS[kind]
    reader = StateReader(layout, cls.from_bytes)
    values = unreadable_values(full().to_bytes(), kind)
    for name, data in values.items():
        with pytest.raises(UnreadableState):
            cls.from_bytes(data)
        assert reader.read(data.decode("latin-1")).to_bytes() == cls().to_bytes(), name
    assert reader.read("not latin-1: \u20ac").to_bytes() == cls().to_bytes()
    assert reader.resets.count == len(values) + 1
    (logged,) = [r for r in caplog.records if r.name == "shopguard.state"]  # once per kind
    assert kind in logged.getMessage() and "starts over" in logged.getMessage()


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_written_before_the_tag_keeps_its_state_where_the_body_did_not_change(kind):
    """An upgrade from the versions before the tag keeps user, item and churn state (their bodies are the layout
    those versions wrote); the entity sketch, whose layout changed since, is reset and counted."""
    layout, cls, full = KINDS[kind]
    good = full().to_bytes()
    reader = StateReader(layout, cls.from_bytes)
    restored = reader.read(good[3:].decode("latin-1"))
    if kind == "entity_sketch":
        assert not layout.reads_untagged and restored.to_bytes() == cls().to_bytes() and reader.resets.count == 1
    else:
        assert layout.reads_untagged and restored.to_bytes() == good and reader.resets.count == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_tagged_value_with_a_damaged_body_never_raises_anything_but_unreadable(kind):
    layout, cls, full = KINDS[kind]
    good, rng = full().to_bytes(), random.Random(kind)
    for _ in range(300):
        data = bytearray(good[: rng.randrange(3, len(good) + 1)])
        for _ in range(rng.randrange(1, 6)):
            if len(data) > 3:
                data[rng.randrange(3, len(data))] = rng.randrange(256)
        try:
            cls.from_bytes(bytes(data))
        except UnreadableState:
            pass


def test_the_metric_is_state_reset_unreadable_labelled_by_kind():
    metrics = Metrics()
    reader = StateReader(entity_sketch.LAYOUT, EntitySketch.from_bytes)
    reader.open(metrics)
    reader.read("\x01\x02\x03\x04")
    assert metrics.counters[RESETS].count == 1


# The keyed steps: one value pre-filled with what another version wrote, then the step runs as on an empty state.


def user_step(tmp_path):
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    hashing = IdentifierHashing.from_settings(CFG.privacy, {})
    step = TrackUserHistory(CFG.job, CFG.validation, hashing, CFG.patterns, source)
    events = [
        Event(f"e{n}", "u1", kind, T0 + 60_000 * n, item_id="i1", device_id="d1")
        for n, kind in enumerate(["signup", "page_view", "add_to_cart", "purchase"])
    ]
    return step, "user_state", [e.to_json().encode() for e in events]


def device_step(tmp_path, ring_alerts: bool = False):
    step = TrackEntity("device", EntitySettings(ring_alerts=ring_alerts), CFG.job)
    hashing = IdentifierHashing.from_settings(CFG.privacy, {"SHOPGUARD_ID_SALT": "test-salt"})
    rows = []
    for n, kind in enumerate(["signup"] * 4 + ["purchase"] * 4):
        event = Event(f"e{n}", f"acct-{n % 4}", kind, T0 + 60_000 * n, item_id="i7", device_id="d1")
        base = (event.user_id, "s", event.event_id, event.event_type, event.ts_ms, b"", "[]", b"", 0.0, "", 0.0)
        inputs = entity_inputs(event, hashing, account_new=True)
        rows.append(pack_scoring([*base, *inputs, *NO_FIGURES, *NO_FIGURES, *NO_RULES]))
    return step, "entity_sketch", rows


def ring_step(tmp_path):
    step, _, rows = device_step(tmp_path, ring_alerts=True)
    return step, "ring_alert", rows


def item_record_step(tmp_path):
    step, _, facts = item_step(tmp_path)
    return step, "item_alert", facts


def item_step(tmp_path):
    step = TrackItem(CFG.entities, CFG.job)
    reviews = [Event(f"r{n}", f"ring-{n}", "review", T0 + 600_000 * n, item_id="i7", rating=5) for n in range(12)]
    return step, "item_sketch", [item_fact(e) for e in reviews]


def churn_step(tmp_path):
    step = WatchChurn(CFG.churn, CFG.job.alert_update_min_gain, CFG.job.max_out_of_orderness_ms)
    facts, previous = [], -1
    for n in range(6):
        event = Event(f"v{n}", "u1", "page_view", T0 + n * 3 * 86_400_000)
        facts.append(churn_fact(event, previous))
        previous = event.ts_ms + 120_000
    return step, "churn_watch", facts


class _Context:
    """The timer service of one key (no watermark yet)."""

    def __init__(self):
        self.timers = []

    def timer_service(self):
        return self

    def register_event_time_timer(self, ts_ms: int) -> None:
        self.timers.append(ts_ms)

    def register_processing_time_timer(self, ts_ms: int) -> None:
        pass  # the keyed steps' counters flush on one (udfs/local_counter.py)

    def current_watermark(self) -> int:
        return -(2**63)


def run(build, tmp_path, stored: str | None):
    """What the step emits (and the timers it sets) over its inputs, starting from ``stored`` in its state."""
    step, state_name, inputs = build(tmp_path)
    runtime = NamedStates()
    step.open(runtime)
    state = runtime.get_state(type("Descriptor", (), {"get_name": lambda self: state_name})())
    state.update(stored)
    ctx, out = _Context(), []
    for record in inputs:
        out += [_comparable(output) for output in step.process_element(record, ctx)]
    if hasattr(step, "close"):
        step.close()
    return out, ctx.timers, runtime, state.value()


def _comparable(output) -> str:
    """An output as text to compare two runs by (NaN equal to NaN), an alert's ``detected_at`` (wall clock) left out."""
    side, row = (output[0].tag_id, output[1]) if isinstance(output, tuple) else ("", output)
    values = []
    for value in row:
        if isinstance(value, str) and value.startswith("{"):
            value = json.loads(value)
            value.pop("detected_at", None)
        values.append(value)
    return f"{side}{values!r}"


STEPS = {"user": user_step, "device": device_step, "item": item_step, "churn": churn_step}


@pytest.mark.parametrize("name", STEPS)
def test_a_keyed_step_restored_with_an_unreadable_value_starts_that_key_afresh_and_emits_as_usual(
    name, tmp_path, caplog
):
    build = STEPS[name]
    expected, timers, runtime, good = run(build, tmp_path, None)
    assert len(expected) >= {"user": 4, "device": 4, "item": 1, "churn": 0}[name] and (timers or name != "churn")
    assert runtime.metrics.counters[RESETS].count == 0
    kind = {"user": "user_state", "device": "entity_sketch", "item": "item_sketch", "churn": "churn_state"}[name]
    for case, data in unreadable_values(good.encode("latin-1"), kind).items():
        out, after_timers, runtime, stored = run(build, tmp_path, data.decode("latin-1"))
        assert (out, after_timers) == (expected, timers), case
        assert runtime.metrics.counters[RESETS].count == 1, case  # once: the step stored a readable value at once
        assert stored == good, case  # what it stored is this version's, as from an empty state
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "shopguard.state"] == [kind]


OTHER_RECORDS = {
    "not json": "{not json",
    "no accounts": '{"alert": null}',
    "a field this version lacks": '{"alert": {"alert_id": "a1", "opened_by_version": 9}, "accounts": []}',
}
"""Open alert records (JSON) that another shopguard version might have written."""


@pytest.mark.parametrize("build", [ring_step, item_record_step], ids=["ring_alert", "item_alert"])
def test_an_open_alert_record_of_another_shape_opens_the_alert_afresh_counted(build, tmp_path, caplog):
    expected, _, runtime, good = run(build, tmp_path, None)
    assert any("'alert_kind': 'ring'" in output for output in expected) and good
    for case, record in OTHER_RECORDS.items():
        out, _, runtime, stored = run(build, tmp_path, record)
        assert out == expected and runtime.metrics.counters[RESETS].count == 1, case
        assert json.loads(stored)["accounts"] == json.loads(good)["accounts"], case
    kind = build(tmp_path)[1]
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "shopguard.state"] == [kind]
