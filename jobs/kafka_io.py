"""Kafka sources and sinks of the detection job, built from configuration (no hosts or topics in SQL)."""

from __future__ import annotations

from pyflink.common.serialization import ByteArraySchema
from pyflink.datastream.connectors.kafka import KafkaOffsetResetStrategy, KafkaOffsetsInitializer, KafkaSource
from pyflink.table import DataTypes, Schema, TableDescriptor

from shopguard.config import ShopguardConfig

STARTING_OFFSETS = {
    "committed-or-earliest": lambda: KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST),
    "earliest": KafkaOffsetsInitializer.earliest,
    "latest": KafkaOffsetsInitializer.latest,
}


def events_source(cfg: ShopguardConfig) -> KafkaSource:
    """The ``user-events`` source. Values arrive as raw bytes so that the job, not the connector, judges them."""
    if cfg.kafka.starting_offsets not in STARTING_OFFSETS:
        raise ValueError(f"kafka.starting_offsets = {cfg.kafka.starting_offsets!r}: use one of "
                         f"{', '.join(STARTING_OFFSETS)}")
    return (KafkaSource.builder()
            .set_bootstrap_servers(cfg.kafka.bootstrap_servers)
            .set_topics(cfg.topics.events)
            .set_group_id(cfg.kafka.consumer_group)
            .set_starting_offsets(STARTING_OFFSETS[cfg.kafka.starting_offsets]())
            .set_value_only_deserializer(ByteArraySchema())
            .set_properties(dict(cfg.kafka.client_properties))
            .build())


def keyed_json_sink(cfg: ShopguardConfig, topic: str) -> TableDescriptor:
    """A Kafka sink for rows ``(user_id, payload)``: key = user_id, value = the JSON payload."""
    builder = (TableDescriptor.for_connector("kafka")
               .schema(Schema.new_builder()
                       .column("user_id", DataTypes.STRING())
                       .column("payload", DataTypes.STRING())
                       .build())
               .option("topic", topic)
               .option("properties.bootstrap.servers", cfg.kafka.bootstrap_servers)
               .option("key.format", "raw")
               .option("key.fields", "user_id")
               .option("value.format", "raw")
               .option("value.fields-include", "EXCEPT_KEY")
               .option("sink.delivery-guarantee", cfg.job.delivery_guarantee))
    if cfg.job.delivery_guarantee == "exactly-once":
        builder = builder.option("sink.transactional-id-prefix", f"{cfg.job.job_name}-{topic}")
    for key, value in cfg.kafka.client_properties.items():
        builder = builder.option(f"properties.{key}", value)
    return builder.build()
