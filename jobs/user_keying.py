"""Keying raw Kafka records by user with no Python step before the keyed one.

The keyed step needs each record's user id before Python has seen the record. Flink's SQL reads it
in Java, in the source task: ``JSON_VALUE(record, '$.user_id')`` on the Table API, then the Java
``keyBy``. The record itself reaches the keyed step unparsed, and the keyed step parses and
validates it (:class:`~shopguard.udfs.event_intake.EventIntake`) under its user's key.

Why not a Python parse step in the source task, as the job had before: every event then crossed
from Java into Python and back in the source task, holding the one interpreter lock that the keyed
step of the same TaskManager needs too, so the two Python steps ran one after the other (the job and
the pipeline floor drain faster without it: ``shopguard bench`` measures both).

A record whose user id cannot be read in Java (not JSON, not an object, no ``user_id``) is keyed by
the empty string; its keyed step rejects it as a dead letter, as it would under any key. A user id
given as a JSON number is keyed by its digits, as the parser reads it (``"user_id": 7`` is user
``"7"``).

The decision step's crossings are keyed the same way (:func:`key_table_by_user`): PyFlink's ``key_by`` would put
a Python step of its own (the key selector) between the Table conversion and the keyed step, so every crossing
would cross into Python and back once more before it is decided.

It uses two things PyFlink does not publish as API, both what ``DataStream.key_by`` of the pinned
PyFlink does after its own Python map (``pyflink/datastream/data_stream.py``): the ``KeyedStream``
constructor and the Java ``KeyByKeySelector``. The job, replay and encoder-parity tests run through
it, so a PyFlink upgrade that changes either fails there.
"""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.datastream import DataStream
from pyflink.datastream.data_stream import KeyedStream
from pyflink.java_gateway import get_gateway
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import call_sql, col, row


def _source_watermark() -> Schema:
    """The records' own timestamps and the source's watermark, declared so that the watermark passes the table.

    Built when called, never at import: building a schema starts PyFlink's Java gateway, and a gateway started
    before the job's environment sets ``FLINK_HOME`` lacks the Kafka connector's jars.
    """
    return (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )


USER_ID_OF_RECORD = (
    r"COALESCE(REGEXP_REPLACE(JSON_VALUE(CAST(f0 AS STRING), '$.user_id'), '[\x{D800}-\x{DFFF}]', '?'), '')"
)
r"""The Flink SQL that reads a raw record's user id in Java ('' when it cannot).

Half of a UTF-16 surrogate pair, which a JSON escape such as ``\ud800`` can put in a string, becomes
``?``: the key crosses into Python with the record, and the bridge fails the job on it (the fuzz test
found it). The keyed step rejects such a record anyway (``not_utf8``)."""


def key_records_by_user(records: DataStream, t_env: StreamTableEnvironment, event_time: bool = False) -> KeyedStream:
    """``records`` (raw JSON, bytes or text) keyed by their ``user_id``; keyed functions get the record as it came.

    ``t_env`` is the table environment of ``records``' execution environment. With ``event_time`` the records
    must carry timestamps (a Kafka source's), and the stream watermark reaches the keyed step, whose churn
    timers need it: Flink's conversion of a DataStream into a table drops every watermark but the last one
    of a bounded input unless the table declares ``SOURCE_WATERMARK()``, and that declaration fails on a
    record without a timestamp (a file replay's).
    """
    record_type = records.get_type()
    table = t_env.from_data_stream(records, _source_watermark()) if event_time else t_env.from_data_stream(records)
    keyed_rows = t_env.to_append_stream(
        table.select(call_sql(USER_ID_OF_RECORD).alias("user_id"), col("f0")),
        Types.ROW([Types.STRING(), record_type]),
    )
    j_keyed = keyed_rows._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, record_type, keyed_rows)


def key_table_by_user(table: Table, t_env: StreamTableEnvironment, row_type) -> KeyedStream:
    """The rows of ``table`` (a ``user_id`` column, and the fields of ``row_type`` in its order) keyed by user in Java.

    Keyed functions get each row as a ``row_type`` row, as after ``DataStream.key_by``, with no Python step before.
    """
    fields = row_type.get_field_names()
    keyed_rows = t_env.to_append_stream(
        table.select(col("user_id"), row(*[col(name) for name in fields])),
        Types.ROW([Types.STRING(), row_type]),
    )
    j_keyed = keyed_rows._j_data_stream.keyBy(
        get_gateway().jvm.KeyByKeySelector(), Types.ROW([Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, row_type, keyed_rows)
