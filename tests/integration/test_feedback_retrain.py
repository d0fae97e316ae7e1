"""Analysts' false positives are not alerted again after ``shopguard retrain`` + publish, on the real broker and
mini-cluster, while the job keeps running and hot-swaps the model.

The job serves a copy of the shipped default model from a private registry. A shopper whose three small
failed payments and a few page views the model calls card testing is alerted; an analyst marks the alert a
false positive (``shopguard feedback``), and an account takeover is confirmed. ``shopguard retrain --from``
refits the model's per-type thresholds with the verdicts and publishes the new version through the gate
(the same LSTM, so the same test PR-AUC: not refused). The job swaps to it without a restart. Then the same
shopper does the same thing again a day later (past the cool-down): no alert; the account takeover's
behaviour, repeated by its user, still alerts, under the new version.
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from shopguard.cli import main
from shopguard.config import to_toml
from shopguard.local.alert_feed import collect
from shopguard.local.alert_feedback import read_verdicts, submit_verdict
from shopguard.local.demo_traffic import account_taker
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.udfs.events import Event
from shopguard.udfs.model_registry import ModelRegistry
from tests.integration.waiting import wait_on_job

pytestmark = pytest.mark.integration

T0 = 1_511_658_000_000
DAY = 86_400_000
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "udfs" / "default-model"


def small_failed_payments(user: str, start: int, tag: str) -> list[Event]:
    """Three failed payments of 1.0 five seconds apart, then three page views: what the model calls card testing."""
    return [
        Event(
            f"{user}-{tag}-{i}",
            user,
            "payment_failed" if i < 3 else "page_view",
            start + 5000 * i,
            item_id="i1",
            price=1.0,
        )
        for i in range(6)
    ]


def send(cfg, events: list[Event]) -> None:
    send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])


def alerts_of(cfg, user: str, version: str | None = None) -> list[dict]:
    alerts = collect(cfg, cfg.topics.alerts, until=lambda got: False, timeout_s=2)
    return [a for a in alerts if a.get("user_id") == user and (version is None or a["model_version"] == version)]


def swapped(cfg, job: RunningJob) -> bool:
    """Whether every scoring instance serves the new model; a model is swapped in as a batch is scored, so a
    few page views of several passers-by (both instances get some) keep batches coming meanwhile."""
    swapped.wave = getattr(swapped, "wave", 0) + 1
    send(
        cfg, [Event(f"pv-{swapped.wave}-{u}", f"passer-{u}", "page_view", T0 + DAY // 2, item_id="i") for u in range(8)]
    )
    return job.metrics().get("model_swaps", 0) >= cfg.job.parallelism


@pytest.fixture(scope="module")
def retrain_run(kafka_config, tmp_path_factory):
    registry_dir, staging = tmp_path_factory.mktemp("registry"), tmp_path_factory.mktemp("staging")
    base = shutil.copytree(DEFAULT_MODEL, staging / "base")
    registry = ModelRegistry(str(registry_dir))
    base_version = registry.set_current(registry.add(base)).model_version
    cfg, ports = isolated_job_config(
        kafka_config, "feedback", registry_dir, model_poll_interval_s=1.0, with_scores=False
    )
    ensure_topics(cfg)
    config_file = staging / "shopguard.toml"
    config_file.write_text(to_toml(cfg))
    job = RunningJob(cfg, tmp_path_factory.mktemp("job") / "job.log", ports=ports).start()
    try:
        send(cfg, small_failed_payments("fp-shopper", T0, "day1"))
        send(cfg, account_taker("taken-over", T0 + 60_000, random.Random(1)))
        fp_alert = wait_on_job(
            lambda: alerts_of(cfg, "fp-shopper"), 120, "the false positive's alert", job, every_s=1.0
        )[0]
        taken = wait_on_job(
            lambda: alerts_of(cfg, "taken-over"), 120, "the account takeover's alert", job, every_s=1.0
        )[0]
        submit_verdict(cfg, fp_alert["alert_id"], "false_positive", analyst="test", note="a real shopper")
        submit_verdict(cfg, taken["alert_id"], "confirmed", taken["anomaly_type"], analyst="test")
        verdicts, _ = read_verdicts(cfg)
        report_dir = tmp_path_factory.mktemp("reports")
        code = main(
            [
                "retrain",
                "--from",
                str(base),
                "--config",
                str(config_file),
                "--set",
                f'training.report_dir="{report_dir}"',
            ]
        )
        new_version = registry.current().model_version
        wait_on_job(lambda: swapped(cfg, job), 120, "the swap", job, every_s=1.0)
        send(cfg, small_failed_payments("fp-shopper", T0 + DAY, "day2"))
        # the same behaviour a day later, under new event ids (the job drops an id it has seen as a duplicate)
        again = account_taker("taken-over", T0 + DAY + 60_000, random.Random(2))
        send(cfg, [e._replace(event_id=f"{e.event_id}-day2") for e in again])
        wait_on_job(
            lambda: alerts_of(cfg, "taken-over", new_version),
            120,
            "the account takeover under the new model",
            job,
            every_s=1.0,
        )
        wait_on_job(
            lambda: job.metrics().get("events_in", 0) == job.metrics().get("events_to_score", -1),
            60,
            "all scored",
            job,
            every_s=1.0,
        )
        time.sleep(3 * cfg.job.checkpoint_interval_ms / 1000)  # a checkpoint commits whatever they alerted
        yield {
            "code": code,
            "verdicts": verdicts,
            "fp_alert": fp_alert,
            "base_version": base_version,
            "new_version": new_version,
            "fp_alerts": alerts_of(cfg, "fp-shopper"),
            "taken_alerts": alerts_of(cfg, "taken-over"),
            "report": (report_dir / "verdicts.md").read_text(),
            "metrics": job.metrics(),
            "restarts": job.job_restarts(),
            "running": job.is_running(),
            "cfg": cfg,
        }
    finally:
        job.stop()


def test_the_verdicts_were_written_and_read_back(retrain_run):
    assert {v.verdict for v in retrain_run["verdicts"]} == {"false_positive", "confirmed"}


def test_retrain_published_a_new_version_through_the_gate_and_the_job_swapped_without_a_restart(retrain_run):
    assert retrain_run["code"] == 0 and retrain_run["new_version"] != retrain_run["base_version"]
    assert retrain_run["running"] and retrain_run["restarts"] == 0
    assert retrain_run["metrics"]["model_swaps"] == retrain_run["cfg"].job.parallelism


def test_the_false_positive_is_not_alerted_again(retrain_run):
    assert {a["alert_id"] for a in retrain_run["fp_alerts"]} == {retrain_run["fp_alert"]["alert_id"]}
    assert {a["model_version"] for a in retrain_run["fp_alerts"]} == {retrain_run["base_version"]}


def test_confirmed_abuse_still_alerts_under_the_new_version(retrain_run):
    versions = {a["model_version"] for a in retrain_run["taken_alerts"]}
    assert versions == {retrain_run["base_version"], retrain_run["new_version"]}


def test_the_report_gives_precision_and_recall_by_type_from_the_verdicts(retrain_run):
    report = retrain_run["report"]
    assert "Precision and recall by type from analyst verdicts" in report
    assert f"| {retrain_run['fp_alert']['anomaly_type']} | 1 | 0 | 1 |" in report
