"""A savepoint of the job with the Python entity steps restores in the Java ones: the device's sketch goes on.

``entities.engine`` moves the device and IP steps between Python (``udfs/entity_streams.py``) and Java
(``udfs/java``, ``EntitySteps``). Both keep the operator uids, the key (PyFlink's ``key_by`` keys by a one-field
``Row`` holding the pseudonym, so the Java steps do too) and the value state (``entity_sketch``, latin-1 text with
the same TTL), so the sketches carry over a switch (docs/operations.md). Here three accounts test cards on one
device and IP with the Python steps; the job stops with a savepoint (the mini-cluster's REST API) and starts from
it with the Java steps; three more accounts join on the same device. The device's ring alert after the switch must
name all six accounts and count 6 accounts in 24 h: with sketches started empty it would say 3. A Java step keyed
by a bare STRING fails this restore (StateMigrationException: the new key serializer StringSerializer must be
compatible with the previous RowSerializer).

The restore claims every piece of state (no ``execution.state-recovery.ignore-unclaimed-state``): the Table API part
of the job, the Kafka sinks' writers and committers among it, takes its uids from the planner
(``table.exec.uid.generation`` ``ALWAYS``, jobs/flink_environment.py), so the switch leaves them as they were. The
other way, Java to Python, needs ``--allowNonRestoredState``: the open ring alerts of the Java engine's ring steps
(``raise-*-ring-alerts``) have no place in the Python engine.

Run as a module (``python -m tests.integration.test_engine_switch --flink KEY=VALUE ... --config FILE``) this file
is the detection job with those Flink settings added (the REST port for the savepoint, the path it starts from).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
import urllib.request

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.demo_traffic import card_tester
from shopguard.local.job_process import RunningJob, free_port_range, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model

pytestmark = pytest.mark.integration

T0 = 1_600_000_000_000
RING = [f"sw-ring-{n}" for n in range(6)]
RING_DEVICE, RING_IP = "sw-ring-device-51c2", "192.0.2.91"
SHOPPERS = [f"sw-shopper-{n}" for n in range(6)]


def ring_events(accounts: range) -> list[Event]:
    return [
        event._replace(device_id=RING_DEVICE, ip=RING_IP)
        for n in accounts
        for event in card_tester(RING[n], T0 + 40_000 * n, random.Random(n))
    ]


def shopper_events(views: range) -> list[Event]:
    return [
        Event(f"{user}-{k}", user, "page_view", T0 + 7_000 * k + n, item_id=f"item-{k}", device_id=f"{user}-phone")
        for n, user in enumerate(SHOPPERS)
        for k in views
    ]


BEFORE = sorted(ring_events(range(0, 3)) + shopper_events(range(0, 15)), key=lambda e: e.ts_ms)
AFTER = sorted(ring_events(range(3, 6)) + shopper_events(range(15, 30)), key=lambda e: e.ts_ms)


def _rest(port: int, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode() or "{}")


def stop_with_savepoint(port: int, folder, timeout_s: float = 120.0) -> str:
    """Stop the mini-cluster's running job with a savepoint into ``folder``; the savepoint's location."""
    deadline = time.monotonic() + timeout_s
    while not (running := [j["id"] for j in _rest(port, "/jobs")["jobs"] if j["status"] == "RUNNING"]):
        assert time.monotonic() < deadline, "no running job"
        time.sleep(1)
    body = {"targetDirectory": folder.as_uri(), "drain": False, "formatType": "CANONICAL"}
    trigger = _rest(port, f"/jobs/{running[0]}/stop", body)["request-id"]
    while time.monotonic() < deadline:
        status = _rest(port, f"/jobs/{running[0]}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            assert "location" in operation, f"the savepoint failed: {json.dumps(operation)[:2000]}"
            return operation["location"]
        time.sleep(1)
    raise AssertionError(f"the savepoint did not complete within {timeout_s} s")


def device_rings(alerts: list) -> list[dict]:
    return [a for a in alerts if a.get("alert_kind") == "ring" and a.get("entity_type") == "device"]


def _send(cfg, events: list[Event]) -> None:
    send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])


@pytest.fixture(scope="module")
def switched(kafka_config, tmp_path_factory):
    placeholder = write_placeholder_model(tmp_path_factory.mktemp("models"))
    cfg, ports = isolated_job_config(
        kafka_config, "switch", tmp_path_factory.mktemp("empty-registry"), model_path=str(placeholder)
    )
    ensure_topics(cfg)
    rest_port = free_port_range(1)[0]
    rest = [f"--flink={key}={value}" for key, value in (("rest.port", rest_port), ("rest.bind-port", rest_port))]
    folder = tmp_path_factory.mktemp("python-job")  # each job its own folder: its Flink log goes beside it
    python = RunningJob(
        cfg, folder / "job.log", ports=ports, module=__name__, arguments=(*rest, "--set", "entities.engine=python")
    ).start()
    try:
        _send(cfg, BEFORE)
        ids = {e.event_id for e in BEFORE}
        collect(cfg, cfg.topics.scores, until=lambda got: {s["event_id"] for s in got} >= ids, timeout_s=180)
        before = collect(cfg, cfg.topics.alerts, until=lambda got: bool(device_rings(got)), timeout_s=30)
        savepoint = stop_with_savepoint(rest_port, folder / "savepoints")
        python.process.wait(timeout=60)
    finally:
        python.stop()

    low, high = free_port_range(4)
    cfg = dataclasses.replace(cfg, job=dataclasses.replace(cfg.job, prometheus_ports=f"{low}-{high}"))
    restore = ("--flink=execution.state-recovery.path=" + savepoint,)
    java = RunningJob(
        cfg,
        tmp_path_factory.mktemp("java-job") / "job.log",
        ports=(low, high),
        module=__name__,
        arguments=(*restore, "--set", "entities.engine=java"),
    ).start()
    try:
        _send(cfg, AFTER)
        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: any(set(a["accounts"]) >= set(RING) for a in device_rings(got)),
            timeout_s=180,
        )
        yield {
            "before": before,
            "after": alerts[len(before) :],
            "flink_log": java.flink_log(),
            "metrics": java.metrics(),
        }
    finally:
        java.stop()


def test_the_java_steps_start_from_the_python_steps_savepoint(switched):
    assert "from savepoint" in switched["flink_log"], "the second job did not start from the savepoint"
    assert switched["metrics"].get("state_reset_unreadable", 0) == 0


def test_the_device_keeps_counting_the_accounts_seen_before_the_switch(switched):
    before = max(device_rings(switched["before"]), key=lambda a: a["revision"])
    assert set(before["accounts"]) == set(RING[:3])
    after = [a for a in device_rings(switched["after"]) if RING[5] in a["accounts"]]
    assert after, "no device ring alert after the switch names the last account"
    newest = max(after, key=lambda a: a["revision"])
    assert set(newest["accounts"]) == set(RING)  # 3 accounts only if the Java steps had started empty
    assert newest["figures"]["accounts_24h"] == 6


def run_with_flink_settings(argv: list[str]) -> int:
    """The detection job (``shopguard.jobs.detect_job.main``) with ``--flink KEY=VALUE`` added to its Flink settings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--flink", action="append", default=[], metavar="KEY=VALUE")
    args, job_argv = parser.parse_known_args(argv)
    extra = dict(item.split("=", 1) for item in args.flink)

    from shopguard.jobs import detect_job, flink_environment

    settings = flink_environment.flink_settings
    flink_environment.flink_settings = lambda cfg: {**settings(cfg), **extra}  # flink_configuration reads it here
    return detect_job.main(job_argv)


if __name__ == "__main__":
    sys.exit(run_with_flink_settings(sys.argv[1:]))
