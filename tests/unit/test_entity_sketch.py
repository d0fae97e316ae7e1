"""The entity sketch: exact small counts, bounded state whatever the traffic, figures per window."""

from __future__ import annotations

import math
import uuid

from shopguard.udfs.entity_sketch import (
    DAY_S,
    HOUR_S,
    MAX_STATE_BYTES,
    NO_FIGURES,
    RECENT_ACCOUNTS,
    TYPICAL_ID_BYTES,
    EntitySketch,
)

T0 = 1_600_000_000_000


def replay(events, sketch=None):
    """Each event through a freshly restored sketch, as the job does (read, observe, write)."""
    data = sketch.to_bytes() if sketch else None
    figures = None
    for event in events:
        sketch = EntitySketch.from_bytes(data)
        figures = sketch.observe(*event)
        data = sketch.to_bytes()
    return EntitySketch.from_bytes(data), figures, len(data)


def test_a_small_ring_is_counted_exactly_in_every_window():
    events = [(f"u{n}", "signup", T0 + 60_000 * n, "") for n in range(7)]
    events += [(f"u{n}", "purchase", T0 + 600_000 + 60_000 * n, "item-9") for n in range(7)]
    _, figures, _ = replay(events)
    assert figures.accounts_1h == figures.accounts_24h == figures.accounts_30d == 7
    assert figures.new_accounts_24h == 7 and figures.same_item_accounts_24h == 7


def test_accounts_leave_the_hour_and_the_day_but_not_the_month():
    events = [("old", "page_view", T0, ""), ("new", "page_view", T0 + (DAY_S + HOUR_S) * 1000, "")]
    _, figures, _ = replay(events)
    assert (figures.accounts_1h, figures.accounts_24h, figures.accounts_30d) == (1, 1, 2)


def test_failures_are_counted_across_accounts():
    events = [(f"u{n}", "payment_failed", T0 + 1000 * n, "") for n in range(5)]
    events += [(f"u{n}", "login_failed", T0 + 9000 + 1000 * n, "") for n in range(3)]
    _, figures, _ = replay(events)
    assert figures.failed_payments_24h == 5 and figures.failed_logins_24h == 3
    later, _, _ = replay([("u1", "page_view", T0 + 2 * DAY_S * 1000, "")], replay(events)[0])
    assert later.figures().failed_payments_24h == 0


def test_only_accounts_that_bought_the_same_item_count_for_it():
    events = [("a", "purchase", T0, "x"), ("b", "purchase", T0 + 1000, "y"), ("c", "add_to_cart", T0 + 2000, "x")]
    _, figures, _ = replay(events)
    assert figures.same_item_accounts_24h == 2
    _, figures, _ = replay(events + [("d", "page_view", T0 + 3000, "x")])
    assert figures.same_item_accounts_24h == 0  # a view buys nothing


def test_a_hot_entity_keeps_a_bounded_state_and_an_estimate_of_its_crowd():
    events = [(f"user-{n}", "page_view", T0 + 1000 * n, "") for n in range(20_000)]
    sketch, figures, size = replay(events)
    assert size <= MAX_STATE_BYTES and len(sketch.accounts) == RECENT_ACCOUNTS
    assert 10_000 <= figures.accounts_24h <= 40_000  # HyperLogLog with 16 registers: about a quarter off
    assert 1_800 <= figures.accounts_1h <= 10_000  # the window spans one to one and a half hours
    assert figures.new_accounts_24h == 0


def test_the_state_bound_holds_with_the_longest_ids():
    events = [("é" * 200 + str(n), "purchase", T0 + 1000 * n, "item") for n in range(100)]
    sketch, _, size = replay(events)
    assert size <= MAX_STATE_BYTES
    assert len(set(sketch.accounts)) == RECENT_ACCOUNTS  # long ids stay distinct


def test_an_entity_of_uuid_accounts_stays_within_a_kilobyte():
    events = [(str(uuid.uuid4()), "purchase", T0 + 1000 * n, "item") for n in range(100)]
    assert len(events[0][0]) == TYPICAL_ID_BYTES
    assert replay(events)[2] <= 1024


def test_an_event_before_the_newest_one_still_counts():
    _, figures, _ = replay([("a", "page_view", T0 + 60_000, ""), ("b", "page_view", T0, "")])
    assert figures.accounts_1h == 2


def test_no_figures_are_nan():
    assert all(math.isnan(value) for value in NO_FIGURES)


def test_accounts_taking_turns_over_a_rings_items_are_matched_on_either_of_their_last_two_items():
    from shopguard.udfs.entity_rings import RingRule, ring_evidence

    turns = [  # each account's last item differs from the others', but all three pushed item A
        ("u1", "add_to_cart", T0, "A"),
        ("u1", "favorite", T0 + 60_000, "B"),
        ("u2", "add_to_cart", T0 + 120_000, "B"),
        ("u2", "favorite", T0 + 180_000, "A"),
        ("u3", "favorite", T0 + 240_000, "A"),
        ("u3", "add_to_cart", T0 + 300_000, "C"),
        ("u3", "add_to_cart", T0 + 360_000, "C"),  # the same item again keeps A as the one before
    ]
    sketch, figures, _ = replay(turns)
    evidence = ring_evidence(sketch)
    assert evidence.together == 3 and set(evidence.accounts) == {"u1", "u2", "u3"}
    assert RingRule(3, 0.5, 500).holds(evidence, figures.accounts_30d)
    assert figures.same_item_accounts_24h == 1  # the figure still counts the item each account pushed last
