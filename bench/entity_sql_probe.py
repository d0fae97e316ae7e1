"""Whether the entity figures computed in Java (Flink SQL OVER windows) cost less than the two thread-mode entity steps.

The job's entity streams (:mod:`shopguard.jobs.entity_keying`) put two keyed Python steps, device then IP, after the
user's keyed step, and the three steps share one Python interpreter. This probe drains the same backlog, at p=1,
through the user's keyed step (:class:`~shopguard.udfs.user_history.TrackUserHistory`, no rules) in each of the
:data:`VARIANTS`, taking turns round by round:

* ``user``: the user step alone, straight to a blackhole sink (the job with ``entities.enabled = false``, without
  scoring);
* ``python_entities``: the user step, then the job's own device and IP steps (and its item step), as the job has them;
* ``sql_range``: the entity figures computed first, in Java, by two Flink SQL OVER windows on the raw records (one
  partitioned by device, the next by IP, each ``RANGE BETWEEN INTERVAL '24' HOUR PRECEDING``), then the user step,
  which writes them into its row (:class:`FiguredUserHistory`): no Python step but the user's;
* ``sql_rows``: the same with ``ROWS BETWEEN n PRECEDING`` (``--rows``), whose state per entity is bounded;
* ``sql_packed``: ``sql_range`` with the eight figures handed to the user step as one text value instead of eight
  columns (``"3,1,0,0,5,2,1,0"``);
* ``sql_none``: the same path without the windows (every figure 0, no re-keying by device or IP): what reading the
  records in SQL and handing the user step nine columns instead of one costs;
* ``java_entities``: the user step, then the device and IP steps written in Java (``udfs/java``:
  ``EntitySteps``, keyed ``KeyedProcessFunction`` s advancing a port of
  :class:`~shopguard.udfs.entity_sketch.EntitySketch` that keeps the same bytes and gives the same seven figures),
  applied from Python through py4j on the user step's Java ``DataStream``; the rows cross as the
  :data:`~shopguard.udfs.rows.SCORING_ROW` ``RowTypeInfo`` both sides name. Without ring rules (no ring decision).

The SQL windows count, per device and per IP, distinct accounts, distinct accounts that signed up there, failed
payments and failed logins (:func:`over_figures_sql`). An event-time OVER window orders rows by their time attribute
and emits a row once the watermark passes it, so the records carry their event time as the Kafka timestamp (the
source's watermarks are per partition, as the job's): the probe produces them so, with event times ending before
now, and a few later events at the end that move the watermark past the backlog. The rate is the slope of the user
step's ``events_to_score`` counter between 10% and 90% of the backlog, as ``shopguard bench`` measures the job.

Run ``python -m shopguard.bench.entity_sql_probe --rounds 3`` (it starts the local Kafka broker; one drain per round
and variant); it prints a JSON line per drain, then the medians and each variant's ratio to ``user``, the median
of each round's ratio beside it. ``java_entities`` compiles its jar first
(:func:`~shopguard.local.java_steps.entity_steps_jar`: ``javac`` of a JDK 17 against the installed PyFlink's jars,
cached by the sources' hash; no network).

>>> "PARTITION BY device" in over_figures_sql("events", "RANGE BETWEEN INTERVAL '24' HOUR PRECEDING AND CURRENT ROW")
True
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

from pyflink.common.typeinfo import Types

from shopguard.local.java_steps import entity_steps_jar
from shopguard.udfs.rows import SCORING_FIELDS
from shopguard.udfs.user_history import TrackUserHistory

PROBE_MODULE = "shopguard.bench.entity_sql_probe"
VARIANTS = ("user", "python_entities", "sql_range", "sql_rows", "sql_packed", "sql_none", "java_entities")
SQL_FIGURES = ("accounts_24h", "new_accounts_24h", "failed_payments_24h", "failed_logins_24h")
"""The entity figures the OVER windows compute (those of :class:`~shopguard.udfs.entity_sketch.EntityFigures` over
24 hours that one window partitioned by the entity can give); the others stay NaN."""
FIGURE_COLUMNS = tuple(f"{entity}_{name}" for entity in ("device", "ip") for name in SQL_FIGURES)
TAIL_USERS, TAIL_AFTER_MS = 32, 3_600_000
"""Events after the backlog, from this many users (so that every partition gets some) this much later: they move the
watermark past the backlog's last events, which an event-time OVER window would otherwise hold back."""


JAVA_STEPS = "shopguard.udfs.entities.EntitySteps"


