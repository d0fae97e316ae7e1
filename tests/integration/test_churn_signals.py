"""Churn timers in the shipped setup: the churn step (udfs/churn_step.py) on the real broker and a real
session cluster, through a TaskManager kill; and in a replay (``shopguard detect``) of a file.

Live: the job (the shipped configuration on private topics: checkpoints, exactly-once sinks) reads
events whose Kafka timestamps are their event times, so the source's watermark, which reaches the churn
step, is event time, moved on by other customers' later events. Customers visit every 40 minutes (visits are more
than 30 minutes apart), with the churn settings scaled down to that cadence so that a run of a few
event-time hours shows a whole episode; the rule is the same.

Part one: every customer's visits, then clock users' events up to just after ``early``'s deadline. Once
``early``'s churn signal is committed, a checkpoint holds every other customer's pending timer. The
TaskManagers are killed and fresh ones started; the job restores from that checkpoint. Part two moves
event time on: ``silent``'s restored timer must fire at the right event time, ``returning`` comes back
and gets ``recovered``, and no signal revision is delivered twice.

Part two is sent in two steps: event time up to ``returning``'s comeback, and only once its ``recovered`` is
committed, the rest. Sent at once, a source reader could run the watermark past ``returning``'s next
deadline before another had read the comeback (partitions idle since the restart stop holding the
watermark, ``job.idle_source_timeout_ms``): an update before ``recovered`` that the rule never makes.
The job keeps the default idle timeout (the clock users keep both partitions busy, so no reader has to be
declared idle): with 2 s, a reader held up for 2 s on a loaded machine counted as idle, and the other
reader's watermark fired ``returning``'s timer before its last visit was read (an episode opened and
recovered one visit early, then the real one).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections import Counter

import pytest
from kafka import KafkaProducer

from shopguard.config import ChurnSettings
from shopguard.local.alert_feed import collect
from shopguard.local.flink_cluster import FlinkSessionCluster
from shopguard.local.topics import ensure_topics, kafka_python_options
from shopguard.udfs.alerts import rfc3339_ms
from shopguard.udfs.churn_state import ChurnState
from shopguard.udfs.churn_watch import ChurnWatch
from shopguard.udfs.events import Event
from shopguard.udfs.placeholder_model import write_placeholder_model
from tests.integration.conftest import cluster_config
from tests.integration.job_recovery import diagnostics, replace_taskmanagers, restart_marks, wait_until_running_again

pytestmark = pytest.mark.integration

MINUTE = 60_000
CADENCE = 40 * MINUTE
T0 = (int(time.time() * 1000) - 12 * 3_600_000) // MINUTE * MINUTE  # hours ago: inside the topic's retention
CHURN = ChurnSettings(default_visit_gap_days=CADENCE / 86_400_000, min_silence_days=1 / 24, thinning_factor=1e9)
VISITS = 6
SIGNAL_TIMEOUT_S = 120
RECOVERY_TIMEOUT_S = 90


def visits(user: str, start: int, count: int = VISITS) -> list[Event]:
    return [
        Event(f"{user}-{n}-{k}", user, "page_view", start + n * CADENCE + k * MINUTE, item_id=f"i{k}")
        for n in range(count)
        for k in range(2)
    ]


def clock(until: int, since: int = T0) -> list[Event]:
    """Events of eight always-active users every 5 minutes: they move every partition's event time on."""
    return [
        Event(f"clock{c}-{ts}", f"clock-{c}", "page_view", ts, item_id="c")
        for ts in range(since, until, 5 * MINUTE)
        for c in range(8)
    ]


def threshold_ms(count: int = VISITS) -> int:
    """The silence threshold of a customer with ``count`` visits :data:`CADENCE` apart."""
    state = ChurnState(visits=count, mean_gap_s=CADENCE / 1000, longest_gap_s=CADENCE / 1000)
    return ChurnWatch(CHURN).threshold_ms(state)


def send_in_event_time(cfg, events: list[Event]) -> None:
    """Each event with its ``ts`` as the record's Kafka timestamp, in time order."""
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", **kafka_python_options(cfg))
    try:
        for event in sorted(events, key=_ts):
            producer.send(
                cfg.topics.events, key=event.user_id.encode(), value=event.to_json().encode(), timestamp_ms=event.ts_ms
            )
        producer.flush()
    finally:
        producer.close()


def _ts(event: Event) -> int:
    return event.ts_ms


