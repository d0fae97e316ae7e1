"""The detection job's operators with the detection taken out: what PyFlink itself costs per event.

The benchmark runs :mod:`shopguard.bench.pipeline_floor_job`, which has the detection job's shape (the
same Kafka source and watermarks, the user id read in Java and ``key_by`` on it, a keyed Python step
that gets the raw record and keeps one compact value of state per user, a pandas step on the Table
API, a sink) but does the least each step can:

* :class:`KeepRecentCodes` reads the record's user id and time (``json.loads``, nothing checked: it
  runs only on the benchmark's own events), appends four bytes to the user's state, keeps the last
  ``L`` codes and emits them (the real step also validates, dedups, judges lateness, encodes, matches
  patterns);
* :class:`ConstantScore` returns 0.0 for every row of its Arrow batch (the real step runs two LSTMs,
  the rules and the combiner).

Its throughput is the most this shape of job can reach on the machine, whatever the detection costs:
the job's own figure divided by it says how much of the per-event time is shopguard's work and how
much is PyFlink's (Python hops, row conversion, keyed state access, Arrow batches).

>>> KeepRecentCodes.advance("", history_length=2)
'\\x01\\x02\\x03\\x04'
>>> len(KeepRecentCodes.advance("abcdefgh", history_length=2))
8
"""

from __future__ import annotations

import json

import pandas as pd
from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table.udf import ScalarFunction

CODES_ROW = Types.ROW_NAMED(
    ["user_id", "event_ts", "codes"], [Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())]
)
_CODE = "\x01\x02\x03\x04"  # one event's 4-byte code, as the real state keeps it (latin-1 text)


class KeepRecentCodes(KeyedProcessFunction):
    """Keyed by user: raw JSON record in, the user's last ``history_length`` 4-byte codes out (one string state).

    Counts ``events_in`` and ``events_to_score`` as the real keyed step does.
    """

    def __init__(self, history_length: int):
        self.history_length = history_length

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("recent_codes", Types.STRING()))
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.events_in = metrics.counter("events_in")
        self.events_to_score = metrics.counter("events_to_score")

    @staticmethod
    def advance(stored: str | None, history_length: int) -> str:
        """The state after one more event: its code appended, the oldest dropped beyond ``history_length``."""
        return ((stored or "") + _CODE)[-4 * history_length :]

    def process_element(self, raw, ctx: KeyedProcessFunction.Context):
        self.events_in.inc()
        record = json.loads(raw)
        codes = self.advance(self.state.value(), self.history_length)
        self.state.update(codes)
        self.events_to_score.inc()
        yield Row(str(record["user_id"]), int(record["ts"]), codes.encode("latin-1"))


class ConstantScore(ScalarFunction):
    """Pandas UDF: 0.0 for every row of the batch, without looking at it."""

    def eval(self, codes: pd.Series) -> pd.Series:
        return pd.Series(0.0, index=codes.index)
