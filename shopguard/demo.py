"""``shopguard demo``: the whole system on one machine, with alerts on screen.

Starts the embedded Kafka broker (unless one already runs), creates the topics, starts the detection
job on a local Flink mini-cluster in a child process, streams the Taobao slice with a few abnormal
users into ``user-events`` and prints alerts and dead letters as they arrive. Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from shopguard.alert_feed import describe_alert, describe_dead_letter, open_consumer, records
from shopguard.config import ShopguardConfig
from shopguard.demo_traffic import demo_events
from shopguard.local_kafka import LocalKafkaBroker
from shopguard.producer import replay_events
from shopguard.topics import ensure_topics
from shopguard.training.datasets import read_taobao


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def start_job_process(config_args: Sequence[str], log_path: Path) -> subprocess.Popen:
    """The detection job in its own process group (PyFlink starts a JVM under it), logging to a file."""
    log = log_path.open("ab")
    return subprocess.Popen([sys.executable, "-m", "shopguard.jobs.detect_job", *config_args],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_job_process(job: subprocess.Popen) -> None:
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def run_demo(cfg: ShopguardConfig, config_args: Sequence[str]) -> int:
    """Run the demo until Ctrl-C (or until the job dies); returns an exit code."""
    broker = LocalKafkaBroker(cfg)
    broker_was_running = broker.status().running
    broker.start()
    ensure_topics(cfg)
    events, bad_rows = read_taobao(cfg.demo.taobao_csv)
    if cfg.demo.max_events:
        events = events[:cfg.demo.max_events]
    traffic = demo_events(events, cfg.demo.abnormal_users, cfg.demo.seed, cfg.validation.min_event_time_ms)
    say(f"{len(events):,} Taobao events from {cfg.demo.taobao_csv} ({len(bad_rows)} unreadable rows skipped) "
        f"+ {len(traffic) - len(events)} events of {cfg.demo.abnormal_users} abnormal users, at {cfg.demo.speedup:g}x")

    feed = open_consumer(cfg, cfg.topics.alerts, cfg.topics.dead_letters, from_start=False)
    log_path = Path(cfg.cache_dir) / "demo-job.log"
    job = start_job_process(config_args, log_path)
    say(f"detection job starting on a local Flink mini-cluster (pid {job.pid}, log {log_path})")
    stopping = threading.Event()
    producer = threading.Thread(target=replay_events, daemon=True,
                                args=(cfg, traffic, cfg.demo.speedup, say, stopping.is_set))
    producer.start()
    say(f"streaming demo traffic into {cfg.topics.events!r}; alerts from {cfg.topics.alerts!r} follow (Ctrl-C stops)")
    try:
        for topic, _, value in records(feed, stop=lambda: job.poll() is not None):
            if topic == cfg.topics.alerts and isinstance(value, dict):
                say(describe_alert(value))
            elif isinstance(value, dict):
                say(describe_dead_letter(value))
        say(f"the detection job stopped with exit code {job.returncode}; see {log_path}")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        stopping.set()
        feed.close()
        stop_job_process(job)
        if not broker_was_running:
            broker.stop()
