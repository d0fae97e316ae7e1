"""One typed configuration for every shopguard command.

The configuration is a tree of frozen dataclasses. It is read from one TOML file (``--config``),
then adjusted with ``--set section.key=value`` overrides from the command line, and passed down
explicitly: no module reads settings from globals or the environment. The same object is pickled
into the Flink functions, so everything in it is plain data. Each field's comment says what it means
and its trade-off; an unknown setting, a wrong type, a choice outside its list or a number out of its
range (:func:`check`) is refused when the file is loaded, naming the setting and what to use.

Example
-------
>>> cfg = load_config(None, ["kafka.bootstrap_servers=broker:9092", "job.parallelism=2"])
>>> cfg.kafka.bootstrap_servers, cfg.job.parallelism
('broker:9092', 2)
>>> cfg.topics.events
'user-events'
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from shopguard.errors import ShopguardError


class ConfigError(ShopguardError, ValueError):
    """A setting is unknown, or its value has the wrong type or is out of its range; the message names the
    setting and what to use."""


StartingOffsets = Literal["committed-or-earliest", "earliest", "latest"]
ExecutionMode = Literal["thread", "process"]
StateBackend = Literal["hashmap", "rocksdb"]
RestartStrategy = Literal["fixed-delay", "exponential-delay", "cluster"]
DeliveryGuarantee = Literal["exactly-once", "at-least-once"]
Decision = Literal["fisher_real", "logistic"]
EntityEngine = Literal["java", "python"]


def _default_cache_dir() -> str:
    return str(Path.home() / ".cache" / "shopguard")


@dataclass(frozen=True)
class Versions:
    """Component versions that must match each other.

    apache-flink 2.2.1 is the newest PyFlink minor with a released Kafka connector built for it
    (``flink-sql-connector-kafka`` 5.0.0-2.2; nothing is released for 2.3 yet). The broker runs
    Kafka 4.2.0, the kafka-clients version that connector is built against.
    """

    flink: str = "2.2.1"  # PyFlink and the Flink distribution; the Kafka connector must be built for this minor
    flink_kafka_connector: str = "5.0.0-2.2"  # the flink-sql-connector-kafka release for that Flink minor
    # the embedded broker's Kafka release; the kafka-clients version the connector is built against
    kafka: str = "4.2.0"
    scala: str = "2.13"  # Scala build of the Kafka broker jars


@dataclass(frozen=True)
class BrokerSettings:
    """The embedded single-node KRaft broker that ``shopguard kafka start`` runs on loopback."""

    host: str = "127.0.0.1"  # address the embedded broker listens on; loopback keeps it private to this machine
    port: int = 19092  # client port of the embedded broker (kafka.bootstrap_servers must point at it)
    controller_port: int = 19093  # KRaft controller port of the embedded broker
    data_dir: str = ""  # empty: <cache_dir>/kafka-data
    heap: str = "512m"  # JVM heap of the broker; more holds larger batches in memory, less leaves room for Flink
    start_timeout_s: float = 60.0  # how long `kafka start` waits for the broker to answer before it gives up


@dataclass(frozen=True)
class KafkaSettings:
    """How the job and the tools reach Kafka.

    ``client_properties`` pass through unchanged to every Kafka client (the Flink source and sink,
    kafka-python producers and consumers): put ``security.protocol``, ``sasl.mechanism``,
    ``sasl.jaas.config``, ``ssl.truststore.location`` and the like here, never in code.
    """

    bootstrap_servers: str = "127.0.0.1:19092"  # comma-separated host:port of your Kafka cluster
    consumer_group: str = "shopguard-detect"  # the job's consumer group; a new name re-reads from starting_offsets
    # where the job starts without committed offsets: committed-or-earliest (resume, else replay all), earliest (replay
    # all), latest (only new events)
    starting_offsets: StartingOffsets = "committed-or-earliest"
    # passed unchanged to every Kafka client (Flink source and sinks, Python tools): security.protocol, sasl.*, ssl.*;
    # secrets by ${file:...} references
    client_properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    """Kafka topic names; every job, tool and test reads them from here."""

    events: str = "user-events"  # input topic of canonical user events, keyed by user_id
    alerts: str = "behavior-alerts"  # output topic of alerts; consumers read with isolation.level=read_committed
    dead_letters: str = "user-events-dlq"  # records the job rejected, each with a reason
    late: str = "user-events-late"  # events that arrived later than job.allowed_lateness_ms
    scores: str = ""  # every scored event (event_id, user_id, event_ts, score, model_version); empty: not written
    risk_signals: str = "user-risk-signals"  # churn-risk signals (key user_id), for retention teams, not the fraud desk
    feedback: str = "alert-feedback"  # analysts' verdicts on alerts (key user_id), read by shopguard retrain
    rules: str = "detection-rules"  # declarative detection rules (key rule id, compacted), read by the job
    partitions: int = 2  # used when shopguard creates the topics
    replication_factor: int = 1  # likewise; use 3 on a production cluster


@dataclass(frozen=True)
class ValidationSettings:
    """Limits that decide which input records go to the dead-letter topic."""

    # larger records are dead-lettered as oversized; bounds the memory a bad producer can take
    max_event_bytes: int = 65536
    min_event_time_ms: int = 946684800000  # 2000-01-01T00:00:00Z: anything earlier is a broken clock
    max_future_skew_ms: int = 86400000  # events more than a day ahead of the wall clock are rejected
    max_field_chars: int = 256  # longer string fields are dead-lettered; bounds state and alert size


@dataclass(frozen=True)
class PrivacySettings:
    """What the job lets out about a user's network and device.

    With ``hash_identifiers`` on, ``ip`` and ``device_id`` in dead letters and late events (the topics
    that carry input records back out) are replaced by keyed hashes, ``"h:"`` and 16 hex digits: equal
    identifiers stay equal, so an analyst can still group by them, but the raw values do not leave the
    job (see :mod:`shopguard.udfs.identifier_hashing`). The key (salt) is never in this file: it is read
    from the environment variable named by ``salt_env`` where the job is built, and shipped with the job.
    """

    # replace ip and device_id in dead letters and late events by keyed hashes; off only where raw identifiers may leave
    # the job
    hash_identifiers: bool = True
    salt_env: str = "SHOPGUARD_ID_SALT"  # unset: a public default salt, with a warning at job start


@dataclass(frozen=True)
class JobSettings:
    """The detection job on Flink."""

    # parallel instances of each operator; at most topics.partitions. More uses more cores and memory, and pays only
    # with more cores; a TaskManager's Python steps share one interpreter, so give each TaskManager one slot
    parallelism: int = 1
    # thread: Python in the TaskManager's JVM (fast keyed state, one GIL per TaskManager); process: separate Python
    # workers
    python_execution_mode: ExecutionMode = "thread"
    checkpoint_interval_ms: int = 10000  # 0: checkpointing off (then alerts are written at-least-once)
    checkpoint_dir: str = ""  # empty: <cache_dir>/checkpoints; on a cluster, a path or URL every node sees
    # hashmap: state on the heap (fast, bounded by memory); rocksdb: state on local disk (larger, slower)
    state_backend: StateBackend = "hashmap"
    # fixed-delay: give up after restart_attempts; exponential-delay: wait longer after each failure, rides out long
    # outages; cluster: the cluster's configuration decides
    restart_strategy: RestartStrategy = "fixed-delay"
    restart_attempts: int = 3  # fixed-delay restarts before the job fails for good
    restart_delay_ms: int = 5000  # fixed-delay: the wait before each restart
    restart_backoff_initial_ms: int = 1000  # exponential-delay: the first wait, multiplied after each failure
    restart_backoff_max_ms: int = 60000  # exponential-delay: the longest wait
    restart_backoff_multiplier: float = 2.0  # exponential-delay: growth of the wait after each failure (at least 1)
    restart_backoff_jitter: float = 0.1  # exponential-delay: waits vary by this share, so restarts spread out
    restart_backoff_reset_ms: int = 3600000  # exponential-delay: running this long resets the wait (and the attempts)
    restart_backoff_attempts: int = (
        0  # exponential-delay: restarts before the job fails, counted since the last reset; 0: no limit
    )
    # Kafka sinks when checkpointing is on: exactly-once (transactions, alerts visible at checkpoints) or at-least-once
    # (sooner, duplicates possible)
    delivery_guarantee: DeliveryGuarantee = "exactly-once"
    transaction_timeout_ms: int = 900000  # Kafka producer transactions; at most the broker's transaction.max.timeout.ms
    max_out_of_orderness_ms: int = 10000  # watermark = newest event time seen - this
    allowed_lateness_ms: int = 60000  # events older than watermark - this go to topics.late
    idle_source_timeout_ms: int = 30000  # a partition without events for this long stops holding the watermark
    dedup_window_events: int = 64  # event ids remembered per user to drop duplicates
    session_gap_ms: int = 30 * 60 * 1000  # session features only: without a session_id, a gap this long starts a
    # new session. Behaviour tokens and the simulators keep their visit at encoding.VISIT_GAP_S (30 min, an edge of
    # the event code's gap buckets): a test keeps this default equal to it
    history_length: int = 32  # L: events per user the model sees
    recent_event_ids: int = 8  # event ids kept per user to explain an alert (the events occluded)
    # per-user state of users silent this long is dropped; longer remembers returning users, costs state
    state_ttl_s: int = 7 * 24 * 3600
    alert_cooldown_ms: int = 30 * 60 * 1000  # event time; one open alert per user, updated within this gap
    alert_update_min_gain: float = 0.05  # an open alert is re-sent when its score rises by this much
    # At parallelism > 1 a crossing waits this long (processing time) before its cool-down is decided, so that a
    # user's crossings that overtook each other in the entity steps are decided in event-time order: alert latency
    # against replays that agree with the stream. -1: decide when the input ends (what `shopguard detect` uses).
    alert_hold_ms: int = 2000
    arrow_batch_size: int = 1000  # rows per vectorized scoring call
    bundle_size: int = 1000  # records per Python bundle; rows reach the scoring worker when a bundle ends
    # Rows reach the pandas scoring worker only when a bundle ends (PyFlink leaves Beam's outbound buffer
    # without a time limit), so this bounds latency under light load; shorter bundles cost throughput.
    bundle_time_ms: int = 100
    # Longest a record waits in a network buffer between two tasks before the buffer is sent anyway
    # (Flink's default is 100 ms): lower latency against more, smaller network sends.
    buffer_timeout_ms: int = 10
    model_path: str = ""  # empty: the registry's current model, else the shipped default model (udfs/default-model)
    model_poll_interval_s: float = 10.0  # how often the scoring step looks for a new current model
    # onnxruntime intra-op threads per scoring process; more than 1 competes with Flink's own threads
    onnx_threads: int = 1
    # Flink job name; also the prefix of the Kafka transactional ids, so two jobs on one cluster need two names
    job_name: str = "shopguard-detect"
    prometheus_ports: str = "9249-9259"  # Flink's Prometheus reporter; empty: no reporter
    # Tests only: the keyed step sleeps this long before it reads each record, so the job drains at most
    # 1,000,000 / N events/s on any machine (the backpressure fault test overloads it on purpose). 0: off.
    debug_throttle_us: int = 0
    # The source's stream watermark passes the keying step to the user and churn steps, so churn timers fire in
    # the live job (Kafka records have timestamps; off, they fire only at the end of a bounded input)
    event_time_timers: bool = True


@dataclass(frozen=True)
class DataSettings:
    """Where the real e-commerce data lives (relative paths are relative to the working directory)."""

    # the real Taobao slice the demo replays and the simulators are calibrated on (relative to the working directory)
    taobao_csv: str = "../shared/data/taobao_user_behavior_slice.csv"
    fraud_data_csv: str = "../shared/data/fraud_data_subset.csv"  # shopguard evaluate --dataset fraud-data


@dataclass(frozen=True)
class TrainingSettings:
    """The labelled data models are trained and evaluated on, and how they are judged."""

    simulated_users: int = 30000  # simulated users for the sequence models; more trains longer and better
    span_days: float = 3.0  # simulated users' first events spread over this many days (for the time split)
    abused_share: float = 0.03  # share of simulated users given an abuse pattern
    subtle_share: float = 0.5  # share of abuse that is the subtle variant of its type
    train_share: float = 0.6  # share of the time span used for training
    # share of the time span used for calibration and the combiner; the rest is the test split
    validation_share: float = 0.2
    target_alert_rate: float = 0.001  # share of normal users the operating threshold may flag
    # how a trained folder decides (docs/detection.md, "One decision"): fisher_real pools each detector's rarity
    # among simulated and real shoppers and learns no abuse labels, so it holds better on abuse it was never
    # shown; logistic learns weights from the simulated abuse, and catches more of the families it was fitted on
    decision: Decision = "fisher_real"
    seed: int = 7  # seed of the simulation and training; other seeds check that a result is not one simulation's luck
    report_dir: str = "reports/evaluation"  # where evaluate writes its reports
    # returning shoppers (weeks of history per user) for per-user detectors: training/returning_data.py
    returning_users: int = 3000
    returning_days: float = 28.0  # history, then validation, then test (the rest)
    returning_profile_days: float = 14.0  # the history profiles are mined from: normal only
    returning_validation_days: float = 7.0  # days after the profile period used to fit the combiner
    returning_abused_share: float = 0.1  # of the users, abused in validation; as many others in test


@dataclass(frozen=True)
class RegistrySettings:
    """Where published models live: a local folder or any fsspec URL (empty: <cache_dir>/registry)."""

    # a local folder or any fsspec URL (s3://..., with its backend installed) that the trainer writes and every
    # TaskManager reads; empty: <cache_dir>/registry
    url: str = ""


@dataclass(frozen=True)
class DemoSettings:
    """Demo traffic for ``shopguard produce`` and ``shopguard demo``."""

    speedup: float = 60.0  # how much faster than real time the demo replays the Taobao slice
    max_events: int = 0  # 0: the whole file
    abnormal_users: int = 6  # blunt abnormal users mixed into the demo traffic
    seed: int = 7  # seed of the demo's abnormal users


@dataclass(frozen=True)
class ConsoleSettings:
    """The review console of ``shopguard console``: a web page where analysts read alerts and judge them."""

    host: str = "127.0.0.1"  # loopback: only this machine; "0.0.0.0" serves every network (put a login in front)
    port: int = 8765  # port of the review console
    analyst: str = ""  # the name verdicts are signed with; empty: the operating-system user running the console
    max_alerts: int = 10000  # alerts held in memory (the newest); older ones leave the console, not the topic
    refresh_ms: int = 1000  # how often an open page asks for new alerts


@dataclass(frozen=True)
class ClusterSettings:
    """The standalone Flink session cluster that ``shopguard cluster start`` runs on loopback.

    One JobManager and one TaskManager from the distribution the ``apache-flink`` wheel ships (the
    Flink home of :func:`shopguard.local.flink_home.flink_home`). Its configuration, logs, pid
    files live in ``data_dir``. Checkpoint storage and the state backend are the job's own settings
    (``[job]``, sent with each submission); the metrics reporter belongs to the cluster's processes,
    so on a session cluster ``cluster.prometheus_ports`` applies and ``job.prometheus_ports`` does not.
    """

    rest_port: int = 8081  # REST API and web UI on 127.0.0.1
    jobmanager_rpc_port: int = 6123  # JobManager RPC port of the session cluster
    # One slot per TaskManager, several TaskManagers: all thread-mode Python of a TaskManager runs in one
    # embedded interpreter, so its operators share one GIL (docs/benchmarks.md compares the layouts).
    taskmanagers: int = 2
    # slots per TaskManager; one slot each keeps every thread-mode operator on its own interpreter
    taskmanager_slots: int = 1
    jobmanager_memory: str = "1024m"  # jobmanager.memory.process.size
    taskmanager_memory: str = "2048m"  # taskmanager.memory.process.size (Python workers use its managed memory)
    prometheus_ports: str = "9249-9259"  # the JobManager's and the TaskManager's reporters; empty: none
    heartbeat_interval_ms: int = 2000  # heartbeat.interval; Flink's default is 10 s, loopback needs less
    heartbeat_timeout_ms: int = (
        10000  # heartbeat.timeout: a silent TaskManager is declared lost after this (Flink: 50 s)
    )
    data_dir: str = ""  # empty: <cache_dir>/flink-cluster
    start_timeout_s: float = 90.0  # how long `cluster start` waits for the daemons and slots
    submit_timeout_s: float = 180.0  # how long `cluster submit` waits for the job to run


@dataclass(frozen=True)
class PatternSettings:
    """The per-user normal-behaviour pattern detector (:mod:`shopguard.udfs.pattern_matching`).

    Sequences of ``min_length``..``max_length`` behaviour tokens are mined from each user's history
    (``shopguard train``) and matched online. ``min_idf`` holds one threshold per length, in order:
    sequences whose IDF is below it are performed by too many users to say who this is, and are skipped.
    """

    enabled: bool = True  # run the pattern detector; off, the combiner's fallback decides without it
    min_length: int = 1  # shortest token sequence mined and matched
    max_length: int = 3  # at most 5: a sequence id packs five 12-bit tokens into 63 bits
    min_idf: tuple[float, ...] = (3.0, 5.0, 6.5)  # one per length from min_length; the last one for longer
    recent_events: int = 4  # the score is an IDF-weighted moving share over about this many events
    population_min_share: float = 0.01  # sequences this share of users perform form the population profile
    min_profile_events: int = 30  # fewer events in a user's history: blend in the population profile
    max_history_events: int = 5000  # mining reads at most a user's newest N events (bounded memory)
    max_profile_sequences: int = 512  # kept per user, by count x IDF
    max_idf_sequences: int = 500_000  # kept in the IDF table, the most common first; rarer ones count as unseen
    profile_cache_sequences: int = 2_000_000  # profile sequences held in memory per scoring process
    learned_capacity: int = 24  # online extension: sequences remembered per user in keyed state
    learn_min_sessions: float = 2.0  # seen in this many sessions (with decay) before it counts as the user's
    learn_half_life_days: float = 14.0  # half-life of what was learned online
    learn_max_score: float = 0.3  # only behaviour whose pattern score stays below this is learned


@dataclass(frozen=True)
class ChurnSettings:
    """The churn watch in the keyed step (:mod:`shopguard.udfs.churn_watch`): silence and refund climbs per user.

    A user's silence threshold is the largest of the silence their own gaps make as unlikely as
    ``exp(-silence_factor)`` (a prior worth ``prior_visits`` gaps of ``default_visit_gap_days`` while they have
    few visits; :func:`~shopguard.udfs.churn_watch.silence_quantile_ms`), ``longest_gap_factor`` x their
    longest gap so far, and ``min_silence_days``.
    """

    enabled: bool = True  # watch for churn, send risk signals to topics.risk_signals; off: no churn record, no timers
    min_visits: int = 2  # silence timers start at a user's second visit: one visit shows no cadence
    default_visit_gap_days: float = 3.5  # population default for new users: an assumption (2 visits a week)
    prior_visits: float = 3.0  # how many gaps the population default weighs in a user's usual gap
    # a silence is unusual once the user's own gaps make it as unlikely as exp(-this); lower warns earlier, with more
    # false alarms (holidays)
    silence_factor: float = 3.0
    longest_gap_factor: float = 1.5  # ... and at least this many times the user's longest gap so far
    min_silence_days: float = 7.0  # ... and at least this long: nobody is at risk after a few quiet days
    timer_tolerance_ms: int = 6 * 3600 * 1000  # a registered deadline this much later than needed is kept
    thinning_gaps: int = 2  # visits thinning out: this many latest gaps between visits (at most 3) ...
    thinning_factor: float = 2.5  # ... each at least this many times the user's usual gap
    min_thinning_visits: int = 6  # visits before thinning is judged (a usual gap needs a few)
    refund_window_purchases: int = 5  # "recent" refund requests: since the 5th-newest purchase
    min_refunds: int = 3  # at least this many recent refund requests ...
    refund_climb_factor: float = 3.0  # ... at this many times the user's earlier refund rate (at least 5%)
    state_ttl_s: int = 180 * 24 * 3600  # the churn record outlives job.state_ttl_s: deadlines fall weeks later
    max_clock_skew_ms: int = 86_400_000  # no timer for an event older than the stream watermark by more than this
    rule_version: str = "churn-rules-2"  # named in every signal and in its id; change it when the rule changes


@dataclass(frozen=True)
class EntitySettings:
    """Entity streams (:mod:`shopguard.udfs.entity_streams`): figures per device and per IP across accounts,
    and ring alerts (:mod:`shopguard.udfs.entity_rings`)."""

    enabled: bool = True  # off: no entity steps in the job; the entity figures are NaN, the entities detector is off
    # "java": the device and IP steps run in Java (udfs/java, built by `shopguard jars`), a fraction of the Python
    # steps' cost per event; "python": the Python steps (udfs/entity_streams.py), the reference the Java ones are
    # tested against, for a Flink without the jar (docs/operations.md: switching engines and savepoints)
    engine: EntityEngine = "java"
    state_ttl_s: int = 31 * 24 * 3600  # an entity's sketch expires this long after its last event (> the 30-day window)
    ring_alerts: bool = True  # ring alerts (alert_kind "ring") on the alerts topic
    ring_min_accounts_device: int = 3  # accounts acting together on one device that make a ring (docs/detection.md)
    ring_min_accounts_ip: int = 6  # the same on one IP (households share an IP more than a device)
    ring_min_share: float = 0.5  # ... and at least this share of the entity's accounts in the last 3 days
    ring_crowd_accounts_30d: int = (
        500  # an entity with more accounts in 30 days is a crowd (NAT, office): no ring alert
    )
    ring_max_named_accounts: int = 50  # accounts a ring alert names at most
    ring_min_failing_device: int = 2  # accounts each failing >= 2 payments on one device that make a ring
    ring_min_failing_ip: int = 3  # the same on one IP
    item_alerts: bool = True  # the item step: accounts giving one item the same extreme rating (udfs/item_reviews.py)
    item_min_accounts: int = 5  # accounts that gave an item the same extreme rating within 3 days, at least
    item_max_tail_probability: float = 1e-6  # ... a count this improbable given the item's past (Poisson tail)
    item_burst_ratio: float = 10.0  # ... and at least this many times what the item's past expects


@dataclass(frozen=True)
class ShopguardConfig:
    """Everything a shopguard command needs, in one object."""

    # jars, Flink home, checkpoints, logs and the default registry; put it on a disk with a few GB free
    cache_dir: str = field(default_factory=_default_cache_dir)
    versions: Versions = field(default_factory=Versions)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: Topics = field(default_factory=Topics)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    job: JobSettings = field(default_factory=JobSettings)
    data: DataSettings = field(default_factory=DataSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    patterns: PatternSettings = field(default_factory=PatternSettings)
    entities: EntitySettings = field(default_factory=EntitySettings)
    churn: ChurnSettings = field(default_factory=ChurnSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    @property
    def registry_url(self) -> str:
        """The registry root, defaulting to ``<cache_dir>/registry``."""
        return self.registry.url or str(Path(self.cache_dir) / "registry")

    def with_overrides(self, overrides: Sequence[str]) -> "ShopguardConfig":
        """Return a copy with ``section.key=value`` overrides applied (values parsed as TOML)."""
        tree = to_dict(self)
        for item in overrides:
            path, value = _parse_override(item)
            _assign(tree, path, value, origin=f"--set {item}")
        return from_dict(tree, origin="--set")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The configuration as nested plain dicts (for printing, pickling or TOML round trips)."""
    return {
        f.name: (to_dict(v) if dataclasses.is_dataclass(v) else _plain(v))
        for f in dataclasses.fields(cfg)
        for v in [getattr(cfg, f.name)]
    }


