"""A review burst through the live job (real broker, mini-cluster, the shipped default model): alerted, in words.

One account writes many reviews seconds apart for items it never bought, amid real Taobao shoppers.
The alert must name it as review abuse and say why in words a customer-service agent can read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.training.datasets import read_taobao
from shopguard.udfs.events import Event

pytestmark = pytest.mark.integration

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"
T0 = 1_511_658_000_000
REVIEWER = "it-review-burst"


def review_burst(user: str, start_ms: int, reviews: int = 16) -> list[Event]:
    """A look at the shop, then a review every 8-15 s, each for another item, none bought."""
    events = [Event(f"{user}-0", user, "page_view", start_ms, item_id="shop-item-0", device_id="d-rv", ip="10.9.9.9")]
    ts = start_ms
    for n in range(1, reviews + 1):
        ts += 8_000 + 7_000 * (n % 2)
        events.append(
            Event(f"{user}-{n}", user, "review", ts, item_id=f"shop-item-{n}", device_id="d-rv", ip="10.9.9.9")
        )
    return events


@pytest.fixture(scope="module")
def burst_alerts(kafka_config, tmp_path_factory):
    cfg, ports = isolated_job_config(kafka_config, "reviews", tmp_path_factory.mktemp("reviews-registry"))
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("reviews-job") / "job.log", ports=ports).start()
    try:
        normal, _ = read_taobao(TAOBAO)
        events = normal[:300] + review_burst(REVIEWER, T0 + 60_000)
        send_records(cfg, cfg.topics.events, [(e.user_id, e.to_json().encode()) for e in events])
        alerts = collect(
            cfg, cfg.topics.alerts, until=lambda got: any(a["user_id"] == REVIEWER for a in got), timeout_s=150
        )
        yield [a for a in alerts if a["user_id"] == REVIEWER], job
    finally:
        job.stop()


def test_a_review_burst_is_alerted_as_review_abuse_with_its_reasons_in_words(burst_alerts):
    alerts, job = burst_alerts
    assert alerts, f"no alert for the review burst\n{job.log_tail(40)}"
    strongest = max(alerts, key=lambda a: a["score"])
    texts = [r["text"] for r in strongest["reasons"]]
    review = [r for r in strongest["reasons"] if r.get("feature") == "review"]
    assert review and "reviews and not one purchase among the last" in review[0]["text"], texts
    assert strongest["anomaly_type"] == "review_abuse", (strongest["anomaly_type"], texts)