@pytest.fixture(scope="module")
def churn_run(kafka_config, tmp_path_factory):
    base = cluster_config(
        kafka_config, tmp_path_factory.mktemp("churn-cluster"), tmp_path_factory.mktemp("churn-registry")
    )
    placeholder = write_placeholder_model(tmp_path_factory.mktemp("churn-model"))
    cfg = dataclasses.replace(
        base,
        churn=CHURN,
        job=dataclasses.replace(base.job, model_path=str(placeholder)),
    )
    ensure_topics(cfg)
    cluster = FlinkSessionCluster(cfg)
    last_visit = T0 + (VISITS - 1) * CADENCE
    early_last = T0 + (VISITS - 3) * CADENCE
    deadline = last_visit + threshold_ms()
    early_deadline = early_last + threshold_ms(VISITS - 2)
    part_one = visits("silent", T0) + visits("returning", T0) + visits("early", T0, VISITS - 2)
    part_one += clock(until=early_deadline + 15 * MINUTE)
    comeback = Event("returning-back", "returning", "page_view", deadline + 30 * MINUTE)
    up_to_comeback = [*clock(since=early_deadline + 15 * MINUTE, until=comeback.ts_ms), comeback]
    after_comeback = clock(since=comeback.ts_ms, until=deadline + threshold_ms() + 20 * MINUTE)
    try:
        cluster.start()
        job_id = cluster.submit()
        send_in_event_time(cfg, part_one)
        before = collect(
            cfg, cfg.topics.risk_signals, until=lambda got: any(s["user_id"] == "early" for s in got), timeout_s=120
        )
        assert before, f"no committed churn signal before the kill\n{diagnostics(cluster, job_id)}"
        before = restart_marks(cluster, job_id)
        killed, _ = replace_taskmanagers(cluster, cfg.cluster.taskmanagers)
        wait_until_running_again(cluster, job_id, before, RECOVERY_TIMEOUT_S)
        send_in_event_time(cfg, up_to_comeback)
        came_back = collect(
            cfg,
            cfg.topics.risk_signals,
            until=lambda got: ("returning", "recovered") in {(s["user_id"], s["status"]) for s in got},
            timeout_s=SIGNAL_TIMEOUT_S,
        )
        assert came_back, f"no signal at all after the comeback\n{diagnostics(cluster, job_id)}"
        send_in_event_time(cfg, after_comeback)

        def complete(got) -> bool:
            statuses = {(s["user_id"], s["status"]) for s in got}
            return {("silent", "updated"), ("returning", "recovered")} <= statuses

        signals = collect(cfg, cfg.topics.risk_signals, until=complete, timeout_s=SIGNAL_TIMEOUT_S)
        time.sleep(2 * cfg.job.checkpoint_interval_ms / 1000)  # a duplicate would be committed by now
        signals = collect(cfg, cfg.topics.risk_signals, until=lambda got: False, timeout_s=5)
        yield {
            "signals": signals,
            "before": before,
            "killed": killed,
            "deadline": deadline,
            "last_visit": last_visit,
            "early_deadline": early_deadline,
            "comeback": comeback,
            "diagnostics": diagnostics(cluster, job_id),
        }
    finally:
        cluster.stop()


def _of(run, user: str) -> list[dict]:
    return sorted((s for s in run["signals"] if s["user_id"] == user), key=lambda s: s["revision"])


def test_a_silent_customer_gets_a_churn_signal_at_the_event_time_their_silence_became_unusual(churn_run):
    run = churn_run
    assert run["killed"], "no TaskManager was killed"
    silent = _of(run, "silent")
    assert silent, f"no signal for the silent customer: {run['signals']}\n{run['diagnostics']}"
    opened = silent[0]
    assert opened["status"] == "open" and opened["signal"] == "churn_risk" and opened["score"] == 0.5
    assert opened["at"] == rfc3339_ms(run["deadline"]) and opened["since"] == rfc3339_ms(run["last_visit"])
    assert opened["reasons"][0]["text"].startswith("no visit for")
    assert opened["rule_version"] == CHURN.rule_version
    assert [s["status"] for s in silent] == ["open", "updated"]
    assert silent[1]["at"] == rfc3339_ms(run["deadline"] + threshold_ms())


