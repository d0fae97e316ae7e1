"""The rows between the job's operators, each column defined once, by name and type.

::

    track user history ──SCORING_ROW──► score histories (+ SCORE_RESULT) ──CROSSING_ROW──► decide alert
            │                                            └──SCORES_COLUMNS──► scores topic / file
            └─SCORING_ROW─► track devices ─► track IPs ─SCORING_ROW─► (entities on, Java steps)
            └─PACKED_SCORING_ROW─► track devices ─PACKED_SCORING_ROW─► track IPs ─SCORING_ROW─► (Python steps)

Every operator imports its row from here; a column added to the job is added to :data:`COLUMNS` and to
the rows that carry it, and nowhere else (the Java entity steps, ``udfs/java``, find their columns by name in
:data:`SCORING_ROW`). With the Python entity steps, between the user step and the last entity step the scoring row
travels packed (:func:`pack_scoring`): each column a Python step reads or writes crosses between Java and
Python one by one, so a row of a few columns that holds the others in one value crosses at a fraction of the
cost, and the entity steps read the handful of values they need.

Example
-------
>>> SCORING_ROW.get_field_names()[:3], SCORE_FIELDS[-1]
(['user_id', 'session_id', 'event_id'], 'new_account_score')
>>> set(CROSSING_FIELDS) <= set(SCORING_FIELDS + SCORE_FIELDS)
True
"""

from __future__ import annotations

import marshal

from pyflink.common import Row
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
    "seconds_since_signup": (_DOUBLE, "seconds from the user's signup to this event (NaN: no signup seen)"),
    # for the entity steps (udfs/entity_streams.py), and what they add
    "device_key": (_STRING, "the event's device id as its pseudonym, '' without one"),
    "ip_key": (_STRING, "the event's IP as its pseudonym, '' without one"),
    "item_id": (_STRING, "the event's item id, '' without one"),
    "account_new": (_LONG, "1 when the event is a signup (the account is new), else 0"),
    "ring_linked": (_LONG, "1 when the event's device is a ring at this event (the device step sets it), else 0"),
    **{
        f"{entity}_{figure}": (_DOUBLE, f"the event's {entity}: {text} (NaN without a {entity})")
        for entity in ("device", "ip")
        for figure, text in (
            ("accounts_1h", "distinct accounts in the last hour"),
            ("accounts_24h", "distinct accounts in the last 24 h"),
            ("accounts_30d", "distinct accounts in the last 30 days"),
            ("new_accounts_24h", "accounts that signed up there in the last 24 h"),
            ("failed_payments_24h", "failed payments in the last 24 h, all accounts"),
            ("failed_logins_24h", "failed logins in the last 24 h, all accounts"),
            ("same_item_accounts_24h", "accounts that bought, carted or favorited this event's item there in 24 h"),
        )
    },
    # what the detection rules add in the user step (udfs/rule_broadcast.py)
    "rules_score": (_DOUBLE, "the highest score of a deny list or counting rule that fired (NaN: none)"),
    "rules_floor": (_DOUBLE, "the lowest per-type threshold the rules set (NaN: none)"),
    "rules": (_STRING, "JSON of the rules that touched the event and the per-type thresholds, '' if none"),
    # what scoring adds
    "score": (_DOUBLE, "the decision's score"),
    "model_version": (_STRING, "the model version that scored the row"),
    "threshold": (_DOUBLE, "that model's threshold for the row"),
    "anomaly_type": (_STRING, "the type head's most likely abuse type"),
    "lstm_score": (_DOUBLE, "the LSTM's score"),
    "next_event_score": (_DOUBLE, "the next-event model's score (NaN without one)"),
    "velocity_rules_score": (_DOUBLE, "the velocity rules' score"),
    "rarity_score": (_DOUBLE, "the rarity detector's score (NaN without rarity tables)"),
    "entities_score": (_DOUBLE, "the entities detector's score (NaN without entity tables or figures)"),
    "new_account_score": (_DOUBLE, "the new_account detector's score (0 unless a new account spends)"),
    # the scoring row on its way through the entity steps
    "scoring_values": (_BYTES, "every SCORING_FIELDS value of the row, serialised once (pack_scoring)"),
}
"""Every column that travels between operators: its type and what it holds."""

