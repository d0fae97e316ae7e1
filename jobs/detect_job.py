"""The detection job: Kafka ``user-events`` in, explained alerts and dead letters out.

Graph (every operator has a stable ``uid`` so that state survives upgrades from a savepoint)::

    user-events ─► parse and validate ──(dead letters)──────────────► user-events-dlq
                          │
                          ▼ key_by(user_id)
                   track user history (keyed state: last L event codes)
                          │
                          ▼ Table API
                   score histories (pandas UDF: one ONNX call per Arrow batch)
                          │ score >= the model card's threshold
                          ▼
                   format alert ─────────────────────────────────► behavior-alerts

Run it with ``shopguard run`` (local mini-cluster) or ``python -m shopguard.jobs.detect_job``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pyflink.common import WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, StatementSet, StreamTableEnvironment
from pyflink.table.expressions import col
from pyflink.table.udf import udf

from shopguard.config import ShopguardConfig, load_config
from shopguard.jobs.flink_environment import create_environments
from shopguard.jobs.kafka_io import events_source, keyed_json_sink
from shopguard.training.placeholder_model import write_placeholder_model
from shopguard.training.model_registry import open_registry
from shopguard.udfs.alerts import FormatAlert
from shopguard.udfs.parse_events import DEAD_LETTERS, EVENT_ROW, ParseEvents
from shopguard.udfs.scoring import ModelCard, OnnxModel, ScoreHistories
from shopguard.udfs.user_history import SCORING_ROW, TrackUserHistory


def resolve_model_dir(cfg: ShopguardConfig) -> Path:
    """The model folder to serve: ``job.model_path``, else the registry's current model, else the placeholder."""
    if cfg.job.model_path:
        return Path(cfg.job.model_path)
    registry = open_registry(cfg)
    current = registry.current()
    if current is not None:
        return registry.local_model_dir(current.model_version)
    return write_placeholder_model(Path(cfg.cache_dir) / "models")


def build_detect_job(env: StreamExecutionEnvironment, t_env: StreamTableEnvironment,
                     cfg: ShopguardConfig, model_dir: Path, card: ModelCard) -> StatementSet:
    """Wire the detection graph into ``env``/``t_env``; the caller executes it."""
    raw = env.from_source(events_source(cfg), WatermarkStrategy.no_watermarks(), "user-events") \
        .uid("source-user-events").name("user-events (Kafka)")
    events = raw.process(ParseEvents(cfg.validation), output_type=EVENT_ROW) \
        .uid("parse-events").name("parse and validate")
    dead_letters = events.get_side_output(DEAD_LETTERS)
    histories = events.key_by(lambda row: row[1], key_type=Types.STRING()) \
        .process(TrackUserHistory(cfg.job), output_type=SCORING_ROW) \
        .uid("track-user-history").name("track user history")

    score = udf(ScoreHistories(str(model_dir), cfg.job.history_length, cfg.job.onnx_threads),
                result_type=DataTypes.DOUBLE(), func_type="pandas")
    format_alert = udf(FormatAlert(card), result_type=DataTypes.STRING())
    scored = t_env.from_data_stream(histories).select(col("*"), score(col("codes")).alias("score"))
    alerts = scored.where(col("score") >= card.threshold).select(
        col("user_id"),
        format_alert(col("user_id"), col("session_id"), col("event_id"), col("event_ts"), col("codes"),
                     col("recent_event_ids"), col("score")).alias("payload"))

    statements = t_env.create_statement_set()
    statements.add_insert(keyed_json_sink(cfg, cfg.topics.alerts), alerts)
    statements.add_insert(keyed_json_sink(cfg, cfg.topics.dead_letters), t_env.from_data_stream(dead_letters))
    return statements


def run_detect_job(cfg: ShopguardConfig) -> None:
    """Build the job on this configuration and run it until it is cancelled (blocks)."""
    model_dir = resolve_model_dir(cfg)
    card = OnnxModel.load(model_dir).card  # refuse a broken model before anything starts
    env, t_env = create_environments(cfg)
    statements = build_detect_job(env, t_env, cfg, model_dir, card)
    statements.attach_as_datastream()
    print(f"shopguard: job {cfg.job.job_name!r} reading {cfg.topics.events!r} on {cfg.kafka.bootstrap_servers}, "
          f"model {card.model_version} (threshold {card.threshold}), alerts to {cfg.topics.alerts!r}", flush=True)
    env.execute(cfg.job.job_name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    run_detect_job(load_config(args.config, args.overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
