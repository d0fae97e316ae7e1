"""The detection job's shape with the detection taken out, for the benchmark (:mod:`shopguard.bench.pipeline_floor`).

Graph, as the detection job's (:mod:`shopguard.jobs.detect_job`) but each step doing the least it can::

    user-events (same source and watermarks)
        ▼ key_by(user_id), the id read in Java as the job does (:mod:`shopguard.jobs.user_keying`)
    keep recent codes (keyed Python: reads the record's time, one string of state per user; its own task)
        ▼ Table API
    constant score (pandas UDF), unless --without-pandas-step
        ▼
    discard (blackhole sink)

Run ``python -m shopguard.bench.pipeline_floor_job --config FILE``; ``shopguard bench`` does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, StatementSet, StreamTableEnvironment, TableDescriptor
from pyflink.table.expressions import col
from pyflink.table.udf import udf

from shopguard.bench.pipeline_floor import CODES_ROW, ConstantScore, KeepRecentCodes
from shopguard.config import ShopguardConfig, load_config
from shopguard.jobs.flink_environment import create_environments
from shopguard.jobs.kafka_io import events_source
from shopguard.jobs.user_keying import key_records_by_user
from shopguard.udfs.event_time import event_time_watermarks


def discard() -> TableDescriptor:
    """A sink that drops every row (Flink's ``blackhole`` connector); its columns are those of the table inserted."""
    return TableDescriptor.for_connector("blackhole").build()


def build_floor_job(
    env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, cfg: ShopguardConfig, pandas_step: bool = True
) -> StatementSet:
    """Wire source → key by user → keep recent codes → (constant score) → discard; the caller executes."""
    raw = (
        env.from_source(events_source(cfg), event_time_watermarks(cfg.job), "user-events")
        .uid("source-user-events")
        .name("user-events (Kafka)")
    )
    codes = (
        key_records_by_user(raw, t_env)
        .process(KeepRecentCodes(cfg.job.history_length), output_type=CODES_ROW)
        .uid("keep-recent-codes")
        .name("keep recent codes")
        .disable_chaining()
    )  # as the job's keyed step
    table = t_env.from_data_stream(codes)
    if pandas_step:
        score = udf(ConstantScore(), result_type=DataTypes.DOUBLE(), func_type="pandas")
        table = table.select(col("user_id"), col("event_ts"), score(col("codes")).alias("score"))
    else:
        table = table.select(col("user_id"), col("event_ts"))
    statements = t_env.create_statement_set()
    statements.add_insert(discard(), table)
    return statements


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument(
        "--without-pandas-step", action="store_true", help="leave out the pandas UDF: keyed step straight to the sink"
    )
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    env, t_env = create_environments(cfg)
    build_floor_job(env, t_env, cfg, pandas_step=not args.without_pandas_step).attach_as_datastream()
    print(f"shopguard: pipeline floor job {cfg.job.job_name!r} reading {cfg.topics.events!r}", flush=True)
    env.execute(cfg.job.job_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
