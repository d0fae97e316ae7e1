"""The job's Java entity steps without Flink: the jar shopguard jars builds, and its sketch against the Python one.

The Java device/IP steps (udfs/java, :func:`shopguard.local.java_steps.entity_steps_jar`) keep a port of
:class:`~shopguard.udfs.entity_sketch.EntitySketch`; these tests replay the same events through both (the Java side
through ``SketchReplay``, the state going through its bytes between events as in a keyed step) and ask for the same
figures and the same state bytes after every event.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import zipfile

import pytest

from shopguard.bench.entity_sql_probe import JAVA_STEPS
from shopguard.local.java_steps import entity_steps_jar
from shopguard.udfs.entity_sketch import DAY_S, RECENT_ACCOUNTS, EntitySketch

pytestmark = pytest.mark.skipif(not shutil.which("javac") or not shutil.which("java"), reason="needs a JDK 17")


@pytest.fixture(scope="module")
def jar(tmp_path_factory):
    return entity_steps_jar(tmp_path_factory.mktemp("cache"))


def replay_in_java(jar, events: list[tuple]) -> list[tuple[list[float], str]]:
    """Each event's figures and its entity's state bytes (hex) after it, from the Java sketch."""
    lines = "".join("\t".join(str(x) for x in event) + "\n" for event in events)
    run = subprocess.run(
        ["java", "-cp", str(jar), "shopguard.udfs.entities.SketchReplay"],
        input=lines.encode(),
        capture_output=True,
        check=True,
    )
    out = []
    for line in run.stdout.decode().splitlines():
        *figures, state = line.split("\t")
        out.append(([float(x) for x in figures], state))
    return out


def replay_in_python(events: list[tuple]) -> list[tuple[list[float], str]]:
    states: dict[str, bytes] = {}
    out = []
    for entity, account, event_type, ts_ms, item, new in events:
        sketch = EntitySketch.from_bytes(states.get(entity))
        figures = sketch.observe(account, event_type, ts_ms, item, signed_up=bool(new))
        states[entity] = sketch.to_bytes()
        out.append((list(figures), states[entity].hex()))
    return out


def random_events(seed: int, count: int) -> list[tuple]:
    """Events on a few shared devices: more accounts than the sketch lists (so the HyperLogLog estimates count),
    gaps from a second to days, some out of order, ids longer than 64 bytes and beyond ASCII."""
    rng = random.Random(seed)
    types = ("page_view", "purchase", "add_to_cart", "checkout", "favorite", "signup", "payment_failed", "login_failed")
    ts, events = 1_700_000_000_000, []
    for _ in range(count):
        ts += rng.choice((0, 1_000, 60_000, 3_600_000, 7_200_000, 30_000_000, 2 * DAY_S * 1000))
        ts -= 5_000_000 if rng.random() < 0.05 else 0
        account = rng.choice(
            (f"u{rng.randrange(3 * RECENT_ACCOUNTS)}", "x" * rng.randrange(60, 90), "é" * 40 + "z", "ü€" * 20 + "q")
        )
        item = rng.choice(("", f"i{rng.randrange(8)}"))
        events.append((f"d{rng.randrange(4)}", account, rng.choice(types), ts, item, int(rng.random() < 0.1)))
    return events


def test_the_jar_holds_the_steps_and_is_built_once(jar):
    with zipfile.ZipFile(jar) as zf:
        assert JAVA_STEPS.replace(".", "/") + ".class" in zf.namelist()
    built = jar.stat().st_mtime_ns
    assert entity_steps_jar(jar.parent.parent) == jar
    assert jar.stat().st_mtime_ns == built


@pytest.mark.parametrize("seed", [1, 2])
def test_java_figures_and_state_bytes_are_the_python_sketchs(jar, seed):
    events = random_events(seed, 4000)
    java, python = replay_in_java(jar, events), replay_in_python(events)
    assert len(java) == len(events)
    differing = [(event, j, p) for event, j, p in zip(events, java, python) if j != p]
    assert differing == []
    assert max(figures[2] for figures, _ in python) > RECENT_ACCOUNTS  # the estimates were used


def test_a_small_ring_is_counted_exactly(jar):
    t0 = 1_700_000_000_000
    events = [("d", f"u{n}", "signup", t0 + 60_000 * n, "", 1) for n in range(3)]
    events += [("d", "u1", "payment_failed", t0 + 300_000, "", 0), ("d", "u2", "purchase", t0 + 400_000, "i9", 0)]
    events += [
        ("d", "u3", "purchase", t0 + 500_000, "i9", 0),
        ("d", "u4", "login_failed", t0 + DAY_S * 1000 + 600_000, "", 0),
    ]
    figures = [f for f, _ in replay_in_java(jar, events)]
    assert figures[2] == [3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0]
    assert figures[5] == [4.0, 4.0, 4.0, 3.0, 1.0, 0.0, 2.0]
    # a day later the first four accounts left the 24 h window; the failed payment's half-day bucket has not
    assert figures[6] == [1.0, 1.0, 5.0, 0.0, 1.0, 1.0, 0.0]
