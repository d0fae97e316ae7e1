"""The keyed step: raw records of one user in; scoring rows, dead letters and late events out."""

import json

import pytest

from shopguard.config import ShopguardConfig
from shopguard.udfs.event_intake import DEAD_LETTERS
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.user_history import LATE_EVENTS, SCORING_ROW, TrackUserHistory
from tests.unit.flink_fakes import Runtime

CFG = ShopguardConfig()
T0 = 1_511_658_000_000


@pytest.fixture
def step(tmp_path):
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))  # no registry, no pattern store
    history = TrackUserHistory(
        CFG.job, CFG.validation, IdentifierHashing.from_settings(CFG.privacy, {}), CFG.patterns, source
    )
    runtime = Runtime()
    history.open(runtime)
    yield history, runtime
    history.close()


def _record(event_id: str, ts_ms: int) -> bytes:
    return Event(event_id, "u-1", "page_view", ts_ms, item_id="i-1").to_json().encode()


def test_a_valid_record_advances_the_users_history_and_leaves_as_one_row_to_score(step):
    history, runtime = step
    rows = [list(history.process_element(_record(f"e{i}", T0 + 1000 * i), None)) for i in range(3)]
    (last,) = rows[-1]
    named = dict(zip(SCORING_ROW.get_field_names(), last))
    assert named["event_id"] == "e2" and named["user_id"] == "u-1" and named["event_ts"] == T0 + 2000
    assert json.loads(named["recent_event_ids"]) == ["e0", "e1", "e2"]
    history.counts.flush()  # the counters count in Python and pass their sums on when flushed (udfs/local_counter.py)
    assert runtime.metrics.counters["events_to_score"].count == runtime.metrics.counters["events_valid"].count == 3


def test_a_record_that_is_no_event_leaves_as_a_dead_letter_and_leaves_the_state_alone(step):
    history, runtime = step
    list(history.process_element(_record("e0", T0), None))
    stored = runtime.state.stored
    ((tag, letter),) = history.process_element(b'{"user_id": "u-1", "event_type": "page_view"}', None)
    assert tag is DEAD_LETTERS and json.loads(letter[1])["reason"] == "missing_field" and letter[0] == "u-1"
    history.counts.flush()
    assert runtime.state.stored == stored and runtime.metrics.counters["dead_letters"].count == 1
    assert runtime.metrics.counters["events_to_score"].count == 1


def test_a_repeated_event_id_is_dropped_and_counted(step):
    history, runtime = step
    list(history.process_element(_record("e0", T0), None))
    assert list(history.process_element(_record("e0", T0), None)) == []
    history.counts.flush()
    assert runtime.metrics.counters["duplicates"].count == 1


def test_an_event_older_than_the_users_watermark_allows_goes_to_the_late_events(step):
    history, runtime = step
    list(history.process_element(_record("e0", T0), None))
    too_old = T0 - CFG.job.max_out_of_orderness_ms - CFG.job.allowed_lateness_ms - 1
    ((tag, late),) = history.process_element(_record("e1", too_old), None)
    assert tag is LATE_EVENTS and json.loads(late[1])["reason"] == "late"
    history.counts.flush()
    assert runtime.metrics.counters["late_events"].count == 1


def test_the_step_counts_the_cpu_time_of_its_own_function_beside_the_events_it_spent_it_on(step):
    history, runtime = step
    for i in range(20):
        list(history.process_element(_record(f"e{i}", T0 + 1000 * i), None))
    history.counts.flush()
    spent, events = runtime.metrics.counters["user_step_cpu_ns"].count, runtime.metrics.counters["events_in"].count
    assert events == 20 and 0 < spent / events < 1e9  # some CPU for every event, and no event took a second
    assert runtime.metrics.counters["events_to_score"].count == 20