def test_a_customer_who_comes_back_gets_recovered(churn_run):
    returning = _of(churn_run, "returning")
    assert [s["status"] for s in returning] == ["open", "recovered"], churn_run["signals"]
    assert returning[0]["at"] == rfc3339_ms(churn_run["deadline"])  # the same cadence and last visit as silent's
    assert returning[1]["at"] == rfc3339_ms(churn_run["comeback"].ts_ms) and returning[1]["score"] == 0.0
    assert returning[1]["reasons"][0]["text"].startswith("the customer came back after")
    assert len({s["signal_id"] for s in returning}) == 1


def test_the_restart_neither_lost_nor_repeated_a_timer(churn_run):
    run = churn_run
    early = _of(run, "early")
    assert early and early[0]["at"] == rfc3339_ms(run["early_deadline"])  # fired before the kill
    counts = Counter((s["signal_id"], s["revision"]) for s in run["signals"])
    twice = {key: n for key, n in counts.items() if n > 1}
    assert not twice, f"delivered more than once to a read_committed consumer: {twice}"
    assert not [s for s in run["signals"] if s["user_id"].startswith("clock")]


DAY = 86_400_000
REPLAY_T0 = 1_700_000_000_000
REPLAY_END = REPLAY_T0 + 36 * DAY


def replay_events() -> tuple[list[Event], dict]:
    """Two customers who visit every 2 days and go quiet (one comes back), one whose silence would outlast the
    file, and two clock customers every 6 hours up to the file's end."""
    every_2_days = ChurnState(visits=6, mean_gap_s=2 * 86_400.0, longest_gap_s=2 * 86_400.0)
    threshold = ChurnWatch(ChurnSettings()).threshold_ms(every_2_days)
    last_visit = REPLAY_T0 + 10 * DAY
    back = last_visit + threshold + 2 * DAY
    events = [
        Event(f"{user}-{n}-{k}", user, "page_view", REPLAY_T0 + start + n * 2 * DAY + k * MINUTE, item_id="i")
        for user, start, count in (("r-silent", 0, 6), ("r-returning", 0, 6), ("r-late", 30 * DAY, 3))
        for n in range(count)
        for k in range(2)
    ]
    events.append(Event("r-returning-back", "r-returning", "page_view", back, item_id="i"))
    events += [
        Event(f"r-clock{c}-{ts}", f"r-clock-{c}", "page_view", ts, item_id="c")
        for ts in range(REPLAY_T0, REPLAY_END, 6 * 3_600_000)
        for c in range(2)
    ]
    return sorted(events, key=_ts), {"threshold": threshold, "last_visit": last_visit, "back": back}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("churn-replay")
    events, times = replay_events()
    events_file, alerts_file = folder / "events.jsonl", folder / "alerts.jsonl"
    events_file.write_text("".join(e.to_json() + "\n" for e in events))
    model = write_placeholder_model(folder / "model")
    subprocess.run(
        [sys.executable, "-m", "shopguard.cli", "detect", "--input", str(events_file), "--output", str(alerts_file)]
        + ["--model", str(model)],
        check=True,
        timeout=300,
    )
    signals = [json.loads(line) for line in alerts_file.with_suffix(".signals.jsonl").read_text().splitlines()]
    return signals, times


def test_a_replay_reports_the_silences_its_events_show_at_their_event_time(replayed):
    signals, times = replayed
    silent = sorted((s for s in signals if s["user_id"] == "r-silent"), key=lambda s: s["revision"])
    levels = [k for k in range(1, 5) if times["last_visit"] + k * times["threshold"] < REPLAY_END - MINUTE]
    assert [s["at"] for s in silent] == [rfc3339_ms(times["last_visit"] + k * times["threshold"]) for k in levels]
    assert [s["status"] for s in silent] == ["open"] + ["updated"] * (len(levels) - 1)
    returning = sorted((s for s in signals if s["user_id"] == "r-returning"), key=lambda s: (s["at"], s["revision"]))
    assert [s["status"] for s in returning][:2] == ["open", "recovered"]  # a second silence may open later
    assert returning[0]["at"] == rfc3339_ms(times["last_visit"] + times["threshold"])
    assert returning[1]["at"] == rfc3339_ms(times["back"]) and returning[1]["signal_id"] == returning[0]["signal_id"]


def test_a_replay_end_does_not_report_silences_beyond_its_last_event(replayed):
    signals, _ = replayed
    assert not [s for s in signals if s["user_id"] == "r-late" or s["user_id"].startswith("r-clock")], signals
