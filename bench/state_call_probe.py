"""What one keyed-state call into Java costs a thread-mode Python step, by how the value is stored.

The job keeps each key's state as one value of about a kilobyte (:mod:`shopguard.udfs.user_history`,
:mod:`shopguard.udfs.entity_streams`), and a profile of the running job put much of its keyed steps' time in
``value()`` and ``update()``. This probe runs the pipeline floor's keyed shape (the same source, ``key_by``
in Java, a keyed Python step on its own task, a sink) with a step that, on every event, reads and rewrites one
value in each of several states that differ only in how the value is kept (:data:`VARIANTS`), and times each
call with the thread's CPU clock (``time.thread_time_ns``: the Java side of a pemja call runs on the same
thread) and with the wall clock. The variants take turns in a rotating order, so that they share the machine's
load evenly. ``--steps 3`` puts three such steps in series, each keyed by the user again (the job's user,
device and IP steps share one Python interpreter the same way); ``--incs 4`` makes each step increment its first
counter four times per event instead of once (three more calls into Java); ``--variants`` keeps only the named
states.

Run ``python -m shopguard.bench.state_call_probe --rounds 3 --steps 1,3`` (it starts the local Kafka broker,
and drains the backlog once per round and per combination of ``--steps`` and ``--incs``, in turn); it prints a
JSON line per drain, step and clock, then the medians.

>>> [name for name, *_ in VARIANTS][:3]
['str_latin1_ttl', 'str_latin1', 'str_ascii_ttl']
>>> len(_payload("str_latin1_ttl", 3).encode("latin-1")), _payload("str_ascii_ttl", 3).isascii()
(1024, True)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

VALUE_BYTES = 1024
VARIANTS = (
    # name, Flink type of the state, TTL, how the step hands the value over
    ("str_latin1_ttl", "string", True, "str"),  # today: bytes decoded as latin-1 (many chars >= 0x80)
    ("str_latin1", "string", False, "str"),
    ("str_ascii_ttl", "string", True, "str"),  # the same size of pure ASCII (base64 of the bytes)
    # PRIMITIVE_ARRAY(BYTE) through PyFlink's converter cannot be used: it reads an empty state as tuple(None)
    # (TypeError) and hands Java a tuple of ints, stored as Object[] (ClassCastException on the next read).
    ("byte_array_raw_ttl", "byte_array", True, "raw"),  # bytes handed to the Java state as they are
    ("byte_array_raw", "byte_array", False, "raw"),
    ("pickled_bytes_ttl", "pickled", True, "converter"),  # PICKLED_BYTE_ARRAY: pickle.dumps/loads of bytes
)
PROBE_ROW = Types.ROW_NAMED(["user_id", "n"], [Types.STRING(), Types.LONG()])


def _payload(variant: str, seed: int) -> str | bytes:
    """A fresh value of the variant's kind: ``VALUE_BYTES`` bytes, or text of that many characters."""
    body = random.Random(seed).randbytes(VALUE_BYTES)
    if variant.startswith("str_ascii"):
        return base64.b64encode(body)[:VALUE_BYTES].decode("ascii")
    if variant.startswith("str_"):
        return body.decode("latin-1")
    return body


def _type_info(kind: str):
    return {
        "string": Types.STRING(),
        "byte_array": Types.PRIMITIVE_ARRAY(Types.BYTE()),
        "pickled": Types.PICKLED_BYTE_ARRAY(),
    }[kind]


