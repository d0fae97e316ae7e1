"""The pure parts of the local broker's start-up: the cluster id handed to ``kafka-storage format``."""

import re
import uuid

from shopguard.local import kafka_broker as local_kafka


def test_a_cluster_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch):
    # 0xF8 puts 0b111110 (index 62, "-" in URL-safe base64) first; the storage tool then reads the id as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x00" * 15 + b"\x01")])
    monkeypatch.setattr(local_kafka.uuid, "uuid4", lambda: next(draws))
    assert local_kafka._kafka_uuid() == "AAAAAAAAAAAAAAAAAAAAAQ"


def test_cluster_ids_are_22_url_safe_characters_that_never_start_with_a_dash():
    ids = [local_kafka._kafka_uuid() for _ in range(2000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
