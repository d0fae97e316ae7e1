"""The pipeline floor's steps do the least their place in the graph needs, and count what the benchmark reads."""

import pandas as pd
from pyflink.common import Row

from shopguard.bench_workload import as_records, bench_events
from shopguard.udfs.pipeline_floor import ConstantScore, KeepRecentCodes, ReadUserId
from tests.unit.flink_fakes import Runtime


def test_read_user_id_takes_the_user_and_time_of_a_benchmark_record_keyed_by_user_and_counts_it_in():
    event = bench_events(1, 1)[0]
    step, runtime = ReadUserId(), Runtime()
    step.open(runtime)
    (row,) = step.process_element(as_records([event])[0][1], None)
    assert row[0] == event.user_id and tuple(row[1]) == (event.user_id, event.ts_ms)  # keyed by the user
    assert runtime.metrics.counters["events_in"].count == 1


def test_keep_recent_codes_keeps_the_last_l_codes_and_counts_every_event_to_score():
    step, runtime = KeepRecentCodes(history_length=3), Runtime()
    step.open(runtime)
    outputs = [next(step.process_element(Row("u", ts), None)) for ts in range(5)]
    assert [len(row[2]) for row in outputs] == [4, 8, 12, 12, 12]  # 4 bytes per event, at most L events
    assert tuple(outputs[-1])[:2] == ("u", 4) and isinstance(outputs[-1][2], bytes)
    assert len(runtime.state.stored) == 12 and runtime.metrics.counters["events_to_score"].count == 5


def test_constant_score_answers_every_row_of_the_batch_without_reading_it():
    codes = pd.Series([b"\x01\x02\x03\x04", b"", None], index=[7, 8, 9])
    scores = ConstantScore().eval(codes)
    assert scores.tolist() == [0.0, 0.0, 0.0] and scores.index.tolist() == [7, 8, 9]
