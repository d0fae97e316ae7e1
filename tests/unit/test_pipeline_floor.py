"""The pipeline floor's steps do the least their place in the graph needs, and count what the benchmark reads."""

import pandas as pd

from shopguard.bench.pipeline_floor import ConstantScore, KeepRecentCodes
from shopguard.bench.workload import as_records, bench_events
from tests.unit.flink_fakes import Runtime


def test_keep_recent_codes_reads_a_benchmark_record_keeps_the_last_l_codes_and_counts_every_event():
    events = bench_events(5, 1)
    step, runtime = KeepRecentCodes(history_length=3), Runtime()
    step.open(runtime)
    outputs = [next(step.process_element(raw, None)) for _, raw in as_records(events)]
    assert [len(row[2]) for row in outputs] == [4, 8, 12, 12, 12]  # 4 bytes per event, at most L events
    assert tuple(outputs[-1])[:2] == (events[-1].user_id, events[-1].ts_ms) and isinstance(outputs[-1][2], bytes)
    assert len(runtime.state.stored) == 12
    assert runtime.metrics.counters["events_in"].count == runtime.metrics.counters["events_to_score"].count == 5


def test_constant_score_answers_every_row_of_the_batch_without_reading_it():
    codes = pd.Series([b"\x01\x02\x03\x04", b"", None], index=[7, 8, 9])
    scores = ConstantScore().eval(codes)
    assert scores.tolist() == [0.0, 0.0, 0.0] and scores.index.tolist() == [7, 8, 9]
