"""The detection job's operators with the detection taken out: what PyFlink itself costs per event.

The benchmark runs :mod:`shopguard.jobs.pipeline_floor_job`, which has the detection job's shape (the
same Kafka source and watermarks, a Python step in the source task, ``key_by`` on the user, a keyed
Python step with one compact value of state per user, a pandas step on the Table API, a sink) but
does the least each step can:

* :class:`ReadUserId` reads the user id and time of a JSON record (``json.loads``, nothing checked: it
  runs only on the benchmark's own events);
* :class:`KeepRecentCodes` appends four bytes to the user's state, keeps the last ``L`` codes and
  emits them (the real step also dedups, judges lateness, encodes, matches patterns);
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
from pyflink.datastream import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table.udf import ScalarFunction

USER_ROW = Types.ROW_NAMED(["user_id", "event_ts"], [Types.STRING(), Types.LONG()])
KEYED_USER_ROW = Types.ROW([Types.STRING(), USER_ROW])  # keyed without a Python map, as the job's events
CODES_ROW = Types.ROW_NAMED(["user_id", "event_ts", "codes"],
                            [Types.STRING(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])
_CODE = "\x01\x02\x03\x04"  # one event's 4-byte code, as the real state keeps it (latin-1 text)


class ReadUserId(ProcessFunction):
    """Raw JSON record in, ``(user_id, (user_id, event_ts))`` out; counts ``events_in`` as the real parse step does."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.events_in = runtime_context.get_metrics_group().add_group("shopguard").counter("events_in")

    def process_element(self, raw, ctx: ProcessFunction.Context):
        self.events_in.inc()
        record = json.loads(raw)
        user_id = str(record["user_id"])
        yield Row(user_id, Row(user_id, int(record["ts"])))


class KeepRecentCodes(KeyedProcessFunction):
    """Keyed by user: the last ``history_length`` 4-byte codes in one string state; counts ``events_to_score``."""

    def __init__(self, history_length: int):
        self.history_length = history_length

    def open(self, runtime_context: RuntimeContext) -> None:
        self.state = runtime_context.get_state(ValueStateDescriptor("recent_codes", Types.STRING()))
        self.events_to_score = runtime_context.get_metrics_group().add_group("shopguard").counter("events_to_score")

    @staticmethod
    def advance(stored: str | None, history_length: int) -> str:
        """The state after one more event: its code appended, the oldest dropped beyond ``history_length``."""
        return ((stored or "") + _CODE)[-4 * history_length:]

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):
        codes = self.advance(self.state.value(), self.history_length)
        self.state.update(codes)
        self.events_to_score.inc()
        yield Row(row[0], row[1], codes.encode("latin-1"))


class ConstantScore(ScalarFunction):
    """Pandas UDF: 0.0 for every row of the batch, without looking at it."""

    def eval(self, codes: pd.Series) -> pd.Series:
        return pd.Series(0.0, index=codes.index)

