"""``shopguard demo``: the whole system on one machine, with alerts on screen.

Starts the embedded Kafka broker (unless one already runs), creates the topics, starts the detection
job on a local Flink mini-cluster in a child process, streams the Taobao slice with a few abnormal
users into ``user-events`` and prints the first alert of each user and every dead letter as they
arrive. Ctrl-C (or SIGTERM) stops it all and prints a summary.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from shopguard.config import ShopguardConfig
from shopguard.local.alert_feed import describe_alert, describe_dead_letter, open_consumer, records
from shopguard.local.demo_traffic import demo_events
from shopguard.local.job_process import DETECT_JOB_MODULE
from shopguard.local.kafka_broker import LocalKafkaBroker
from shopguard.local.producer import replay_events
from shopguard.local.topics import ensure_topics
from shopguard.training.datasets import read_taobao


def say(line: str) -> None:
    try:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)
    except OSError:  # the terminal or pipe is gone (e.g. `| tee` died with Ctrl-C): keep cleaning up
        pass


class FeedPrinter:
    """Prints the first alert of each user and every dead letter; counts the rest for a summary.

    The job alerts on every event whose score crosses the threshold (a per-user cool-down is not built
    yet), so a bot yields dozens of alerts; on screen one line per user is what a person can follow.
    """

    def __init__(self) -> None:
        self.alerts_by_user: Counter[str] = Counter()
        self.users_by_type: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()

    def show(self, topic_is_alerts: bool, value: object) -> None:
        if not isinstance(value, dict):
            return
        if topic_is_alerts:
            user = value.get("user_id", "?")
            self.alerts_by_user[user] += 1
            if self.alerts_by_user[user] == 1:
                self.users_by_type[value.get("anomaly_type", "unknown")] += 1
                say(describe_alert(value))
        else:
            self.dead_letters[value.get("reason", "?")] += 1
            say(describe_dead_letter(value))

    def summary(self) -> str:
        types = ", ".join(f"{kind} {n}" for kind, n in self.users_by_type.most_common()) or "none"
        letters = ", ".join(f"{reason} {n}" for reason, n in self.dead_letters.most_common()) or "none"
        return (
            f"{sum(self.alerts_by_user.values())} alerts for {len(self.alerts_by_user)} users "
            f"(users by type: {types}); dead letters: {letters}"
        )


def start_job_process(config_args: Sequence[str], log_path: Path) -> subprocess.Popen:
    """The detection job in its own process group (PyFlink starts a JVM under it), logging to a file."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", DETECT_JOB_MODULE, *config_args],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_job_process(job: subprocess.Popen) -> None:
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_demo(cfg: ShopguardConfig, config_args: Sequence[str]) -> int:
    """Run the demo until Ctrl-C (or until the job dies); returns an exit code."""
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop cleans up like Ctrl-C
    broker = LocalKafkaBroker(cfg)
    broker_was_running = broker.status().running
    broker.start()
    ensure_topics(cfg)
    events, bad_rows = read_taobao(cfg.data.taobao_csv)
    if cfg.demo.max_events:
        events = events[: cfg.demo.max_events]
    traffic = demo_events(events, cfg.demo.abnormal_users, cfg.demo.seed, cfg.validation.min_event_time_ms)
    say(
        f"{len(events):,} Taobao events from {cfg.data.taobao_csv} ({len(bad_rows)} unreadable rows skipped) "
        f"+ {len(traffic) - len(events)} events of {cfg.demo.abnormal_users} abnormal users, at {cfg.demo.speedup:g}x"
    )

    feed = open_consumer(cfg, cfg.topics.alerts, cfg.topics.dead_letters, from_start=False)
    log_path = Path(cfg.cache_dir) / "demo-job.log"
    job = start_job_process(config_args, log_path)
    say(f"detection job starting on a local Flink mini-cluster (pid {job.pid}, log {log_path})")
    stopping = threading.Event()
    producer = threading.Thread(
        target=replay_events, daemon=True, args=(cfg, traffic, cfg.demo.speedup, say, stopping.is_set)
    )
    producer.start()
    say(f"streaming demo traffic into {cfg.topics.events!r}; alerts from {cfg.topics.alerts!r} follow (Ctrl-C stops)")
    say(
        "to review them in a browser, run '.venv/bin/shopguard console' in another terminal and open "
        f"http://{cfg.console.host}:{cfg.console.port}/"
    )
    printer = FeedPrinter()
    try:
        for topic, _, value in records(feed, stop=lambda: job.poll() is not None):
            printer.show(topic == cfg.topics.alerts, value)
        say(f"the detection job stopped with exit code {job.returncode}; see {log_path}")
        return 1
    except KeyboardInterrupt:
        say("stopping the job and the demo traffic")
        return 0
    finally:
        # A second Ctrl-C (or `timeout`, which signals the child and then its whole group) must not cut the
        # clean-up short and leave the job or the broker running; it takes a few seconds at most.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping.set()
        stop_job_process(job)
        feed.close()
        if not broker_was_running:
            say("stopping the Kafka broker")
            broker.stop()
        say(f"stopped; {printer.summary()}")
