"""Fault: the Kafka broker stops mid-stream and comes back, with the job on the mini-cluster.

The test starts a broker of its own (free ports, its own data folder; the session broker other tests
use is never touched), runs the job against it (parallelism 2, checkpoints every 2 s, exactly-once
sinks, every score written to a private scores topic) and keeps waves of card testers flowing. The
broker is stopped cleanly, stays down ~10 s, and is started again on the same ports and data. The job
must get through this by itself (restarts allowed) and, read with ``read_committed``, every event the
producer had acknowledged is scored exactly once and every wave user is alerted.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.kafka_broker import LocalKafkaBroker
from shopguard.local.topics import ensure_topics
from tests.integration.conftest import broker_config
from tests.integration.fault_traffic import Waves
from tests.integration.waiting import wait_on_job

pytestmark = pytest.mark.integration

OUTAGE_S = 10
RECOVERY_TIMEOUT_S = 120
ALERTS_TIMEOUT_S = 45


@pytest.fixture(scope="module")
def broker_outage(tmp_path_factory):
    cfg = broker_config(tmp_path_factory.mktemp("fault-broker-kafka"))
    cfg, ports = isolated_job_config(cfg, "broker-fault", tmp_path_factory.mktemp("fault-broker-registry"))
    topics = cfg.topics
    broker = LocalKafkaBroker(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("fault-broker-job") / "job.log", ports=ports)
    traffic = Waves(cfg, topics.events, prefix="fbk", pause_s=0.3)
    try:
        broker.start()
        ensure_topics(cfg)
        job.start()
        traffic.start()
        wait_on_job(
            lambda: job.metrics().get("model_version_scored_events", 0) >= 50,
            90,
            "the first scores",
            job,
            also=lambda: broker.status().describe(),
        )
        first = collect(cfg, topics.alerts, until=bool, timeout_s=30)
        assert first, f"no committed alert before the outage\n{job.log_tail(80)}"
        time.sleep(4)  # a few checkpoints (transactions) commit before the outage; one is open when it starts
        users_before, acked_before = traffic.snapshot()

        stopped_at = time.monotonic()
        assert broker.stop(), "the private broker was not running"
        time.sleep(OUTAGE_S)
        broker.start()
        back_at = time.monotonic()
        outage_s = back_at - stopped_at
        # Recovered: everything acknowledged before the broker came back has been scored and committed.
        _, acked_at_restart = traffic.snapshot()

        def caught_up() -> bool:
            scored = {s["event_id"] for s in collect(cfg, topics.scores, until=lambda got: False, timeout_s=1.5)}
            return set(acked_at_restart) <= scored

        wait_on_job(
            caught_up,
            RECOVERY_TIMEOUT_S,
            "the scores of every event acknowledged before the restart",
            job,
            also=lambda: broker.status().describe(),
        )
        recovered_s = time.monotonic() - back_at
        time.sleep(5)  # waves keep flowing after the recovery
        traffic.stop()
        assert traffic.error is None, f"the traffic thread failed: {traffic.error!r}"
        users, acked = traffic.snapshot()

        scores = collect(
            cfg, topics.scores, until=lambda got: set(acked) <= {s["event_id"] for s in got}, timeout_s=ALERTS_TIMEOUT_S
        )
        alerts = collect(
            cfg, topics.alerts, until=lambda got: set(users) <= {a["user_id"] for a in got}, timeout_s=ALERTS_TIMEOUT_S
        )
        time.sleep(2 * cfg.job.checkpoint_interval_ms / 1000)  # a duplicate would be committed by now
        scores = collect(cfg, topics.scores, until=lambda got: len(got) >= len(scores) + 10_000, timeout_s=5)
        restarts = job.job_restarts()
        print(
            f"\nBroker fault: broker down {outage_s:.1f} s; every event acknowledged before the restart scored "
            f"{recovered_s:.1f} s after the broker was back; job restarts {restarts:g}; producer send failures "
            f"{traffic.send_failures}; {len(users)} wave users, {len(acked)} events acknowledged",
            flush=True,
        )
        yield {
            "cfg": cfg,
            "users": users,
            "acked": acked,
            "scores": scores,
            "alerts": alerts,
            "users_before": users_before,
            "acked_before": acked_before,
            "restarts": restarts,
            "running": job.is_running(),
            "send_failures": traffic.send_failures,
            "log": job.log_tail(80),
        }
    finally:
        traffic.abort()
        job.stop()
        broker.stop()


def test_the_job_survives_the_outage_by_itself(broker_outage):
    run = broker_outage
    assert run["running"], f"the job process ended\n{run['log']}"
    assert run["send_failures"] > 0, "the producer never noticed the outage: the broker was not really down"
    assert len(run["users"]) > len(run["users_before"]) > 0, "waves must flow before and after the outage"


def test_every_acknowledged_event_is_scored_exactly_once(broker_outage):
    run = broker_outage
    scored = Counter(s["event_id"] for s in run["scores"])
    twice = sorted(event for event, n in scored.items() if n > 1)
    assert not twice, f"{len(twice)} events scored more than once: {twice[:10]}\n{run['log']}"
    lost = sorted(set(run["acked"]) - set(scored))
    assert not lost, (
        f"{len(lost)} of {len(set(run['acked']))} acknowledged events never scored: {lost[:10]}\n{run['log']}"
    )


def test_every_wave_user_is_alerted(broker_outage):
    run = broker_outage
    missing = sorted(set(run["users"]) - {a["user_id"] for a in run["alerts"]})
    assert not missing, f"{len(missing)} of {len(run['users'])} wave users got no alert: {missing[:10]}\n{run['log']}"
    counts = Counter((a["alert_id"], a["revision"]) for a in run["alerts"])
    assert not {key for key, n in counts.items() if n > 1}, "an alert revision was delivered twice"
