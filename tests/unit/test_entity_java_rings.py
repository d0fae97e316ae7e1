"""The Java entity steps' ring decision without Flink: the same events through the Java and the Python rule.

After every event the Java steps decide whether the event's entity is a ring (``RingRule.isRing``, udfs/java); the
Python steps' decision is ``_watch_evidence(rule, sketch, figures) is not None`` (:mod:`shopguard.udfs.entity_rings`).
``SketchReplay`` replays ring-ish events through the Java sketch and rule, the state going through its bytes between
events as in a keyed step; the Python sketch replays the same, and the decisions must agree at every event. The Java
step's ring candidates must carry the fields the Python ring step reads.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

import pytest

from shopguard.config import EntitySettings, JobSettings
from shopguard.local.java_steps import entity_steps_jar, flink_jars
from shopguard.udfs.entity_rings import RING_WINDOW_S, RingRule, _watch_evidence, ring_evidence
from shopguard.udfs.entity_sketch import DAY_S, FIGURE_NAMES, EntitySketch
from shopguard.udfs.entity_streams import ring_watch

pytestmark = pytest.mark.skipif(not shutil.which("javac") or not shutil.which("java"), reason="needs a JDK 17")

RING_CANDIDATE_FIELDS = ("entity", "sketch", "event_id", "event_ts", *FIGURE_NAMES)
"""What the Python ring step reads from a candidate (udfs/ring_alert_step.py's RING_CANDIDATE_FIELDS)."""
CROWD = "crowd"


@pytest.fixture(scope="module")
def jar(tmp_path_factory):
    return entity_steps_jar(tmp_path_factory.mktemp("cache"))


def rules() -> dict[str, RingRule]:
    """The job's device and IP rules as the default settings make them, and one without ``min_failing``."""
    found = {t: ring_watch(t, EntitySettings(), JobSettings()).rule for t in ("device", "ip")}
    found["no_failing"] = RingRule(4, 0.6, 40, None)
    return found


def ring_events(seed: int, count: int) -> list[tuple]:
    """Events on a few devices of a few accounts each (signups, pushes of a handful of items so that counts tie,
    payments failed again and again, failed logins, events marked linked by a device ring), gaps from none to days,
    some out of order, ids longer than 64 bytes and beyond ASCII; and a crowd entity that sees two bursts of 600
    accounts (more than a crowd's 500 in 30 days; two in three of them sign up) between ring-ish events of its own."""
    rng = random.Random(seed)
    types = ["signup", "purchase", "add_to_cart", "favorite", "checkout", "page_view"]
    types += ["payment_failed"] * 3 + ["login_failed"] * 2
    entities = [f"d{k}" for k in range(5)] + ["ü€" * 12 + "-ip", CROWD]
    pools = {
        e: [f"{e}-u{i}" for i in range(rng.randint(2, 9))] + ["x" * 70 + e, "é" * 40 + e, "用户" * 12 + e]
        for e in entities
    }
    t, events = 1_700_000_000_000, []
    bursts = {count // 4, 2 * count // 3}
    for k in range(count):
        if k in bursts:
            for n in range(600):
                account = f"crowd-{k}-{n}"
                events.append((CROWD, account, "signup" if n % 3 else "page_view", t + 5_000 * n, "", 0, 0))
            t += 600 * 5_000
        t += rng.choice((0, 1_000, 60_000, 600_000, 3_600_000, 6 * 3_600_000, 2 * DAY_S * 1000))
        ts = t - rng.choice((5_000_000, DAY_S * 1000)) if rng.random() < 0.06 else t
        entity = rng.choice(entities)
        account = rng.choice(pools[entity])
        item = rng.choice(("", "i1", "i2", "i3", "i4"))
        new, linked = int(rng.random() < 0.1), int(rng.random() < 0.12)
        events.append((entity, account, rng.choice(types), ts, item, new, linked))
    return events


def decide_in_java(jar, events: list[tuple], rule: RingRule) -> list[tuple[list[float], bool]]:
    """Each event's figures and whether its entity is a ring then, from the Java sketch and rule."""
    lines = "".join("\t".join(str(x) for x in event) + "\n" for event in events)
    failing = -1 if rule.min_failing is None else rule.min_failing
    arguments = [str(rule.min_accounts), repr(float(rule.min_share)), str(rule.crowd_accounts_30d), str(failing)]
    run = subprocess.run(
        ["java", "-cp", str(jar), "shopguard.udfs.entities.SketchReplay", *arguments],
        input=lines.encode(),
        capture_output=True,
        check=True,
    )
    out = []
    for line in run.stdout.decode().splitlines():
        *figures, _state, ring = line.split("\t")
        out.append(([float(x) for x in figures], ring == "1"))
    return out


def decide_in_python(events: list[tuple], rule: RingRule) -> list[tuple[list[float], bool, str]]:
    """Each event's figures, the Python steps' decision, and which way it went (own, linked, crowd or none)."""
    states: dict[str, bytes] = {}
    out = []
    for entity, account, event_type, ts_ms, item, new, linked in events:
        sketch = EntitySketch.from_bytes(states.get(entity))
        figures = sketch.observe(account, event_type, ts_ms, item, signed_up=bool(new), linked=bool(linked))
        states[entity] = sketch.to_bytes()
        by_name = dict(zip(FIGURE_NAMES, figures))
        evidence = _watch_evidence(rule, sketch, by_name)
        out.append((list(figures), evidence is not None, _why(rule, sketch, by_name, evidence)))
    return out


def _why(rule: RingRule, sketch: EntitySketch, figures: dict, evidence) -> str:
    """How the decision was taken, to check that the events reach every way of it."""
    unbounded = RingRule(rule.min_accounts, rule.min_share, 10**9, rule.min_failing)
    own = unbounded.holds(ring_evidence(sketch), 0.0) if sketch.accounts_in(RING_WINDOW_S) else False
    if evidence is None:
        return "crowd" if own and figures["accounts_30d"] > rule.crowd_accounts_30d else "none"
    return "own" if own and rule.holds(evidence, figures["accounts_30d"]) else "linked"


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rule_name", ["device", "ip", "no_failing"])
def test_java_ring_decisions_are_the_python_rules(jar, seed, rule_name):
    rule = rules()[rule_name]
    events = ring_events(seed, 3000)
    java, python = decide_in_java(jar, events, rule), decide_in_python(events, rule)
    assert len(java) == len(python) == len(events)
    differing = [(n, events[n], j, p) for n, (j, p) in enumerate(zip(java, python)) if j[1] != p[1] or j[0] != p[0]]
    assert differing[:5] == []
    ways = {why for _, _, why in python}
    assert {"own", "linked", "crowd", "none"} <= ways, ways  # every way of the decision was taken
    assert sum(ring for _, ring, _ in python) > 50


def test_the_crowd_entity_goes_past_the_crowd_bound(jar):
    rule = rules()["device"]
    events = ring_events(1, 3000)
    crowd = [p[0][2] for e, p in zip(events, decide_in_python(events, rule)) if e[0] == CROWD]
    assert max(crowd) > rule.crowd_accounts_30d
    assert min(crowd[700:]) < rule.crowd_accounts_30d  # and below it once a burst leaves the 30 days


def test_candidate_fields_are_the_python_ring_steps(jar):
    classpath = os.pathsep.join([str(jar), *map(str, flink_jars())])
    run = subprocess.run(
        ["java", "-cp", classpath, "shopguard.udfs.entities.EntitySteps"], capture_output=True, text=True, check=True
    )
    fields = [line.split("\t") for line in run.stdout.splitlines()]
    assert tuple(name for name, _ in fields) == RING_CANDIDATE_FIELDS
    assert [kind for _, kind in fields] == ["String", "String", "String", "Long"] + ["Double"] * len(FIGURE_NAMES)