class StateCallProbe(KeyedProcessFunction):
    """Keyed by user: per event, one ``value()`` and one ``update()`` in every variant's state, each timed.

    Each event also increments two counters, as the floor's step does: ``events_in`` (``probe_spare`` after the
    first step; the job's start waits for it), then, timed against an empty timed block (the clock's own cost),
    ``events_to_score`` in the last step (the drain reads it; ``probe_passed`` before), then the first counter
    ``incs - 1`` more times.
    Every ``flush_every`` events it writes the sums so far to ``out``.
    """

    def __init__(
        self,
        out: str,
        ttl_s: int,
        first: bool = True,
        counted: bool = True,
        variants: Sequence[str] = (),
        incs: int = 1,
        flush_every: int = 2000,
    ):
        self.out, self.ttl_s, self.flush_every = out, ttl_s, flush_every
        self.first_step, self.counted = first, counted
        self.variants = tuple(v for v in VARIANTS if not variants or v[0] in variants)
        self.extra_incs = incs - 1  # untimed counter increments after the timed one

    def open(self, runtime_context: RuntimeContext) -> None:
        from shopguard.udfs.user_history import state_ttl

        self.states = {}
        for name, kind, ttl, _access in self.variants:
            descriptor = ValueStateDescriptor(f"probe_{name}", _type_info(kind))
            if ttl:
                descriptor.enable_time_to_live(state_ttl(self.ttl_s))
            self.states[name] = runtime_context.get_state(descriptor)
        metrics = runtime_context.get_metrics_group().add_group("shopguard")
        self.events_to_score = metrics.counter("events_to_score" if self.counted else "probe_passed")
        self.spare = metrics.counter("events_in" if self.first_step else "probe_spare")  # the drain waits for it
        self.n = 0
        self.sums = {f"{name}.{call}": 0 for name, *_ in self.variants for call in ("value", "update")}
        self.wall = dict(self.sums)
        self.sums.update({"counter.inc": 0, "empty": 0, "steady_events": 0, "first_events": 0})
        self.first = {f"{name}.{call}": 0 for name, *_ in self.variants for call in ("value", "update")}

    def _one(self, name: str, access: str) -> bool:
        clock, wall, state = time.thread_time_ns, time.perf_counter_ns, self.states[name]
        if access == "raw":
            java = state._state
            w0, t0 = wall(), clock()
            stored = java.value()
            t1, w1 = clock(), wall()
        else:
            w0, t0 = wall(), clock()
            stored = state.value()
            t1, w1 = clock(), wall()
        if stored is None:
            value = _payload(name, self.n)
        elif isinstance(stored, str):
            value = stored[4:] + chr(0x80 + (self.n & 0x7F) if "latin1" in name else 65 + (self.n % 26)) * 4
        else:
            value = bytes(stored[4:]) + bytes((self.n & 0xFF, 1, 2, 3))
        if access == "raw":
            w2, t2 = wall(), clock()
            java.update(value)
            t3, w3 = clock(), wall()
        else:
            w2, t2 = wall(), clock()
            state.update(value)
            t3, w3 = clock(), wall()
        sums = self.sums if stored is not None else self.first
        sums[f"{name}.value"] += t1 - t0
        sums[f"{name}.update"] += t3 - t2
        if stored is not None:
            self.wall[f"{name}.value"] += w1 - w0
            self.wall[f"{name}.update"] += w3 - w2
        return stored is not None

    def process_element(self, raw, ctx: KeyedProcessFunction.Context):
        self.n += 1
        clock = time.thread_time_ns
        k = len(self.variants)
        steady = True
        for i in range(k):
            name, _, _, access = self.variants[(self.n + i) % k]
            steady = self._one(name, access) and steady
        self.sums["steady_events" if steady else "first_events"] += 1
        wall = time.perf_counter_ns
        w0, t0 = wall(), clock()
        t1, w1 = clock(), wall()
        self.spare.inc()
        w2, t2 = wall(), clock()
        self.events_to_score.inc()
        t3, w3 = clock(), wall()
        self.sums["empty"] += t1 - t0
        self.sums["counter.inc"] += t3 - t2
        self.wall["empty"] = self.wall.get("empty", 0) + w1 - w0
        self.wall["counter.inc"] = self.wall.get("counter.inc", 0) + w3 - w2
        for _ in range(self.extra_incs):
            self.spare.inc()
        if self.n % self.flush_every == 0:
            self._flush()
        yield Row(str(ctx.get_current_key()), self.n)

    def _flush(self) -> None:
        tmp = f"{self.out}.tmp"
        with open(tmp, "w") as f:
            wall = dict(self.wall, steady_events=self.sums["steady_events"])
            json.dump(
                {"n": self.n, "pid": os.getpid(), "sums_ns": self.sums, "wall_ns": wall, "first_ns": self.first}, f
            )
        os.replace(tmp, self.out)


def build_probe_job(env, t_env, cfg, out: str, steps: int = 1, variants: Sequence[str] = (), incs: int = 1):
    """Source → key by user (in Java, as the job) → ``steps`` probe steps, each on its own task and keyed by the
    user again, as the job's user, device and IP steps share one Python interpreter → discard."""
    from shopguard.bench.pipeline_floor_job import discard
    from shopguard.jobs.kafka_io import events_source
    from shopguard.jobs.user_keying import key_records_by_user
    from shopguard.udfs.event_time import event_time_watermarks

    raw = (
        env.from_source(events_source(cfg), event_time_watermarks(cfg.job), "user-events")
        .uid("source-user-events")
        .name("user-events (Kafka)")
    )
    probed = key_records_by_user(raw, t_env)
    for i in range(steps):
        if i:
            probed = probed.key_by(lambda row: row[0], key_type=Types.STRING())
        probed = (
            probed.process(
                StateCallProbe(f"{out}.{i}", cfg.job.state_ttl_s, i == 0, i == steps - 1, variants, incs),
                output_type=PROBE_ROW,
            )
            .uid(f"state-call-probe-{i}")
            .name(f"state call probe {i}")
            .disable_chaining()
        )
    statements = t_env.create_statement_set()
    statements.add_insert(discard(), t_env.from_data_stream(probed))
    return statements