def java_entity_steps(env, rows, cfg):
    """``rows`` (:data:`~shopguard.udfs.rows.SCORING_ROW`) through the Java device and IP steps (:data:`JAVA_STEPS`,
    without ring rules: no ring decision, as the ``user`` variant has none), their jar added to the job; the same rows,
    figures filled, as a PyFlink ``DataStream``."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    env.add_jars(entity_steps_jar(cfg.cache_dir).resolve().as_uri())
    steps = get_gateway().jvm.shopguard.udfs.entities.EntitySteps
    return DataStream(steps.apply(rows._j_data_stream, cfg.entities.state_ttl_s, None, None).rows())


def over_figures_sql(view: str, frame: str) -> str:
    """The SQL giving each raw record of ``view`` (columns ``f0``, ``rowtime``) its user id and its device's and IP's
    :data:`SQL_FIGURES` over the window ``frame``: two OVER windows, the device's, then the IP's (a streaming SELECT's
    OVER aggregates must all share one window). An event without a device id (or IP) is partitioned by ``~`` and
    its user id, as the job keys it."""
    from shopguard.jobs.user_keying import USER_ID_OF_RECORD

    record = "CAST(f0 AS STRING)"

    def figures(entity: str, window: str) -> str:
        def failures(event_type: str) -> str:
            return f"CAST(SUM(CASE WHEN event_type = '{event_type}' THEN 1 ELSE 0 END) OVER {window} AS BIGINT)"

        return (
            f"COUNT(DISTINCT user_id) OVER {window} AS {entity}_accounts_24h, "
            f"COUNT(DISTINCT CASE WHEN event_type = 'signup' THEN user_id END) OVER {window}"
            f" AS {entity}_new_accounts_24h, "
            f"{failures('payment_failed')} AS {entity}_failed_payments_24h, "
            f"{failures('login_failed')} AS {entity}_failed_logins_24h"
        )

    parsed = (
        f"SELECT f0, rowtime, user_id, event_type,"
        f" COALESCE(JSON_VALUE({record}, '$.device_id'), '~' || user_id) AS device,"
        f" COALESCE(JSON_VALUE({record}, '$.ip'), '~' || user_id) AS ip"
        f" FROM (SELECT f0, rowtime, {USER_ID_OF_RECORD} AS user_id,"
        f" COALESCE(JSON_VALUE({record}, '$.event_type'), '') AS event_type FROM {view})"
    )  # fmt: skip
    by_device = (
        f"SELECT f0, rowtime, user_id, event_type, ip, {figures('device', 'wd')} FROM ({parsed})"
        f" WINDOW wd AS (PARTITION BY device ORDER BY rowtime {frame})"
    )
    device_columns = ", ".join(c for c in FIGURE_COLUMNS if c.startswith("device_"))
    return (
        f"SELECT user_id, f0, {device_columns}, {figures('ip', 'wi')} FROM ({by_device})"
        f" WINDOW wi AS (PARTITION BY ip ORDER BY rowtime {frame})"
    )


def figured_row(values: list, figures: Sequence) -> list:
    """``values`` (one per scoring column) with the device's and IP's :data:`SQL_FIGURES` columns set from
    ``figures`` (in :data:`FIGURE_COLUMNS` order, as floats); the other figure columns are left as they are.

    >>> values = [None] * len(SCORING_FIELDS)
    >>> row = figured_row(values, [3, 1, 0, 0, 5, 2, 1, 0])
    >>> row[SCORING_FIELDS.index("device_accounts_24h")], row[SCORING_FIELDS.index("ip_new_accounts_24h")]
    (3.0, 2.0)
    """
    for name, value in zip(FIGURE_COLUMNS, figures):
        values[_FIGURE_INDEX[name]] = float(value)
    return values


_FIGURE_INDEX = {name: SCORING_FIELDS.index(name) for name in FIGURE_COLUMNS}


class FiguredUserHistory(TrackUserHistory):
    """The user step fed by the SQL windows: each input is the raw record and its entities' figures
    (:data:`FIGURE_COLUMNS`), which the step writes into its row as the entity steps do."""

    def process_element(self, value, ctx):
        self.figures = value[1].split(",") if len(value) == 2 else value[1:]  # sql_packed: one text value
        yield from super().process_element(value[0], ctx)

    def scoring_row(self, event, values: list):
        return super().scoring_row(event, figured_row(values, self.figures))


def build_probe_job(env, t_env, cfg, variant: str, rows: int = 15):
    """Source (per-partition watermarks on the records' Kafka timestamps) → the ``variant``'s graph → discard."""
    from pyflink.table.expressions import call_sql, col

    from shopguard.bench.pipeline_floor_job import discard
    from shopguard.jobs.detect_job import identifier_hashing, model_source
    from shopguard.jobs.entity_keying import track_entities
    from shopguard.jobs.kafka_io import events_source
    from shopguard.jobs.user_keying import (
        USER_ID_OF_RECORD,
        _source_watermark,
        key_records_by_user,
        key_table_by_user,
    )
    from shopguard.udfs.event_time import event_time_watermarks
    from shopguard.udfs.item_step import item_alerts_on
    from shopguard.udfs.rows import PACKED_SCORING_ROW, SCORING_ROW

    raw = (
        env.from_source(events_source(cfg), event_time_watermarks(cfg.job), "user-events")
        .uid("source-user-events")
        .name("user-events (Kafka)")
    )
    python_entities = variant == "python_entities"
    step_args = (cfg.job, cfg.validation, identifier_hashing(cfg), cfg.patterns, model_source(cfg))
    step_kwargs = {"item_facts": python_entities and item_alerts_on(cfg.entities), "packed_rows": python_entities}
    if variant.startswith("sql_"):
        frames = {
            "sql_range": "RANGE BETWEEN INTERVAL '24' HOUR PRECEDING AND CURRENT ROW",
            "sql_packed": "RANGE BETWEEN INTERVAL '24' HOUR PRECEDING AND CURRENT ROW",
            "sql_rows": f"ROWS BETWEEN {rows} PRECEDING AND CURRENT ROW",
        }
        t_env.create_temporary_view("raw_events", t_env.from_data_stream(raw, _source_watermark()))
        if variant == "sql_none":
            zeros = ", ".join(f"CAST(0 AS BIGINT) AS {c}" for c in FIGURE_COLUMNS)
            figured = t_env.sql_query(f"SELECT {USER_ID_OF_RECORD} AS user_id, f0, {zeros} FROM raw_events")
        else:
            figured = t_env.sql_query(over_figures_sql("raw_events", frames[variant]))
        if variant == "sql_packed":
            row_type = Types.ROW_NAMED(["record", "figures"], [raw.get_type(), Types.STRING()])
            packed = call_sql("CONCAT_WS(',', " + ", ".join(f"CAST({c} AS STRING)" for c in FIGURE_COLUMNS) + ")")
            figured = figured.select(col("user_id"), col("f0").alias("record"), packed.alias("figures"))
        else:
            types = [raw.get_type(), *[Types.LONG()] * len(FIGURE_COLUMNS)]
            row_type = Types.ROW_NAMED(["record", *FIGURE_COLUMNS], types)
            figured = figured.select(col("user_id"), col("f0").alias("record"), *[col(c) for c in FIGURE_COLUMNS])
        keyed = key_table_by_user(figured, t_env, row_type)
        step = FiguredUserHistory(*step_args, **step_kwargs)
    else:
        keyed, step = key_records_by_user(raw, t_env), TrackUserHistory(*step_args, **step_kwargs)
    histories = (
        keyed.process(step, output_type=PACKED_SCORING_ROW if python_entities else SCORING_ROW)
        .uid("track-user-history")
        .name("track user history")
        .disable_chaining()
    )
    if python_entities:
        histories, _ring_alerts = track_entities(histories, cfg)
    elif variant == "java_entities":
        histories = java_entity_steps(env, histories, cfg)
    statements = t_env.create_statement_set()
    statements.add_insert(discard(), t_env.from_data_stream(histories))
    return statements


def timed_records(events: int, users: int, now_ms: int) -> list[tuple[str, bytes, int]]:
    """The bench workload's events (:func:`~shopguard.bench.workload.bench_events`) as ``(key, value, Kafka
    timestamp)``, the timestamp being the event's time, the last an hour before ``now_ms``; then the tail
    (:data:`TAIL_USERS` events :data:`TAIL_AFTER_MS` after the last).

    >>> records = timed_records(200, 20, now_ms=10**13)
    >>> len(records), records[199][2] <= 10**13 - 3_600_000 < records[200][2]
    (232, True)
    """
    from shopguard.bench.workload import T0, bench_events

    last_offset_ms = bench_events(events, users)[-1].ts_ms - T0
    backlog = bench_events(events, users, start_ms=now_ms - 3_600_000 - last_offset_ms)
    last = backlog[-1]
    tail = [
        last._replace(event_id=f"tail-{n}", user_id=f"tail-{n}", ts_ms=last.ts_ms + TAIL_AFTER_MS)
        for n in range(TAIL_USERS)
    ]
    return [(e.user_id, e.to_json().encode(), e.ts_ms) for e in backlog + tail]


def drain(cfg, records: list[tuple[str, bytes, int]], events: int, variant: str, rows: int, workdir: Path) -> float:
    """Events/s of the ``variant`` job draining ``records`` (the first ``events`` counted), as
    :func:`shopguard.bench.job.job_throughput` measures the job."""
    from shopguard.bench.job import bench_config, private_topics, steady_rate, until_drained
    from shopguard.local.job_process import RunningJob
    from shopguard.local.producer import open_producer

    run_cfg, ports = bench_config(cfg, 1, workdir)
    with private_topics(run_cfg, lambda s: print(s, file=sys.stderr)):
        producer = open_producer(run_cfg)
        try:
            for key, value, ts_ms in records:
                producer.send(run_cfg.topics.events, key=key.encode(), value=value, timestamp_ms=ts_ms)
            producer.flush()
        finally:
            producer.close()
        job = RunningJob(
            run_cfg, workdir / f"{run_cfg.job.job_name}.log", ports=ports, module=PROBE_MODULE,
            arguments=("--variant", variant, "--rows", str(rows)),
        ).start()  # fmt: skip
        try:
            samples = until_drained(events, lambda: job.metrics().get("events_to_score"), 900, 0.25, job.log_path)
        finally:
            job.stop()
    return steady_rate(samples, events)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file (given: run as the job)")
    parser.add_argument("--variant", choices=VARIANTS, help="with --config: which graph")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated VARIANTS, in turn")
    parser.add_argument("--rows", type=int, default=15, help="sql_rows: the window's preceding rows")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--workdir", default="entity-sql-probe")
    args = parser.parse_args(argv)
    from shopguard.config import load_config

    if args.config:  # the job itself, started by drain()
        from shopguard.jobs.flink_environment import create_environments

        cfg = load_config(args.config, args.overrides)
        env, t_env = create_environments(cfg)
        build_probe_job(env, t_env, cfg, args.variant, args.rows).attach_as_datastream()
        env.execute(cfg.job.job_name)
        return 0
    from shopguard.local.kafka_broker import LocalKafkaBroker

    cfg, variants = load_config(None, args.overrides), args.variants.split(",")
    if "java_entities" in variants:  # compiled once, before the drains (each job finds it in the cache)
        print(f"java_entities: {entity_steps_jar(cfg.cache_dir)}", file=sys.stderr)
    records = timed_records(args.events, args.users, int(time.time() * 1000))
    results: dict[str, list[float]] = {v: [] for v in variants}
    by_round: dict[int, dict[str, float]] = {}
    with LocalKafkaBroker(cfg).running():
        for r in range(1, args.rounds + 1):
            for variant in variants:
                run_dir = Path(args.workdir) / f"round{r}-{variant}-{time.strftime('%H%M%S')}"
                run_dir.mkdir(parents=True)
                load, start = os.getloadavg(), time.strftime("%H:%M:%S", time.gmtime())
                try:
                    eps = drain(cfg, records, args.events, variant, args.rows, run_dir)
                except RuntimeError as error:  # a drain that fails (logs in run_dir) does not end the others
                    print(f"{variant}: {error}", file=sys.stderr)
                    continue
                results[variant].append(eps)
                by_round.setdefault(r, {})[variant] = eps
                line = {"round": r, "variant": variant, "eps": round(eps, 1), "start": start,
                        "load": [round(x, 1) for x in load]}  # fmt: skip
                print(json.dumps(line), flush=True)
    base = statistics.median(results["user"]) if results.get("user") else None
    for variant, rates in results.items():
        if not rates:
            continue
        median = statistics.median(rates)
        ratio = f", user / this {base / median:.2f}" if base else ""
        rounds = round_ratios(by_round, variant)
        if rounds:
            listed = " / ".join(f"{x:.2f}" for x in rounds)
            ratio += f", by round {listed} (median {statistics.median(rounds):.2f})"
        print(f"{variant:16} median {median:8,.0f} events/s ({' / '.join(f'{x:,.0f}' for x in rates)}){ratio}")
    return 0


def round_ratios(by_round: dict[int, dict[str, float]], variant: str) -> list[float]:
    """``user``'s rate over ``variant``'s in each round that drained both (none for ``user`` itself).

    >>> round_ratios({1: {"user": 6000.0, "java": 5000.0}, 2: {"user": 5000.0}}, "java")
    [1.2]
    """
    if variant == "user":
        return []
    return [rates["user"] / rates[variant] for rates in by_round.values() if "user" in rates and variant in rates]


if __name__ == "__main__":
    sys.exit(main())
