"""Detection rules survive restarts, on the real broker and a standalone session cluster.

The job serves a model that never alerts on its own (threshold 2), so every alert comes from a rule. A
counting rule is written to the rules topic BEFORE the job is submitted: a fresh job must read it from the
compacted topic (waves of card testers are alerted, each alert naming the rule). Then the TaskManagers are
killed and fresh ones started; the job restores from its last checkpoint, where the rules source resumes
from its checkpointed offset, past the rule record, so the rule can only come back from the checkpointed
broadcast state. Card testers that arrive after the restart must still be alerted by the rule.
"""

from __future__ import annotations

import json
import time

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.flink_cluster import FlinkSessionCluster
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.integration.conftest import cluster_config
from tests.integration.fault_traffic import Waves
from tests.integration.job_recovery import (
    diagnostics,
    replace_taskmanagers,
    restart_marks,
    running_again,
    wait_until_running_again,
)
from tests.integration.test_rules_live import RULE  # the same counting rule: 3 small failed payments a minute

pytestmark = pytest.mark.integration

FIRST_ALERT_TIMEOUT_S = 90
RECOVERY_TIMEOUT_S = 90
ALERTS_TIMEOUT_S = 60


def naming_the_rule(alerts: list[dict]) -> list[dict]:
    return [a for a in alerts if any(r["id"] == RULE["id"] and r["version"] == 1 for r in a.get("rules", ()))]


@pytest.fixture(scope="module")
def restarted(kafka_config, tmp_path_factory):
    model = write_placeholder_model(tmp_path_factory.mktemp("model"), version="never-alerts", threshold=2.0)
    cfg = cluster_config(
        kafka_config,
        tmp_path_factory.mktemp("cluster"),
        tmp_path_factory.mktemp("registry"),
        name="rules-restart",
        model_path=str(model),
    )
    ensure_topics(cfg)
    send_records(cfg, cfg.topics.rules, [(RULE["id"], json.dumps(RULE).encode())])  # before the job exists
    cluster = FlinkSessionCluster(cfg)
    traffic = Waves(cfg, cfg.topics.events, prefix="rr", pause_s=0.3)
    try:
        cluster.start()
        job_id = cluster.submit()
        traffic.start()
        first = collect(cfg, cfg.topics.alerts, until=naming_the_rule, timeout_s=FIRST_ALERT_TIMEOUT_S)
        assert naming_the_rule(first), f"no committed alert names the rule\n{diagnostics(cluster, job_id)}"
        before = restart_marks(cluster, job_id)
        replace_taskmanagers(cluster, cfg.cluster.taskmanagers)
        wait_until_running_again(cluster, job_id, before, RECOVERY_TIMEOUT_S)
        users_at_recovery = set(traffic.snapshot()[0])
        time.sleep(6)  # waves keep coming after the restart
        traffic.stop()
        assert traffic.error is None, f"the traffic thread failed: {traffic.error!r}"
        after = sorted(set(traffic.snapshot()[0]) - users_at_recovery)
        alerts = collect(
            cfg,
            cfg.topics.alerts,
            until=lambda got: set(after) <= {a["user_id"] for a in naming_the_rule(got)},
            timeout_s=ALERTS_TIMEOUT_S,
        )
        yield {
            "first": first,
            "after": after,
            "alerts": alerts,
            "restarted": running_again(cluster, job_id, before),
            "diagnostics": diagnostics(cluster, job_id),
        }
    finally:
        traffic.abort()
        cluster.stop()


def test_a_job_started_after_the_rule_was_written_reads_it_from_the_topic(restarted):
    ruled = naming_the_rule(restarted["first"])
    assert ruled and all(a["detectors"]["rules"] == 1.0 for a in ruled)


def test_the_rule_is_still_in_force_after_a_restart_from_a_checkpoint(restarted):
    assert restarted["restarted"], restarted["diagnostics"]
    assert restarted["after"], "no card tester arrived after the restart"
    ruled_users = {a["user_id"] for a in naming_the_rule(restarted["alerts"])}
    missing = sorted(set(restarted["after"]) - ruled_users)
    assert not missing, (
        f"{len(missing)} of {len(restarted['after'])} card testers that arrived after the restart were not alerted "
        f"by the rule: {missing[:10]}\n{restarted['diagnostics']}"
    )
    assert all(a.get("rules") for a in restarted["alerts"]), "the model never alerts: every alert comes from the rule"