def to_toml(cfg: ShopguardConfig) -> str:
    """The configuration as a TOML document that :func:`load_config` reads back unchanged."""
    lines: list[str] = []
    tree = to_dict(cfg)
    for key, value in tree.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for section, values in tree.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def from_dict(tree: Mapping[str, Any], origin: str = "configuration") -> ShopguardConfig:
    """Build a :class:`ShopguardConfig` from nested dicts; unknown keys, wrong types and values out of range
    (:func:`check`) are errors."""
    return check(_build(ShopguardConfig, tree, prefix="", origin=origin), origin)


SEQUENCE_LENGTH_LIMIT = 5  # patterns.max_length: a sequence id packs five 12-bit tokens into 63 bits
THINNING_GAPS_LIMIT = 3  # churn.thinning_gaps: the churn record keeps the user's three latest gaps


def check(cfg: ShopguardConfig, origin: str = "configuration") -> ShopguardConfig:
    """``cfg`` when every setting holds a value shopguard can run with, else a :class:`ConfigError` naming
    the first setting that does not, its value and what to use instead.

    >>> check(ShopguardConfig()) == ShopguardConfig()
    True
    >>> check(dataclasses.replace(ShopguardConfig(), job=JobSettings(parallelism=0)), "prod.toml")
    Traceback (most recent call last):
    ...
    shopguard.config.ConfigError: prod.toml: job.parallelism = 0: use 1 or more (useful up to topics.partitions)
    """
    for setting, holds, advice in _ranges(cfg):
        if not holds:
            section, key = setting.split(".")
            raise ConfigError(f"{origin}: {setting} = {getattr(getattr(cfg, section), key)!r}: {advice}")
    return cfg


