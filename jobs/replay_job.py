"""``shopguard detect``: the detection graph on a bounded file of events, for backtests and evaluation.

The same :func:`~shopguard.jobs.detect_job.build_detection_graph` as the live job (same parsing,
event time, dedup, state, model, cool-down and explanations), fed by a Flink ``FileSource`` over a
JSON-lines file and writing JSON-lines files; it exits when the input is consumed. Events may be out
of order within ``job.max_out_of_orderness_ms``. Besides ``--output`` (alerts) and
``--scores-output`` (one row per scored event), dead letters and late events are written beside the
alerts as ``<output>.dead-letters.jsonl`` and ``<output>.late.jsonl``: bad input never vanishes.
Churn-risk signals go to ``<output>.signals.jsonl``: a file has no watermark until its end, so a user's
next event reports a silence a timer would have, and the end of the file fires the rest, but no silence
beyond its last events (docs/architecture.md#time). A replay that reads only alerts (``shopguard rules
test``) leaves the churn step out (:attr:`ReplayFiles.with_risk_signals`): it decides no alert.

A replay takes no checkpoints: its file sinks publish their files when the input ends (the sink's own
end-of-input commit), so a checkpoint would only make the scoring step drain its Python worker and copy
the state just built. Nor does it restart: with nothing to restore, a restart would read the file again into
sinks that may have published already; a failed replay stops with its error, to be run again.

Example::

    shopguard detect --input yesterday.jsonl --output alerts.jsonl --scores-output scores.jsonl \\
        --model ~/.cache/shopguard/trained/lstm-20261124-...
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pyflink.common import WatermarkStrategy
from pyflink.common.typeinfo import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat
from pyflink.table import Schema, TableDescriptor
from pyflink.table.expressions import col

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.jobs.detect_job import build_detection_graph, identifier_hashing, model_source
from shopguard.jobs.flink_environment import create_environments
from shopguard.udfs.alert_decision import DECIDE_AT_END_OF_INPUT
from shopguard.udfs.rule_branches import RuleBranches
from shopguard.udfs.rule_broadcast import initial_rule_set


@dataclass(frozen=True)
class ReplayFiles:
    """Where a replay reads and writes."""

    events: Path
    alerts: Path
    scores: Path | None = None
    with_risk_signals: bool = True  # False: no churn step and no signals file (a backtest reads only alerts)

    @property
    def dead_letters(self) -> Path:
        return self.alerts.with_suffix(".dead-letters.jsonl")

    @property
    def late_events(self) -> Path:
        return self.alerts.with_suffix(".late.jsonl")

    @property
    def risk_signals(self) -> Path:
        return self.alerts.with_suffix(".signals.jsonl")

    def branch_alerts(self, name: str) -> Path:
        """The alerts of one rule set of a backtest (``ALERTS.jsonl`` → ``ALERTS.<name>.jsonl``)."""
        return self.alerts.with_suffix(f".{name}.jsonl")


def replay_config(cfg: ShopguardConfig, model_path: str | None, with_risk_signals: bool = True) -> ShopguardConfig:
    """The configuration a replay runs with: no checkpoints (the file sinks publish their files when the input
    ends) and no restarts, no metrics ports, crossings decided when the input ends (in event-time order,
    whatever order they reached the decision in), and the churn step only when its signals are wanted.

    >>> cfg = replay_config(ShopguardConfig(), None, with_risk_signals=False)
    >>> cfg.job.checkpoint_interval_ms, cfg.job.restart_attempts, cfg.job.alert_hold_ms, cfg.churn.enabled
    (0, 0, -1, False)
    """
    return dataclasses.replace(
        cfg,
        job=dataclasses.replace(
            cfg.job,
            checkpoint_interval_ms=0,
            restart_strategy="fixed-delay",
            restart_attempts=0,
            prometheus_ports="",
            model_path=model_path or cfg.job.model_path,
            job_name=f"{cfg.job.job_name}-replay",
            alert_hold_ms=DECIDE_AT_END_OF_INPUT,
        ),
        churn=dataclasses.replace(cfg.churn, enabled=cfg.churn.enabled and with_risk_signals),
    )


@dataclass(frozen=True)
class Replay:
    """A replay's job, built and not yet run: its environment, the model it serves, and where each output goes
    (the sinks write part files under ``staging``; :func:`run_replay` merges them into ``targets``)."""

    env: StreamExecutionEnvironment
    job_name: str
    model_version: str
    staging: Path
    targets: dict[str, Path]


def build_replay(
    cfg: ShopguardConfig,
    files: ReplayFiles,
    model_path: str | None = None,
    rules: Sequence[str] = (),
    branches: Mapping[str, Sequence[str]] | None = None,
) -> Replay:
    """The detection graph over ``files.events`` with the detection ``rules`` (rule JSON texts) in force from the
    first event, and its file sinks (see :func:`run_replay`)."""
    if not files.events.is_file():
        raise ShopguardError(f"{files.events}: no such events file (one canonical JSON event per line)")
    cfg = replay_config(cfg, model_path, files.with_risk_signals)
    source = model_source(cfg)
    card = source.load_current(cfg.job.onnx_threads).card
    hashing = identifier_hashing(cfg)
    env, t_env = create_environments(cfg)
    raw = env.from_source(
        FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(files.events.resolve())).build(),
        WatermarkStrategy.no_watermarks(),
        "events file",
    ).uid("source-events-file")
    if branches:  # a malformed rule stops the replay here, with the reason
        rule_set = RuleBranches({name: initial_rule_set(texts) for name, texts in branches.items()})
        rule_records = env.from_collection([""], type_info=Types.STRING())
    else:
        rule_set = initial_rule_set(rules)
        rule_records = env.from_collection(list(rules) or [""], type_info=Types.STRING())
    outputs = build_detection_graph(
        raw, t_env, cfg, source, hashing, rule_records, rule_set, with_scores=files.scores is not None
    )
    staging = Path(tempfile.mkdtemp(prefix="shopguard-replay-", dir=files.alerts.resolve().parent))
    streams = {"dead_letters": outputs.dead_letters, "late_events": outputs.late_events}
    targets = {"dead_letters": files.dead_letters, "late_events": files.late_events}
    if outputs.branch_alerts:
        for name, alerts in outputs.branch_alerts.items():
            streams[f"alerts_{name}"], targets[f"alerts_{name}"] = alerts, files.branch_alerts(name)
    else:
        streams["alerts"], targets["alerts"] = outputs.alerts, files.alerts
    if outputs.risk_signals is not None:
        streams["risk_signals"], targets["risk_signals"] = outputs.risk_signals, files.risk_signals
    statements = t_env.create_statement_set()
    for name, stream in streams.items():
        payloads = t_env.from_data_stream(stream).select(col("payload"))
        statements.add_insert(_lines_sink(staging / name, "raw", payloads.get_schema()), payloads)
    if files.scores is not None:
        targets["scores"] = files.scores
        statements.add_insert(_lines_sink(staging / "scores", "json", outputs.scores.get_schema()), outputs.scores)
    statements.attach_as_datastream()
    return Replay(env, cfg.job.job_name, card.model_version, staging, targets)


def run_replay(
    cfg: ShopguardConfig,
    files: ReplayFiles,
    model_path: str | None = None,
    rules: Sequence[str] = (),
    branches: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, int]:
    """Run the detection graph over ``files.events`` with the detection ``rules`` (rule JSON texts) in force from
    the first event; return how many lines each output got.

    ``branches`` (a backtest, instead of ``rules``): rule set name → its rule texts; the events are scored once
    and each set decides its own alerts (:mod:`shopguard.udfs.rule_branches`), written to
    :meth:`ReplayFiles.branch_alerts` (output ``alerts_<name>``) instead of ``files.alerts``.
    """
    replay = build_replay(cfg, files, model_path, rules, branches)
    started = time.monotonic()
    print(f"shopguard: replaying {files.events} with model {replay.model_version}", flush=True)
    replay.env.execute(replay.job_name)
    targets = replay.targets
    counts = {name: _merge_parts(replay.staging / name, target) for name, target in targets.items()}
    shutil.rmtree(replay.staging, ignore_errors=True)
    print(
        f"shopguard: replay done in {time.monotonic() - started:.1f} s: "
        + ", ".join(f"{counts[name]} {name.replace('_', ' ')} → {targets[name]}" for name in targets),
        flush=True,
    )
    return counts


def _lines_sink(folder: Path, value_format: str, schema) -> TableDescriptor:
    """A filesystem sink writing one line per row (``raw`` for a JSON string column, ``json`` for columns)."""
    columns = Schema.new_builder()
    for name, data_type in zip(schema.get_field_names(), schema.get_field_data_types()):
        columns = columns.column(name, data_type)
    return (
        TableDescriptor.for_connector("filesystem")
        .schema(columns.build())
        .option("path", folder.as_uri())
        .format(value_format)
        .build()
    )


def _merge_parts(folder: Path, target: Path) -> int:
    """Concatenate the sink's finished part files into one JSON-lines file, ordered by event time."""
    lines = [
        line
        for part in sorted(folder.rglob("part-*"))
        if not part.name.startswith(".")
        for line in part.read_text(encoding="utf-8").splitlines()
        if line
    ]
    lines.sort(key=_order_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def _order_key(line: str) -> tuple:
    body = json.loads(line)
    event = body.get("event", body)
    return (
        str(event.get("event_ts", event.get("ts", event.get("at", "")))),
        str(event.get("user_id", "")),
        str(event.get("event_id", "")),
        body.get("revision", 0),
        line,
    )
