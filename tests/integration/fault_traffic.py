"""Traffic for the fault, hot-reload and live-rules tests: waves of abnormal users that keep flowing while parts
of the system break or change.

One new card tester per wave, every ``pause_s`` of wall time, its events ``wave_ms`` of event time after the
previous wave's. The producer survives a broker outage:
records whose send failed or was not acknowledged are sent again (a new producer after each failure),
and only what the broker acknowledged counts as sent. A resent record may land twice in the topic
(its first attempt could have been written before the acknowledgement was lost); the job drops it as
a duplicate by ``event_id``, which is what the tests check.
"""

from __future__ import annotations

import random
import threading
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

from shopguard.config import ShopguardConfig
from shopguard.local.demo_traffic import card_tester
from shopguard.local.topics import kafka_python_options

T0 = 1_511_658_000_000


class Waves(threading.Thread):
    """Waves of card testers named ``{prefix}-w{n}`` until :meth:`stop`; see the module docstring."""

    def __init__(self, cfg: ShopguardConfig, topic: str, prefix: str, pause_s: float = 0.3, wave_ms: int = 1000):
        super().__init__(daemon=True, name=f"waves-{prefix}")
        self.cfg, self.topic, self.prefix, self.pause_s, self.wave_ms = cfg, topic, prefix, pause_s, wave_ms
        self.acked: list[str] = []  # event ids the broker acknowledged
        self.users: list[str] = []  # wave users whose every event was acknowledged
        self.send_failures = 0
        self.error: BaseException | None = None
        self._stop_after_wave = threading.Event()
        self._abort = threading.Event()
        self._lock = threading.Lock()

    def stop(self, timeout_s: float = 90.0) -> None:
        """Finish the wave in flight (retrying until the broker takes it), then stop; abort after ``timeout_s``."""
        self._stop_after_wave.set()
        self.join(timeout=timeout_s)
        if self.is_alive():
            self._abort.set()
            self.join(timeout=15)

    def abort(self) -> None:
        self._stop_after_wave.set()
        self._abort.set()

    def snapshot(self) -> tuple[list[str], list[str]]:
        with self._lock:
            return list(self.users), list(self.acked)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # reported by the test, never swallowed
            self.error = error

    def _run(self) -> None:
        producer: KafkaProducer | None = None
        wave = 0
        while not self._stop_after_wave.is_set():
            user = f"{self.prefix}-w{wave}"
            pending = card_tester(user, T0 + wave * self.wave_ms, random.Random(wave))
            while pending and not self._abort.is_set():
                if producer is None:
                    producer = self._producer()
                    if producer is None:
                        time.sleep(0.5)
                        continue
                pending = self._send(producer, pending)
                if pending:
                    self.send_failures += 1
                    _close(producer)
                    producer = None
                    time.sleep(0.5)
            if pending:
                break  # aborted mid-wave: this user is not counted
            with self._lock:
                self.users.append(user)
            wave += 1
            self._stop_after_wave.wait(self.pause_s)
        if producer is not None:
            _close(producer)

    def _producer(self) -> KafkaProducer | None:
        try:
            return KafkaProducer(
                bootstrap_servers=self.cfg.kafka.bootstrap_servers,
                linger_ms=5,
                acks="all",
                max_block_ms=3000,
                request_timeout_ms=4000,
                delivery_timeout_ms=8000,
                retries=0,
                **kafka_python_options(self.cfg),
            )
        except (KafkaError, OSError):
            return None

    def _send(self, producer: KafkaProducer, events: list) -> list:
        """Send ``events``; return those the broker did not acknowledge."""
        futures = []
        for event in events:
            try:
                futures.append(
                    (event, producer.send(self.topic, key=event.user_id.encode(), value=event.to_json().encode()))
                )
            except (KafkaError, OSError):
                futures.append((event, None))
        try:
            producer.flush(timeout=10)
        except (KafkaError, OSError):
            pass
        failed = []
        for event, future in futures:
            if future is not None and future.is_done and future.succeeded():
                with self._lock:
                    self.acked.append(event.event_id)
            else:
                failed.append(event)
        return failed


def _close(producer: KafkaProducer) -> None:
    try:
        producer.close(timeout=2)
    except (KafkaError, OSError):
        pass
