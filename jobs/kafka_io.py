"""Kafka sources and sinks of the detection job, built from configuration (no hosts or topics in SQL)."""

from __future__ import annotations

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.serialization import ByteArraySchema
from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource
from pyflink.table import DataTypes, Schema, TableDescriptor

from shopguard.config import ShopguardConfig

STARTING_OFFSETS = {  # one per choice of kafka.starting_offsets (checked when the configuration is loaded)
    "committed-or-earliest": lambda: KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST),
    "earliest": KafkaOffsetsInitializer.earliest,
    "latest": KafkaOffsetsInitializer.latest,
}


def events_source(cfg: ShopguardConfig) -> KafkaSource:
    """The ``user-events`` source. Values arrive as raw bytes so that the job, not the connector, judges them."""
    return (
        KafkaSource.builder()
        .set_bootstrap_servers(cfg.kafka.bootstrap_servers)
        .set_topics(cfg.topics.events)
        .set_group_id(cfg.kafka.consumer_group)
        .set_starting_offsets(STARTING_OFFSETS[cfg.kafka.starting_offsets]())
        .set_value_only_deserializer(ByteArraySchema())
        .set_properties(dict(cfg.kafka.client_properties))
        .build()
    )


def rules_source(cfg: ShopguardConfig) -> KafkaSource:
    """The ``detection-rules`` source, always from the topic's start: the compacted topic holds every rule in force.

    A restored job resumes from its checkpointed offsets instead, with the rules in its broadcast state.
    """
    return (
        KafkaSource.builder()
        .set_bootstrap_servers(cfg.kafka.bootstrap_servers)
        .set_topics(cfg.topics.rules)
        .set_group_id(f"{cfg.kafka.consumer_group}-rules")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_value_only_deserializer(ByteArraySchema())
        .set_properties(dict(cfg.kafka.client_properties))
        .build()
    )


def rule_watermarks() -> WatermarkStrategy:
    """Watermarks for the rules stream: its record times, and idle after a second without rules, so that the
    rules stream (quiet most of the time) never holds back the event-time watermark of the user step."""
    return WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_seconds(1))


def delivery_guarantee(cfg: ShopguardConfig) -> str:
    """``job.delivery_guarantee``, or at-least-once when checkpointing is off (transactions commit on checkpoints)."""
    return cfg.job.delivery_guarantee if cfg.job.checkpoint_interval_ms > 0 else "at-least-once"


def _kafka_sink(
    cfg: ShopguardConfig, topic: str, schema: Schema, value_format: str, value_fields: str
) -> TableDescriptor:
    guarantee = delivery_guarantee(cfg)
    builder = (
        TableDescriptor.for_connector("kafka")
        .schema(schema)
        .option("topic", topic)
        .option("properties.bootstrap.servers", cfg.kafka.bootstrap_servers)
        .option("key.format", "raw")
        .option("key.fields", "user_id")
        .option("value.format", value_format)
        .option("value.fields-include", value_fields)
        .option("sink.delivery-guarantee", guarantee)
    )
    if guarantee == "exactly-once":
        # Consumers must read with isolation.level=read_committed to see each alert exactly once.
        builder = builder.option("sink.transactional-id-prefix", f"{cfg.job.job_name}-{topic}").option(
            "properties.transaction.timeout.ms", str(cfg.job.transaction_timeout_ms)
        )
    for key, value in cfg.kafka.client_properties.items():
        builder = builder.option(f"properties.{key}", value)
    return builder.build()


def keyed_json_sink(cfg: ShopguardConfig, topic: str) -> TableDescriptor:
    """A Kafka sink for rows ``(user_id, payload)``: key = user_id, value = the JSON payload."""
    schema = Schema.new_builder().column("user_id", DataTypes.STRING()).column("payload", DataTypes.STRING()).build()
    return _kafka_sink(cfg, topic, schema, "raw", "EXCEPT_KEY")


def scores_sink(cfg: ShopguardConfig, topic: str) -> TableDescriptor:
    """A Kafka sink for per-event scores: key = user_id, value = JSON with every score column."""
    schema = (
        Schema.new_builder()
        .column("event_id", DataTypes.STRING())
        .column("user_id", DataTypes.STRING())
        .column("event_ts", DataTypes.BIGINT())
        .column("score", DataTypes.DOUBLE())
        .column("model_version", DataTypes.STRING())
        .build()
    )
    return _kafka_sink(cfg, topic, schema, "json", "ALL")