def _ranges(cfg: ShopguardConfig) -> list[tuple[str, bool, str]]:
    """(setting, whether its value is in range, what to use) for every setting with a range."""
    job, topics, training, patterns, entities = cfg.job, cfg.topics, cfg.training, cfg.patterns, cfg.entities
    validation, churn = cfg.validation, cfg.churn
    share = "use a share between 0 and 1"
    ring = "use 2 or more: a ring is several accounts"
    return [
        ("validation.max_event_bytes", validation.max_event_bytes >= 1, "use 1 or more bytes"),
        ("validation.max_field_chars", validation.max_field_chars >= 1, "use 1 or more characters"),
        ("validation.max_future_skew_ms", validation.max_future_skew_ms >= 0, "use 0 or more milliseconds"),
        ("job.state_ttl_s", job.state_ttl_s >= 1, "use 1 or more seconds"),
        ("job.dedup_window_events", job.dedup_window_events >= 1, "use 1 or more event ids"),
        ("job.parallelism", job.parallelism >= 1, "use 1 or more (useful up to topics.partitions)"),
        ("job.checkpoint_interval_ms", job.checkpoint_interval_ms >= 0, "use 0 (off) or more milliseconds"),
        ("job.restart_attempts", job.restart_attempts >= 0, "use 0 (never restart) or more"),
        ("job.restart_delay_ms", job.restart_delay_ms >= 0, "use 0 or more milliseconds"),
        (
            "job.restart_backoff_initial_ms",
            0 < job.restart_backoff_initial_ms <= job.restart_backoff_max_ms,
            f"use more than 0 and at most job.restart_backoff_max_ms ({job.restart_backoff_max_ms})",
        ),
        ("job.restart_backoff_multiplier", job.restart_backoff_multiplier >= 1.0, "use 1 or more"),
        ("job.restart_backoff_jitter", 0.0 <= job.restart_backoff_jitter <= 1.0, share),
        ("job.restart_backoff_reset_ms", job.restart_backoff_reset_ms > 0, "use more than 0 milliseconds"),
        ("job.restart_backoff_attempts", job.restart_backoff_attempts >= 0, "use 0 (no limit) or more"),
        ("job.transaction_timeout_ms", job.transaction_timeout_ms > 0, "use more than 0 milliseconds"),
        ("job.max_out_of_orderness_ms", job.max_out_of_orderness_ms >= 0, "use 0 or more milliseconds"),
        ("job.allowed_lateness_ms", job.allowed_lateness_ms >= 0, "use 0 or more milliseconds"),
        ("job.history_length", job.history_length >= 1, "use 1 or more events (the model's input length)"),
        ("job.arrow_batch_size", job.arrow_batch_size >= 1, "use 1 or more rows"),
        ("job.bundle_size", job.bundle_size >= 1, "use 1 or more records"),
        (
            "job.buffer_timeout_ms",
            job.buffer_timeout_ms >= 0,
            "use 0 (send every record at once) or more milliseconds",
        ),
        (
            "job.alert_hold_ms",
            job.alert_hold_ms >= -1,
            "use 0 (decide at once), more milliseconds, or -1 (at the end of the input, for replays)",
        ),
        ("job.model_poll_interval_s", job.model_poll_interval_s > 0, "use more than 0 seconds"),
        ("job.debug_throttle_us", job.debug_throttle_us >= 0, "use 0 (no throttle) or the microseconds per record"),
        ("topics.partitions", topics.partitions >= 1, "use 1 or more"),
        ("topics.replication_factor", topics.replication_factor >= 1, "use 1 (one broker) or more (3 in production)"),
        ("training.abused_share", 0.0 < training.abused_share < 1.0, "use a share above 0 and below 1"),
        ("training.subtle_share", 0.0 <= training.subtle_share <= 1.0, share),
        (
            "training.validation_share",
            training.train_share > 0
            and training.validation_share > 0
            and training.train_share + training.validation_share < 1.0,
            f"use a share above 0 that leaves a test split: training.train_share ({training.train_share}) + "
            "training.validation_share must stay below 1",
        ),
        ("training.target_alert_rate", 0.0 < training.target_alert_rate < 1.0, "use a share above 0 and below 1"),
        (
            "training.returning_abused_share",
            0.0 < training.returning_abused_share <= 0.5,
            "use a share above 0 and at most 0.5 (as many other users are abused in the test period)",
        ),
        (
            "patterns.max_length",
            1 <= patterns.min_length <= patterns.max_length <= SEQUENCE_LENGTH_LIMIT,
            f"use patterns.min_length ({patterns.min_length}) <= patterns.max_length <= {SEQUENCE_LENGTH_LIMIT}, "
            "and patterns.min_length at least 1",
        ),
        ("patterns.min_idf", len(patterns.min_idf) >= 1, "give one threshold per sequence length (or one for all)"),
        ("entities.ring_min_share", 0.0 <= entities.ring_min_share <= 1.0, share),
        ("entities.state_ttl_s", entities.state_ttl_s >= 1, "use 1 or more seconds"),
        ("entities.ring_min_accounts_device", entities.ring_min_accounts_device >= 2, ring),
        ("entities.ring_min_accounts_ip", entities.ring_min_accounts_ip >= 2, ring),
        ("entities.ring_min_failing_device", entities.ring_min_failing_device >= 2, ring),
        ("entities.ring_min_failing_ip", entities.ring_min_failing_ip >= 2, ring),
        ("entities.item_min_accounts", entities.item_min_accounts >= 2, "use 2 or more: a group is several accounts"),
        ("churn.state_ttl_s", churn.state_ttl_s >= 1, "use 1 or more seconds"),
        (
            "churn.thinning_gaps",
            1 <= churn.thinning_gaps <= THINNING_GAPS_LIMIT,
            f"use 1 to {THINNING_GAPS_LIMIT} gaps (the churn record keeps the {THINNING_GAPS_LIMIT} latest)",
        ),
    ]


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> ShopguardConfig:
    """Read the TOML file at ``path`` (or the defaults when ``None``) and apply ``overrides``."""
    if path is None:
        cfg = ShopguardConfig()
    else:
        path = Path(path)
        try:
            with path.open("rb") as fh:
                tree = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found; pass an existing file to --config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or drop --config") from None
        cfg = from_dict(tree, origin=str(path))
    return cfg.with_overrides(overrides)


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set job.parallelism=2")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare string such as localhost:9092
    return key.strip().split("."), value


