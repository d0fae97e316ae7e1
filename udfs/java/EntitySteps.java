package shopguard.udfs.entities;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job's device and IP steps in Java: udfs/entity_streams.py's TrackEntity pair, one keyed step per entity type.
 *
 * <p>Scoring rows (udfs/rows.py's SCORING_ROW, a RowTypeInfo with its field names) are keyed by their device
 * pseudonym, then by their IP pseudonym; each entity's {@link EntitySketch} is advanced, its seven figures written
 * into the row's device_* / ip_* columns. With a {@link RingRule}, a step decides whether its entity is a ring at
 * the event (RingWatch's rule, ported): then the device step sets the row's ring_linked to 1, which the IP step
 * reads (it observes the event as linked), and each step sends a ring candidate ({@link #CANDIDATE_FIELDS}) on its
 * side output, for the Python step that writes the ring alert (udfs/ring_alert_step.py). Called from PyFlink through
 * py4j: {@code EntitySteps.apply(rows._j_data_stream, ttl_s, device_rule, ip_rule)}.
 *
 * <p>A savepoint of the Python steps restores here, and the other way round: the same operator uids and names, the
 * same key (PyFlink's key_by keys a stream by a one-field Row holding the key, a STRING, so this does too), the same
 * value state ("entity_sketch", a STRING: the sketch's bytes as latin-1, one char a byte) with the same TTL. The
 * Python steps' open ring alerts ("ring_alert") are not read here.
 *
 * <p>Metrics (group "shopguard"): entity_events, and reset_unreadable in the group state=entity_sketch (the
 * state_reset_unreadable metric: a sketch of another layout, the entity starts over), as the Python steps count.
 */
public final class EntitySteps {
    /** The entity types, in the order of the steps. */
    public static final String[] ENTITY_TYPES = {"device", "ip"};
    /** The step whose ring sets the row's ring_linked for the next one (udfs/entity_streams.py LINKING_ENTITY). */
    static final String LINKING_ENTITY = "device";
    static final String NO_ENTITY = "~";
    /** udfs/entity_sketch.py's FIGURE_NAMES, in order. */
    static final String[] FIGURE_NAMES = {
        "accounts_1h", "accounts_24h", "accounts_30d", "new_accounts_24h", "failed_payments_24h",
        "failed_logins_24h", "same_item_accounts_24h",
    };
    /** A ring candidate's fields: udfs/ring_alert_step.py's RING_CANDIDATE_FIELDS. */
    public static final String[] CANDIDATE_FIELDS = candidateFields();
    /** A ring candidate: entity, sketch STRING, event_id STRING, event_ts LONG, the seven figures DOUBLE. */
    public static final RowTypeInfo CANDIDATE_ROW = candidateRow();

    private final SingleOutputStreamOperator<Row> rows;
    private final List<SingleOutputStreamOperator<Row>> steps;

    private EntitySteps(SingleOutputStreamOperator<Row> rows, List<SingleOutputStreamOperator<Row>> steps) {
        this.rows = rows;
        this.steps = steps;
    }

    /**
     * {@code rows} through the device step, then the IP step; {@code deviceRule} / {@code ipRule} null: no ring
     * decision there (no ring_linked, no candidates), as the Python steps with entities.ring_alerts off.
     */
    public static EntitySteps apply(DataStream<Row> rows, long ttlSeconds, RingRule deviceRule, RingRule ipRule) {
        TypeInformation<Row> type = rows.getType();
        if (!(type instanceof RowTypeInfo)) {
            throw new IllegalArgumentException("the entity steps need rows with named fields, not " + type);
        }
        RowTypeInfo info = (RowTypeInfo) type;
        RingRule[] rules = {deviceRule, ipRule};
        List<SingleOutputStreamOperator<Row>> steps = new ArrayList<>();
        for (int s = 0; s < ENTITY_TYPES.length; s++) {
            String entityType = ENTITY_TYPES[s];
            Fields fields = new Fields(info, entityType);
            SingleOutputStreamOperator<Row> step = rows
                .keyBy(new EntityKey(fields.key, fields.user), KeyedAsPyFlinkKeys.KEY_TYPE)
                .process(new TrackEntity(entityType, fields, ttlSeconds, rules[s]), type)
                .uid("track-" + entityType + "-entities")
                .name("track " + entityType + "s (accounts across users)");
            steps.add(step);
            rows = step;
        }
        return new EntitySteps(steps.get(steps.size() - 1), steps);
    }

    /** The rows, every entity's figures filled (the input's type). */
    public DataStream<Row> rows() {
        return rows;
    }

    /** The ring candidates of the {@code entityType} step ("device" or "ip"): {@link #CANDIDATE_ROW}. */
    public DataStream<Row> ringCandidates(String entityType) {
        for (int s = 0; s < ENTITY_TYPES.length; s++) {
            if (ENTITY_TYPES[s].equals(entityType)) {
                return steps.get(s).getSideOutput(candidatesTag(entityType));
            }
        }
        throw new IllegalArgumentException("entity type " + entityType + ": use device or ip");
    }

    static OutputTag<Row> candidatesTag(String entityType) {
        return new OutputTag<>("ring-candidates-" + entityType, CANDIDATE_ROW);
    }

    private static String[] candidateFields() {
        String[] names = new String[4 + FIGURE_NAMES.length];
        names[0] = "entity";
        names[1] = "sketch";
        names[2] = "event_id";
        names[3] = "event_ts";
        System.arraycopy(FIGURE_NAMES, 0, names, 4, FIGURE_NAMES.length);
        return names;
    }

    private static RowTypeInfo candidateRow() {
        TypeInformation<?>[] types = new TypeInformation<?>[CANDIDATE_FIELDS.length];
        types[0] = Types.STRING;
        types[1] = Types.STRING;
        types[2] = Types.STRING;
        types[3] = Types.LONG;
        for (int f = 4; f < types.length; f++) {
            types[f] = Types.DOUBLE;
        }
        return new RowTypeInfo(types, CANDIDATE_FIELDS);
    }

    /** For the unit tests: the candidate row's fields, one a line, name and type tab-separated. */
    public static void main(String[] args) {
        for (int f = 0; f < CANDIDATE_FIELDS.length; f++) {
            System.out.println(CANDIDATE_FIELDS[f] + "\t" + CANDIDATE_ROW.getTypeAt(f));
        }
    }

    /** The sketch's bytes as the state keeps them: latin-1 text, one char a byte. */
    static String latin1(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    /** The bytes of a stored value; IllegalArgumentException for a char past 0xFF (Python: UnicodeEncodeError). */
    static byte[] latin1Bytes(String stored) {
        byte[] bytes = new byte[stored.length()];
        for (int i = 0; i < bytes.length; i++) {
            char c = stored.charAt(i);
            if (c > 0xFF) {
                throw new IllegalArgumentException("a stored sketch holds a char past latin-1");
            }
            bytes[i] = (byte) c;
        }
        return bytes;
    }

    /** Where the step reads and writes in the row. */
    static final class Fields implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final int key;
        final int user;
        final int eventId;
        final int eventType;
        final int eventTs;
        final int item;
        final int accountNew;
        final int ringLinked;
        final int firstFigure;

        Fields(RowTypeInfo info, String entityType) {
            key = index(info, entityType + "_key");
            user = index(info, "user_id");
            eventId = index(info, "event_id");
            eventType = index(info, "event_type");
            eventTs = index(info, "event_ts");
            item = index(info, "item_id");
            accountNew = index(info, "account_new");
            ringLinked = index(info, "ring_linked");
            firstFigure = index(info, entityType + "_" + FIGURE_NAMES[0]);
            for (int f = 1; f < EntitySketch.FIGURES; f++) {
                if (!info.getFieldNames()[firstFigure + f].equals(entityType + "_" + FIGURE_NAMES[f])) {
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

    /** The entity's pseudonym, or "~" and the user id for a row without one (no state touched), in a one-field Row. */
    static final class EntityKey implements KeySelector<Row, Row> {
        private static final long serialVersionUID = 1L;
        private final int key;
        private final int user;

        EntityKey(int key, int user) {
            this.key = key;
            this.user = user;
        }

        @Override
        public Row getKey(Row row) {
            Object entity = row.getField(key);
            boolean none = entity == null || ((String) entity).isEmpty();
            return KeyedAsPyFlinkKeys.key(none ? NO_ENTITY + row.getField(user) : entity);
        }
    }

    /** One entity type's keyed step: the sketch kept as latin-1 text in one value, expiring as the Python step's. */
    static final class TrackEntity extends KeyedProcessFunction<Row, Row, Row> {
        private static final long serialVersionUID = 1L;
        private static final Logger LOG = LoggerFactory.getLogger(EntitySteps.class);
        private static final AtomicBoolean LOGGED = new AtomicBoolean();
        private final String entityType;
        private final Fields fields;
        private final long ttlSeconds;
        private final RingRule rule;
        private final boolean links;
        private final OutputTag<Row> candidates;
        private transient ValueState<String> sketchState;
        private transient Counter entityEvents;
        private transient Counter resetUnreadable;

        TrackEntity(String entityType, Fields fields, long ttlSeconds, RingRule rule) {
            this.entityType = entityType;
            this.fields = fields;
            this.ttlSeconds = ttlSeconds;
            this.rule = rule;
            this.links = LINKING_ENTITY.equals(entityType);
            this.candidates = candidatesTag(entityType);
        }

        @Override
        public void open(OpenContext context) {
            ValueStateDescriptor<String> descriptor = new ValueStateDescriptor<>("entity_sketch", Types.STRING);
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
            resetUnreadable = metrics.addGroup("state", "entity_sketch").counter("reset_unreadable");
        }

        @Override
        public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
            Object entity = row.getField(fields.key);
            if (entity == null || ((String) entity).isEmpty()) {
                out.collect(row);
                return;
            }
            entityEvents.inc();
            EntitySketch sketch = read(sketchState.value());
            Object item = row.getField(fields.item);
            long eventTs = ((Number) row.getField(fields.eventTs)).longValue();
            boolean linked = !links && isOne(row.getField(fields.ringLinked));
            double[] figures = sketch.observe(
                (String) row.getField(fields.user),
                (String) row.getField(fields.eventType),
                eventTs,
                item == null ? "" : (String) item,
                isOne(row.getField(fields.accountNew)),
                linked);
            String stored = latin1(sketch.toBytes());
            sketchState.update(stored);
            for (int f = 0; f < figures.length; f++) {
                row.setField(fields.firstFigure + f, figures[f]);
            }
            if (rule != null && rule.isRing(sketch, figures)) {
                if (links) {
                    row.setField(fields.ringLinked, 1L);
                }
                Row candidate = new Row(CANDIDATE_FIELDS.length);
                candidate.setField(0, entity);
                candidate.setField(1, stored);
                candidate.setField(2, row.getField(fields.eventId));
                candidate.setField(3, eventTs);
                for (int f = 0; f < figures.length; f++) {
                    candidate.setField(4 + f, figures[f]);
                }
                ctx.output(candidates, candidate);
            }
            out.collect(row);
        }

        /** The stored sketch, or a fresh one for none or an unreadable one (counted, logged once a process). */
        private EntitySketch read(String stored) {
            if (stored == null || stored.isEmpty()) {
                return new EntitySketch();
            }
            try {
                return EntitySketch.fromBytes(latin1Bytes(stored));
            } catch (IllegalArgumentException unreadable) {
                resetUnreadable.inc();
                if (LOGGED.compareAndSet(false, true)) {
                    LOG.warn("entity_sketch: a stored entity_sketch value is unreadable ({}). It came from another"
                        + " shopguard version (a savepoint or checkpoint taken before an upgrade or after a"
                        + " downgrade): its key starts over with empty state, counted in the metric"
                        + " state_reset_unreadable{state=entity_sketch}; logged once per process. Nothing to do"
                        + " unless this keeps counting after the upgrade: then a writer of another version still"
                        + " runs.", unreadable.toString());
                }
                return new EntitySketch();
            }
        }

        private static boolean isOne(Object value) {
            return value instanceof Number && ((Number) value).doubleValue() == 1.0;
        }

        @Override
        public String toString() {
            return "TrackEntity(" + entityType + (rule == null ? "" : ", " + rule) + ")";
        }
    }
}
