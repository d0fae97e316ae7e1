package shopguard.udfs.entities;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.types.Row;

/**
 * Rows keyed in Java the way PyFlink's {@code DataStream.key_by} keys them, so that a Python keyed step reads them
 * with no Python step before it: each row becomes {@code Row(key, row)} and the key is {@code Row(key)} (PyFlink's
 * KeyByKeySelector), typed {@code ROW<STRING>}. From Python: {@code KeyedStream(j_keyed, row_type, DataStream(...))}
 * (jobs/entity_keying.py, as jobs/user_keying.py's key_table_by_user does for the crossings).
 */
public final class KeyedAsPyFlinkKeys {
    /** The key's type: PyFlink's key_by(..., key_type=Types.STRING()) keys by a Row of that one field. */
    public static final RowTypeInfo KEY_TYPE = new RowTypeInfo(Types.STRING);

    private KeyedAsPyFlinkKeys() {}

    /** {@code value} as the key PyFlink's KeyByKeySelector builds: a one-field Row (its serializer and key group). */
    static Row key(Object value) {
        Row key = new Row(1);
        key.setField(0, value);
        return key;
    }

    /** {@code rows} keyed by their (string) field {@code keyField}; the operator named {@code name}. */
    public static KeyedStream<Row, Row> byField(DataStream<Row> rows, int keyField, String name) {
        TypeInformation<Row> wrapped = Types.ROW(Types.STRING, rows.getType());
        return rows.map(new WithKey(keyField))
            .returns(wrapped)
            .name(name)
            .keyBy(new FirstField(), KEY_TYPE);
    }

    /** {@code row} as {@code Row(key, row)}. */
    static final class WithKey implements MapFunction<Row, Row> {
        private static final long serialVersionUID = 1L;
        private final int keyField;

        WithKey(int keyField) {
            this.keyField = keyField;
        }

        @Override
        public Row map(Row row) {
            return Row.of(row.getField(keyField), row);
        }
    }

    /** The key of {@code Row(key, row)}: {@code Row(key)}, as PyFlink's KeyByKeySelector gives it. */
    static final class FirstField implements KeySelector<Row, Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public Row getKey(Row value) {
            return key(value.getField(0));
        }
    }
}