def per_call_us(stats: dict) -> dict[str, float]:
    """Mean CPU µs per call in the steady state (every state of the key already written), the clock's cost taken off.

    >>> per_call_us({"a.value": 2500, "counter.inc": 2500, "empty": 500, "steady_events": 2})
    {'a.value': 1.0, 'counter.inc': 1.0}
    """
    sums = stats
    events = max(1, sums["steady_events"])
    empty = sums["empty"] / events
    return {
        key: round((total / events - empty) / 1000, 2)
        for key, total in sums.items()
        if key not in ("empty", "steady_events", "first_events")
    }


def _drain(
    rounds: int, events: int, users: int, workdir: Path, overrides: list[str], steps: list[int], incs: list[int],
    variants: str,
) -> list[dict]:  # fmt: skip
    from shopguard.bench.job import job_throughput
    from shopguard.config import load_config
    from shopguard.local.kafka_broker import LocalKafkaBroker

    cfg = load_config(None, overrides)
    results = []
    with LocalKafkaBroker(cfg).running():
        for r in range(1, rounds + 1):
            for n, k in [(n, k) for n in steps for k in incs]:
                run_dir = workdir / f"round{r}-steps{n}-incs{k}-{time.strftime('%H%M%S')}"
                run_dir.mkdir(parents=True)
                out = run_dir / "probe.json"
                load, start = os.getloadavg(), time.strftime("%H:%M:%S", time.gmtime())
                run = job_throughput(
                    cfg, events, users, 1, run_dir, progress=lambda s: print(s, file=sys.stderr),
                    job=(
                        "shopguard.bench.state_call_probe", "--out", str(out), "--steps", str(n), "--incs", str(k),
                        "--variants", variants,
                    ),
                )  # fmt: skip
                for i in range(n):
                    stats = json.loads(Path(f"{out}.{i}").read_text())
                    for clock in ("sums_ns", "wall_ns"):
                        line = {
                            "round": r, "steps": n, "incs": k, "step": i, "clock": clock.split("_")[0],
                            "eps": round(run["eps"], 1), "load": [round(x, 1) for x in load], "start": start,
                            "steady_events": stats["sums_ns"]["steady_events"],
                            "us_per_call": per_call_us(stats[clock]),
                        }  # fmt: skip
                        print(json.dumps(line), flush=True)
                        results.append(line)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file (given: run as the job)")
    parser.add_argument("--out", help="where the job writes its sums (with --config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="", help="comma-separated VARIANTS names (default: all)")
    parser.add_argument(
        "--incs", default="1", help="counter increments per step and event; comma-separated: a drain each"
    )
    parser.add_argument("--steps", default="1", help="probe steps in series; comma-separated: one drain each per round")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--workdir", default="state-call-probe")
    args = parser.parse_args(argv)
    if args.config:  # the job itself, started by job_throughput
        from shopguard.config import load_config
        from shopguard.jobs.flink_environment import create_environments

        cfg = load_config(args.config, args.overrides)
        env, t_env = create_environments(cfg)
        variants = [v for v in args.variants.split(",") if v]
        build_probe_job(env, t_env, cfg, args.out, int(args.steps), variants, int(args.incs)).attach_as_datastream()
        env.execute(cfg.job.job_name)
        return 0
    steps, incs = [int(n) for n in args.steps.split(",")], [int(k) for k in args.incs.split(",")]
    results = _drain(
        args.rounds, args.events, args.users, Path(args.workdir), args.overrides, steps, incs, args.variants
    )
    keys = list(results[0]["us_per_call"])
    for n, k in [(n, k) for n in steps for k in incs]:
        lines = [r for r in results if r["steps"] == n and r["incs"] == k and r["step"] == 0 and r["clock"] == "sums"]
        eps = [r["eps"] for r in lines]
        print(f"{n} step(s), {k} inc(s): events/s median {statistics.median(eps):,.0f} ({' / '.join(map(str, eps))})")
        for clock in ("sums", "wall"):
            lines = [r for r in results if r["steps"] == n and r["incs"] == k and r["clock"] == clock]
            print(f"  {'thread CPU' if clock == 'sums' else 'wall'} µs per call, median of rounds x steps")
            for key in keys:
                values = [r["us_per_call"][key] for r in lines]
                print(f"    {key:28} {statistics.median(values):8.1f}  {' / '.join(f'{v:.1f}' for v in values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
