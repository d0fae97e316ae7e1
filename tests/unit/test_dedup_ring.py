"""The dedup ring lookup answers exactly as the slot-by-slot loop it replaced, on random rings."""

import random

from shopguard.udfs.user_state import ID_FINGERPRINT_BYTES, _ring_contains, event_id_fingerprint


def _slot_by_slot(ring: bytes, fingerprint: bytes) -> bool:
    """The former lookup: compare the fingerprint with each 8-byte slot in turn."""
    for start in range(0, len(ring), ID_FINGERPRINT_BYTES):
        if ring[start : start + ID_FINGERPRINT_BYTES] == fingerprint:
            return True
    return False


def _rings_and_probes(rng: random.Random):
    """Random rings (0-64 fingerprints) with probes: each slot, an absent id, and 8 bytes across two slots."""
    for _ in range(500):
        ring = b"".join(event_id_fingerprint(f"e{rng.randrange(10**9)}") for _ in range(rng.randint(0, 64)))
        probes = [ring[at : at + ID_FINGERPRINT_BYTES] for at in range(0, len(ring), ID_FINGERPRINT_BYTES)]
        probes.append(event_id_fingerprint(f"absent-{rng.random()}"))
        if len(ring) >= 2 * ID_FINGERPRINT_BYTES:
            at = rng.randrange(0, len(ring) - ID_FINGERPRINT_BYTES)
            probes.append(ring[at : at + ID_FINGERPRINT_BYTES])  # aligned or not
            unaligned = rng.randrange(0, len(ring) // ID_FINGERPRINT_BYTES - 1) * ID_FINGERPRINT_BYTES + rng.randint(
                1, 7
            )
            probes.append(ring[unaligned : unaligned + ID_FINGERPRINT_BYTES])
        yield ring, probes


def test_the_lookup_agrees_with_the_slot_by_slot_loop_on_random_rings():
    checked = 0
    for ring, probes in _rings_and_probes(random.Random(24)):
        for probe in probes:
            assert _ring_contains(ring, probe) == _slot_by_slot(ring, probe), (ring.hex(), probe.hex())
            checked += 1
    assert checked > 10_000


def test_a_fingerprint_found_only_across_two_slots_is_not_in_the_ring():
    first, second = event_id_fingerprint("e1"), event_id_fingerprint("e2")
    ring = first + second
    across = ring[3 : 3 + ID_FINGERPRINT_BYTES]
    assert ring.find(across) == 3
    assert not _ring_contains(ring, across) and not _slot_by_slot(ring, across)
    assert _ring_contains(ring, second) and _ring_contains(ring, first)


def test_a_fingerprint_found_across_slots_and_again_in_a_slot_is_in_the_ring():
    first, second = event_id_fingerprint("e1"), event_id_fingerprint("e2")
    across = (first + second)[5 : 5 + ID_FINGERPRINT_BYTES]
    ring = first + second + across  # the first match is unaligned (offset 5), the second is the third slot
    assert ring.find(across) == 5
    assert _ring_contains(ring, across) and _slot_by_slot(ring, across)


def test_a_probe_of_another_length_or_an_empty_ring_finds_nothing():
    ring = event_id_fingerprint("e1")
    assert not _ring_contains(ring, ring[:4]) and not _ring_contains(ring, b"")
    assert not _ring_contains(b"", event_id_fingerprint("e1")) and not _ring_contains(b"", b"")