def _assign(tree: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node = tree
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"{origin}: unknown setting {'.'.join(path)!r}; {_known(node)}")
        node = node[part]
    if path[-1] not in node:
        raise ConfigError(f"{origin}: unknown setting {'.'.join(path)!r}; {_known(node)}")
    if isinstance(node[path[-1]], dict) and not isinstance(value, dict):
        raise ConfigError(f"{origin}: {'.'.join(path)!r} is a section; set one of its keys instead")
    node[path[-1]] = value


def _known(node: Mapping[str, Any]) -> str:
    """The names known where an unknown setting was given (as :func:`_build` lists them for a file)."""
    return f"known here: {', '.join(sorted(node))}"


def _build(cls: type, tree: Mapping[str, Any], prefix: str, origin: str) -> Any:
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{origin}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown setting {prefix + unknown[0]!r}; known here: {', '.join(sorted(known))}")
    values = {}
    for name, raw in tree.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw, prefix + name + ".", origin)
        else:
            values[name] = _coerce(raw, hint, prefix + name, origin)
    return cls(**values)


def _coerce(value: Any, hint: Any, name: str, origin: str) -> Any:
    origin_type = typing.get_origin(hint)
    if origin_type is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{origin}: {name}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin_type is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{origin}: {name!r} must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item, f"{name}[{i}]", origin) for i, v in enumerate(value))
    if origin_type in (Mapping, dict) or (isinstance(origin_type, type) and issubclass(origin_type, Mapping)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{origin}: {name!r} must be a table of strings")
        return {str(k): str(v) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{origin}: {name!r} must be {hint.__name__}, got {value!r}")
    return value
