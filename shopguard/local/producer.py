"""Writing to Kafka: events replayed at a chosen speed-up of their own event time, and records that must land.

``shopguard produce`` uses :func:`replay_events` to stream the Taobao slice (with demo abnormal users) into
``user-events``; tests use :func:`send_records` to put exact bytes, good or bad, on a topic; an analyst's
verdict and a rule change go through :func:`deliver`, which waits until every in-sync replica has each record.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Sequence

from kafka import KafkaProducer
from kafka.errors import KafkaError

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.topics import kafka_python_options
from shopguard.udfs.events import Event


def open_producer(cfg: ShopguardConfig) -> KafkaProducer:
    """A producer for ``cfg.kafka`` that batches a little (5 ms) and waits for the leader's ack."""
    return KafkaProducer(
        bootstrap_servers=cfg.kafka.bootstrap_servers,
        linger_ms=5,
        acks=1,
        max_request_size=4 * 1024 * 1024,
        **kafka_python_options(cfg),
    )


def send_records(cfg: ShopguardConfig, topic: str, records: Iterable[tuple[str | None, bytes | None]]) -> int:
    """Send ``(key, value)`` pairs as they are (no validation: bad input is the point) and flush."""
    producer = open_producer(cfg)
    try:
        count = 0
        for key, value in records:
            producer.send(topic, key=None if key is None else key.encode("utf-8"), value=value)
            count += 1
        producer.flush()
        return count
    finally:
        producer.close()


def deliver(
    cfg: ShopguardConfig,
    topic: str,
    records: Iterable[tuple[str, str]],
    what: str,
    error: type[ShopguardError] = ShopguardError,
) -> None:
    """Write ``(key, value)`` text records to ``topic`` in order, each acknowledged by every in-sync replica
    (``acks=all``) before the next; raise ``error`` naming ``what``, the topic and the broker when the broker does
    not answer or refuses one (the records before it are written)."""
    try:
        producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", **kafka_python_options(cfg))
    except KafkaError:
        raise error(
            f"no Kafka broker answers at {cfg.kafka.bootstrap_servers}: start one with "
            "'shopguard kafka start' or set kafka.bootstrap_servers"
        ) from None
    try:
        for key, value in records:
            producer.send(topic, key=key.encode("utf-8"), value=value.encode("utf-8")).get(timeout=30)
    except KafkaError as failure:
        raise error(
            f"writing {what} to {topic!r} on {cfg.kafka.bootstrap_servers} failed: {failure}; "
            "create the topic with 'shopguard topics'"
        ) from None
    finally:
        producer.close()


def replay_events(
    cfg: ShopguardConfig,
    events: Sequence[Event],
    speedup: float,
    progress: Callable[[str], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send ``events`` (sorted by event time) keyed by user, ``speedup`` times faster than they happened.

    ``speedup <= 0`` sends as fast as the broker takes them. Returns the number of events sent.
    """
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    producer = open_producer(cfg)
    started, first_ts, sent = time.monotonic(), None, 0
    try:
        for event in events:
            if stop():
                break
            first_ts = event.ts_ms if first_ts is None else first_ts
            if speedup > 0:
                _wait_until(started + (event.ts_ms - first_ts) / 1000.0 / speedup, stop)
            producer.send(cfg.topics.events, key=event.user_id.encode("utf-8"), value=event.to_json().encode("utf-8"))
            sent += 1
            if sent % 10000 == 0:
                progress(f"produced {sent:,} of {len(events):,} events to {cfg.topics.events!r}")
        producer.flush()
    finally:
        producer.close()
    return sent


def _wait_until(deadline: float, stop: Callable[[], bool]) -> None:
    """Sleep until the monotonic ``deadline``, in short steps so that ``stop`` is noticed."""
    while not stop():
        ahead = deadline - time.monotonic()
        if ahead <= 0:
            return
        time.sleep(min(ahead, 0.25))
