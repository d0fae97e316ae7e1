"""The rows between the job's operators, each column defined once, by name and type.

::

    track user history ──SCORING_ROW──► score histories (+ SCORE_RESULT) ──CROSSING_ROW──► decide alert
                                                         └──SCORES_COLUMNS──► scores topic / file

Every operator imports its row from here; a column added to the job is added to :data:`COLUMNS` and to
the rows that carry it, and nowhere else.

Example
-------
>>> SCORING_ROW.get_field_names()[:3], SCORE_FIELDS[-1]
(['user_id', 'session_id', 'event_id'], 'rarity_score')
>>> set(CROSSING_FIELDS) <= set(SCORING_FIELDS + SCORE_FIELDS)
True
"""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.table import DataTypes

_STRING, _LONG, _DOUBLE, _BYTES = "string", "long", "double", "bytes"
_STREAM_TYPES = {_STRING: Types.STRING, _LONG: Types.LONG, _DOUBLE: Types.DOUBLE}
_TABLE_TYPES = {_STRING: DataTypes.STRING, _LONG: DataTypes.BIGINT, _DOUBLE: DataTypes.DOUBLE, _BYTES: DataTypes.BYTES}

COLUMNS: dict[str, tuple[str, str]] = {
    # the scored event
    "user_id": (_STRING, "the user the event belongs to"),
    "session_id": (_STRING, "the producer's session id, or <user_id>:<start ms> of the job's session"),
    "event_id": (_STRING, "the event's id"),
    "event_type": (_STRING, "the event's type"),
    "event_ts": (_LONG, "event time, epoch milliseconds"),
    "codes": (_BYTES, "the user's last L event codes (udfs/encoding.py)"),
    "recent_event_ids": (_STRING, "JSON list of the user's most recent event ids"),
    "session": (_BYTES, "the session and day profile (udfs/session_features.py)"),
    "user_patterns_score": (_DOUBLE, "the pattern detector's score (NaN without a pattern store)"),
    "pattern_unmatched": (_STRING, "unmatched behaviour sequences of this event, '' if none"),
    # what scoring adds
    "score": (_DOUBLE, "the decision's score"),
    "model_version": (_STRING, "the model version that scored the row"),
    "threshold": (_DOUBLE, "that model's threshold for the row"),
    "anomaly_type": (_STRING, "the type head's most likely abuse type"),
    "lstm_score": (_DOUBLE, "the LSTM's score"),
    "next_event_score": (_DOUBLE, "the next-event model's score (NaN without one)"),
    "velocity_rules_score": (_DOUBLE, "the velocity rules' score"),
    "rarity_score": (_DOUBLE, "the rarity detector's score (NaN without rarity tables)"),
}
"""Every column that travels between operators: its type and what it holds."""

SCORING_FIELDS = (
    "user_id",
    "session_id",
    "event_id",
    "event_type",
    "event_ts",
    "codes",
    "recent_event_ids",
    "session",
    "user_patterns_score",
    "pattern_unmatched",
)
"""One row per accepted event, after its user's history advanced: what the scoring step reads."""

SCORE_FIELDS = (
    "score",
    "model_version",
    "threshold",
    "anomaly_type",
    "lstm_score",
    "next_event_score",
    "velocity_rules_score",
    "rarity_score",
)
"""What scoring adds to each row: the decision (score against threshold) and each detector's score."""

CROSSING_FIELDS = (
    "user_id",
    "session_id",
    "event_id",
    "event_ts",
    "codes",
    "recent_event_ids",
    "session",
    "score",
    "model_version",
    "threshold",
    "anomaly_type",
    "lstm_score",
    "next_event_score",
    "user_patterns_score",
    "pattern_unmatched",
    "velocity_rules_score",
    "rarity_score",
)
"""A scored event whose score crossed its model's threshold: what the decision step reads."""

SCORES_COLUMNS = ("event_id", "user_id", "event_ts", "score", "model_version")
"""Columns of the per-event scores output (topic or ``SCORES.jsonl``)."""


def stream_row(fields: tuple[str, ...]):
    """A DataStream row type of ``fields``, typed from :data:`COLUMNS`."""
    return Types.ROW_NAMED(list(fields), [_stream_type(COLUMNS[name][0]) for name in fields])


def table_row(fields: tuple[str, ...]):
    """A Table API row type of ``fields``, typed from :data:`COLUMNS`."""
    return DataTypes.ROW([DataTypes.FIELD(name, _TABLE_TYPES[COLUMNS[name][0]]()) for name in fields])


def _stream_type(kind: str):
    return Types.PRIMITIVE_ARRAY(Types.BYTE()) if kind == _BYTES else _STREAM_TYPES[kind]()


SCORING_ROW = stream_row(SCORING_FIELDS)
SCORE_RESULT = table_row(SCORE_FIELDS)
CROSSING_ROW = stream_row(CROSSING_FIELDS)
