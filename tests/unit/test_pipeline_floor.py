"""The pipeline floor's steps do the least their place in the graph needs, and count what the benchmark reads."""

import pandas as pd
from pyflink.common import Row

from shopguard.bench_workload import as_records, bench_events
from shopguard.udfs.pipeline_floor import ConstantScore, KeepRecentCodes, ReadUserId


class Counter:
    def __init__(self):
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class Metrics:
    def __init__(self):
        self.counters: dict[str, Counter] = {}

    def add_group(self, name: str) -> "Metrics":
        return self

    def counter(self, name: str) -> Counter:
        return self.counters.setdefault(name, Counter())


class ValueState:
    def __init__(self):
        self.stored = None

    def value(self):
        return self.stored

    def update(self, value) -> None:
        self.stored = value


class Runtime:
    def __init__(self):
        self.metrics, self.state = Metrics(), ValueState()

    def get_metrics_group(self) -> Metrics:
        return self.metrics

    def get_state(self, descriptor) -> ValueState:
        return self.state


def test_read_user_id_takes_the_user_and_time_of_a_benchmark_record_and_counts_it_in():
    event = bench_events(1, 1)[0]
    step, runtime = ReadUserId(), Runtime()
    step.open(runtime)
    (row,) = step.process_element(as_records([event])[0][1], None)
    assert tuple(row) == (event.user_id, event.ts_ms)
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
