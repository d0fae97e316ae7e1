package shopguard.udfs.entities;

import java.time.Duration;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;

/**
 * The job's device and IP steps in Java: scoring rows (udfs/rows.py's SCORING_ROW, as a RowTypeInfo with its field
 * names) keyed by their device pseudonym, then by their IP pseudonym, each entity's {@link EntitySketch} advanced
 * and its seven figures written into the row's device_* / ip_* columns, as udfs/entity_streams.py's TrackEntity
 * does. Called from PyFlink through py4j: {@code EntityFigureSteps.apply(rows._j_data_stream, ttl_s)}.
 *
 * <p>Not ported (the benchmark's step only): the ring alerts and the ring_linked flag the device step sets for
 * the IP step (rows keep ring_linked as the user step wrote it), and the state_layout metric's name is the same
 * but a reset sketch is not logged.
 */
public final class EntityFigureSteps {
    private static final String[] ENTITY_TYPES = {"device", "ip"};
    private static final String NO_ENTITY = "~";

    private EntityFigureSteps() {}

    /** {@code rows} through the device step, then the IP step; the rows keep their type. */
    public static DataStream<Row> apply(DataStream<Row> rows, long ttlSeconds) {
        TypeInformation<Row> type = rows.getType();
        if (!(type instanceof RowTypeInfo)) {
            throw new IllegalArgumentException("the entity steps need rows with named fields, not " + type);
        }
        RowTypeInfo info = (RowTypeInfo) type;
        for (String entityType : ENTITY_TYPES) {
            Fields fields = new Fields(info, entityType);
            rows = rows.keyBy(new EntityKey(fields.key, fields.user), Types.STRING)
                .process(new TrackEntityFigures(entityType, fields, ttlSeconds), type)
                .uid("track-" + entityType + "-entities-java")
                .name("track " + entityType + "s in Java (accounts across users)");
        }
        return rows;
    }

    /** Where the step reads and writes in the row. */
    static final class Fields implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final int key;
        final int user;
        final int eventType;
        final int eventTs;
        final int item;
        final int accountNew;
        final int firstFigure;

        Fields(RowTypeInfo info, String entityType) {
            key = index(info, entityType + "_key");
            user = index(info, "user_id");
            eventType = index(info, "event_type");
            eventTs = index(info, "event_ts");
            item = index(info, "item_id");
            accountNew = index(info, "account_new");
            firstFigure = index(info, entityType + "_accounts_1h");
            for (int f = 1; f < EntitySketch.FIGURES; f++) {
                if (!info.getFieldNames()[firstFigure + f].startsWith(entityType + "_")) {
                    throw new IllegalArgumentException("the " + entityType + " figures are not side by side");
                }
            }
        }

        private static int index(RowTypeInfo info, String name) {
            int index = info.getFieldIndex(name);
            if (index < 0) {
                throw new IllegalArgumentException("the rows have no field " + name);
            }
            return index;
        }
    }

    /** The entity's pseudonym, or "~" and the user id for a row without one (no state touched). */
    static final class EntityKey implements KeySelector<Row, String> {
        private static final long serialVersionUID = 1L;
        private final int key;
        private final int user;

        EntityKey(int key, int user) {
            this.key = key;
            this.user = user;
        }

        @Override
        public String getKey(Row row) {
            Object entity = row.getField(key);
            return entity == null || ((String) entity).isEmpty() ? NO_ENTITY + row.getField(user) : (String) entity;
        }
    }

    /** One entity type's keyed step: the sketch kept as its bytes in one value, expiring as the Python step's. */
    static final class TrackEntityFigures extends KeyedProcessFunction<String, Row, Row> {
        private static final long serialVersionUID = 1L;
        private final String entityType;
        private final Fields fields;
        private final long ttlSeconds;
        private transient ValueState<byte[]> sketchState;
        private transient Counter entityEvents;
        private transient Counter resetUnreadable;

        TrackEntityFigures(String entityType, Fields fields, long ttlSeconds) {
            this.entityType = entityType;
            this.fields = fields;
            this.ttlSeconds = ttlSeconds;
        }

        @Override
        public void open(OpenContext context) {
            ValueStateDescriptor<byte[]> descriptor =
                new ValueStateDescriptor<>("entity_sketch", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
            descriptor.enableTimeToLive(
                StateTtlConfig.newBuilder(Duration.ofSeconds(ttlSeconds))  // udfs/user_history.py's state_ttl
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .disableCleanupInBackground()
                    .cleanupIncrementally(1, false)
                    .build());
            sketchState = getRuntimeContext().getState(descriptor);
            MetricGroup metrics = getRuntimeContext().getMetricGroup().addGroup("shopguard");
            entityEvents = metrics.counter("entity_events");
            resetUnreadable = metrics.counter("state_reset_unreadable");
        }

        @Override
        public void processElement(Row row, Context ctx, org.apache.flink.util.Collector<Row> out) throws Exception {
            Object entity = row.getField(fields.key);
            if (entity == null || ((String) entity).isEmpty()) {
                out.collect(row);
                return;
            }
            entityEvents.inc();
            EntitySketch sketch;
            try {
                sketch = EntitySketch.fromBytes(sketchState.value());
            } catch (IllegalArgumentException unreadable) {
                resetUnreadable.inc();
                sketch = new EntitySketch();
            }
            Object item = row.getField(fields.item);
            Object isNew = row.getField(fields.accountNew);
            double[] figures = sketch.observe(
                (String) row.getField(fields.user),
                (String) row.getField(fields.eventType),
                ((Number) row.getField(fields.eventTs)).longValue(),
                item == null ? "" : (String) item,
                isNew != null && ((Number) isNew).longValue() == 1,
                false);
            sketchState.update(sketch.toBytes());
            for (int f = 0; f < figures.length; f++) {
                row.setField(fields.firstFigure + f, figures[f]);
            }
            out.collect(row);
        }

        @Override
        public String toString() {
            return "TrackEntityFigures(" + entityType + ")";
        }
    }
}
