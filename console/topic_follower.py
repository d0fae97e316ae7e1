"""Follows the alerts, the analysts' verdicts and the rules from Kafka into the console, as they are committed.

One group-less consumer reads the three topics from their start with ``isolation_level="read_committed"``
(an alert of an aborted job attempt never reaches a page) and keeps reading: alerts go to the
:class:`~shopguard.console.alert_board.AlertBoard`, verdicts too (a verdict closes its alert), rules to
:class:`~shopguard.console.active_rules.ActiveRules`. A topic that does not exist yet is looked for again
every few seconds, so the console may start before the job or ``shopguard topics`` has created it.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from shopguard.config import ShopguardConfig
from shopguard.console.active_rules import ActiveRules
from shopguard.console.alert_board import AlertBoard
from shopguard.errors import ShopguardError
from shopguard.local.alert_feed import json_or_text
from shopguard.local.topics import kafka_python_options
from shopguard.training.analyst_verdicts import VerdictRefused, parse_verdict

LOOK_FOR_TOPICS_S = 5.0


class ConsoleKafkaError(ShopguardError):
    """The console cannot reach Kafka; the message names the bootstrap servers and what to do."""


class TopicFollower:
    """Reads the console's topics in a background thread until :meth:`stop`."""

    def __init__(self, cfg: ShopguardConfig, board: AlertBoard, rules: ActiveRules) -> None:
        self.topics = {cfg.topics.alerts: self._alert, cfg.topics.feedback: self._verdict, cfg.topics.rules: self._rule}
        self.board, self.rules = board, rules
        self.refused_verdicts = 0
        self._bootstrap = cfg.kafka.bootstrap_servers
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=cfg.kafka.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                **kafka_python_options(cfg),
            )
        except KafkaError:
            raise ConsoleKafkaError(
                f"no Kafka broker answers at {cfg.kafka.bootstrap_servers}: start one with "
                "'shopguard kafka start' (or 'shopguard demo') or set kafka.bootstrap_servers"
            ) from None
        self._assigned: set[TopicPartition] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="console-topics", daemon=True)

    def start(self) -> None:
        self._assign_new_partitions()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def status(self) -> str:
        """One line for the page's header: which topics are followed, which are awaited."""
        followed = sorted({p.topic for p in self._assigned})
        awaited = sorted(set(self.topics) - set(followed))
        line = f"following {', '.join(followed) or 'nothing yet'} on {self._bootstrap}"
        return line + (f"; waiting for {', '.join(awaited)} to be created" if awaited else "")

    def _follow(self) -> None:
        looked = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() - looked > LOOK_FOR_TOPICS_S and len({p.topic for p in self._assigned}) < len(
                self.topics
            ):
                self._assign_new_partitions()
                looked = time.monotonic()
            if not self._assigned:
                self._stopping.wait(0.5)
                continue
            try:
                batches = self._consumer.poll(timeout_ms=200)
            except KafkaError:
                self._stopping.wait(1.0)  # the broker went away: kafka-python reconnects, we keep asking
                continue
            for batch in batches.values():
                for record in batch:
                    key = record.key.decode("utf-8", "replace") if record.key is not None else None
                    self.topics[record.topic](key, record.value)

    def _assign_new_partitions(self) -> None:
        try:
            found = {TopicPartition(t, p) for t in self.topics for p in self._consumer.partitions_for_topic(t)}
        except KafkaError:
            return
        new = found - self._assigned
        if new:
            self._consumer.assign(sorted(self._assigned | new))
            self._consumer.seek_to_beginning(*sorted(new))
            self._assigned = self._assigned | new  # a new set: status() reads it from another thread

    def _alert(self, key: str | None, value: bytes | None) -> None:
        alert = json_or_text(value)
        if isinstance(alert, dict):
            self.board.add_alert(alert)

    def _verdict(self, key: str | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            verdict = parse_verdict(value)
        except VerdictRefused:
            self.refused_verdicts += 1  # retrain reads and reports these; the console only skips them
            return
        self.board.add_verdict(dataclasses.asdict(verdict))

    def _rule(self, key: str | None, value: bytes | None) -> None:
        self.rules.apply(value)