RULE_FIELDS = ("rules_score", "rules_floor", "rules")
"""What the detection rules add in the user step (:mod:`shopguard.udfs.rule_broadcast`), last in its row."""

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
    "seconds_since_signup",
    "device_key",
    "ip_key",
    "item_id",
    "account_new",
    "ring_linked",
    *(name for name in COLUMNS if name.startswith(("device_", "ip_")) and not name.endswith("_key")),
    *RULE_FIELDS,
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
    "entities_score",
    "new_account_score",
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
    "entities_score",
    "new_account_score",
    "event_type",
    "seconds_since_signup",
    *(name for name in COLUMNS if name.startswith(("device_", "ip_")) and not name.endswith("_key")),
    "rules_score",
    "rules",
)
"""A scored event whose score crossed its model's threshold: what the decision step reads."""

PACKED_SCORING_FIELDS = ("user_id", "device_key", "ip_key", "scoring_values")
"""A scoring row between the user step and the last entity step: the values the entity steps are keyed by, and
the whole row (:data:`SCORING_FIELDS`) in ``scoring_values`` (:func:`pack_scoring`)."""

SCORES_COLUMNS = ("event_id", "user_id", "event_ts", "score", "model_version")
"""Columns of the per-event scores output (topic or ``SCORES.jsonl``)."""


ENTITY_FIGURE_FIELDS = tuple(
    name for name in SCORING_FIELDS if name.startswith(("device_", "ip_")) and not name.endswith("_key")
)
"""Every entity figure column: the device's, then the IP's (see :mod:`shopguard.udfs.entity_sketch`)."""

NEW_ACCOUNT_INPUT_FIELDS = ("event_type", "seconds_since_signup")
"""What the ``new_account`` detector reads besides the entity figures (:mod:`shopguard.udfs.new_account`)."""

SCORING_INPUT_FIELDS = ("codes", "user_patterns_score", "session", *ENTITY_FIGURE_FIELDS, *NEW_ACCOUNT_INPUT_FIELDS)
"""The scoring step's inputs, in the order :meth:`shopguard.udfs.scoring.ScoreHistories.eval` takes them."""


def entity_figure_fields(entity_type: str) -> tuple[str, ...]:
    """The figure columns of one entity type (``device`` or ``ip``), in the order of ``EntityFigures``.

    >>> entity_figure_fields("ip")[:2]
    ('ip_accounts_1h', 'ip_accounts_24h')
    """
    return tuple(name for name in ENTITY_FIGURE_FIELDS if name.startswith(entity_type + "_"))


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
PACKED_SCORING_ROW = stream_row(PACKED_SCORING_FIELDS)

_PACKED_BY = tuple(SCORING_FIELDS.index(name) for name in PACKED_SCORING_FIELDS[:-1])
MARSHAL_VERSION = 4
"""The format of ``scoring_values``: :mod:`marshal`'s version 4 (CPython 3.4 on), written explicitly."""


def pack_scoring(values) -> Row:
    """A :data:`PACKED_SCORING_ROW` holding ``values`` (one per :data:`SCORING_FIELDS` column); :func:`unpack_scoring`
    gives them back, equal and of the same types (NaN stays NaN, ``bytes`` stay ``bytes``).

    Why :mod:`marshal`: the values are str, int, float and bytes, which it writes and reads in C, several times
    faster than :mod:`pickle` and with no per-type code (a ``struct`` layout would need lengths for every string).
    The same Python writes and reads them (the job's steps run one interpreter build everywhere), and a packed row
    lives only between two operators: it is in no keyed state, so no checkpoint or savepoint stores it
    (savepoints and the job's aligned checkpoints hold no records in flight).

    >>> values = [None] * len(SCORING_FIELDS)
    >>> values[:5] = ["u1", "s", "e1", "click", 7]
    >>> values[SCORING_FIELDS.index("device_key")], values[SCORING_FIELDS.index("ip_key")] = "d9", ""
    >>> row = pack_scoring(values)
    >>> row[:3], unpack_scoring(row) == values
    (['u1', 'd9', ''], True)
    """
    if len(values) != len(SCORING_FIELDS):
        raise ValueError(f"{len(values)} values for the {len(SCORING_FIELDS)} columns of SCORING_FIELDS")
    return Row(*(values[i] for i in _PACKED_BY), marshal.dumps(tuple(values), MARSHAL_VERSION))


def unpack_scoring(row) -> list:
    """The :data:`SCORING_FIELDS` values of a :data:`PACKED_SCORING_ROW` (see :func:`pack_scoring`), as a new list."""
    return list(marshal.loads(row[-1]))
