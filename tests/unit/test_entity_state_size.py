"""State per active entity, as the job stores it: bounded, within 1 KB with UUID-long account ids."""

from __future__ import annotations

from shopguard.bench.entity_state import entity_state, hot_ip
from shopguard.config import ShopguardConfig


def test_a_hot_ip_with_uuid_long_ids_stores_at_most_one_kilobyte():
    body = entity_state(ShopguardConfig(), hot_ip(3000), "hot ip")
    assert body["ip"]["entities"] == 1 and body["ip"]["max_bytes"] <= 1024
    assert "ring_records" not in body  # an honest crowd raises no ring
