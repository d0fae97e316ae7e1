"""Rating manipulation across accounts: the item step's sketch, rule and alerts, and the user step's item facts."""

from __future__ import annotations

import json
import uuid

import numpy as np
from pyflink.common import Row

from shopguard.config import EntitySettings, JobSettings, PrivacySettings, ShopguardConfig
from shopguard.training.entity_figures import replay_items
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.item_reviews import (
    POPULATION_STAR_SHARES,
    ItemRule,
    ItemSketch,
    item_watch,
    poisson_tail,
    rating_evidence,
)
from shopguard.udfs.item_step import ITEM_FACTS, TrackItem, item_fact
from shopguard.udfs.model_source import ModelSource
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.user_history import TrackUserHistory
from tests.unit.flink_fakes import Runtime
from tests.unit.test_entity_streams import KeyedRuntime

T0 = 1_600_000_000_000
HOUR, DAY = 3_600_000, 86_400_000


def item_step(**settings) -> tuple[TrackItem, KeyedRuntime]:
    step, runtime = TrackItem(EntitySettings(**settings), JobSettings()), KeyedRuntime()
    step.open(runtime)
    return step, runtime


def run(step: TrackItem, runtime: KeyedRuntime, events) -> list[dict]:
    alerts = []
    for event in sorted(events, key=lambda e: e.ts_ms):
        fact = item_fact(event)
        runtime.key = fact[0]
        alerts += [json.loads(out[1]) for out in step.process_element(fact, None)]
    return alerts


def burst(accounts: int, item: str = "i-7", stars: int = 5, start: int = T0, gap_ms: int = 10 * 60_000, buy=False):
    """``accounts`` accounts rating ``item`` ``stars``, ``gap_ms`` apart (with ``buy``, each buys it an hour before)."""
    events = []
    for n in range(accounts):
        ts = start + gap_ms * n
        if buy:
            events.append(Event(f"b-p{n}", f"ring-{n}", "purchase", ts - HOUR, item_id=item))
        events.append(Event(f"b-r{n}", f"ring-{n}", "review", ts, item_id=item, rating=stars))
    return events


def honest_stream(item: str, days: float, per_hour: float, rng, buy: bool = True, promotion_day: int | None = None):
    """A popular item's ordinary reviews: J-shaped stars, a daily cycle, each reviewer buying first (``buy``; else
    other accounts buy it)."""
    events, t, n = [], T0, 0
    shares = np.array(POPULATION_STAR_SHARES) / sum(POPULATION_STAR_SHARES)
    while t < T0 + days * DAY:
        day = int((t - T0) // DAY)
        cycle = 1.0 + 0.8 * np.sin(2 * np.pi * ((t - T0) % DAY) / DAY)
        rate = per_hour * cycle * (5.0 if day == promotion_day else 1.0)
        t += int(rng.exponential(HOUR / rate))
        user = str(uuid.UUID(int=int(rng.integers(0, 2**63))))
        buyer = user if buy else f"earlier-buyer-{n}"  # without buy: reviewers who bought before the job started
        events.append(Event(f"h-p{n}", buyer, "purchase", t - int(rng.uniform(0.2, 48) * HOUR), item_id=item))
        events.append(Event(f"h-r{n}", user, "review", t, item_id=item, rating=int(rng.choice(5, p=shares)) + 1))
        n += 1
    return events


def test_a_group_giving_a_quiet_item_5_stars_without_buying_it_is_alerted_with_reasons_and_accounts():
    step, runtime = item_step()
    alerts = run(step, runtime, burst(12, gap_ms=15 * 60_000))
    assert alerts[0]["alert_kind"] == "ring" and alerts[0]["entity_type"] == "item" and alerts[0]["entity"] == "i-7"
    assert alerts[0]["anomaly_type"] == "review_abuse" and alerts[0]["revision"] == 0
    last = alerts[-1]
    assert last["alert_id"] == alerts[0]["alert_id"] and set(last["accounts"]) == {f"ring-{n}" for n in range(12)}
    assert last["reasons"][0]["text"] == "12 accounts gave this item 5 stars within 3 h; none of them bought it"
    assert "expect" in last["reasons"][1]["text"]


def test_a_group_that_bought_before_rating_1_star_is_alerted_and_said_to_have_bought():
    alerts = run(*item_step(), burst(8, stars=1, buy=True))
    assert alerts and alerts[-1]["together"][0]["activity"] == "rated_1_given"
    assert alerts[-1]["reasons"][0]["text"].endswith("all bought it") and len(alerts[-1]["accounts"]) == 8


def test_fewer_accounts_than_the_minimum_raise_nothing():
    assert run(*item_step(), burst(4)) == []
    assert run(*item_step(item_min_accounts=4), burst(4, stars=1))


def test_a_hot_item_with_thousands_of_honest_reviewers_raises_nothing_and_stays_bounded():
    rng = np.random.default_rng(0)
    step, runtime = item_step()
    events = honest_stream("hot", days=10, per_hour=40, rng=rng, promotion_day=6)
    assert len({e.user_id for e in events}) > 5_000
    assert run(step, runtime, events) == []
    assert len(runtime.states[("hot", "item_sketch")]) <= 1024


def test_a_popular_item_whose_buyers_the_job_never_saw_raises_nothing():
    """Reviews from accounts that bought before the job started (every reviewer looks like one that never bought),
    while others buy it: judged from its first hour in the job, when it has no past there."""
    rng = np.random.default_rng(1)
    events = honest_stream("old-favourite", days=8, per_hour=10, rng=rng, buy=False, promotion_day=4)
    assert run(*item_step(), events) == []


def test_a_burst_on_a_busy_item_is_judged_against_that_items_own_past():
    rng = np.random.default_rng(2)
    honest = honest_stream("busy", days=4, per_hour=0.5, rng=rng)
    ring = burst(30, item="busy", start=T0 + 4 * DAY + HOUR, gap_ms=60_000)
    alerts = run(*item_step(), honest + ring)
    assert alerts and {a for a in alerts[-1]["accounts"]} <= {f"ring-{n}" for n in range(30)}
    assert len(alerts[-1]["accounts"]) >= 16


def test_the_sketch_round_trips_and_its_evidence_counts_distinct_accounts():
    sketch = ItemSketch()
    for n in range(3):
        sketch.observe("same", "review", T0 + n * 1000, 5)  # one account rating three times counts once
    sketch.observe("other", "review", T0 + 5000, 5)
    assert rating_evidence(sketch)[0].accounts_given == 2
    assert ItemSketch.from_bytes(sketch.to_bytes()) == sketch


def test_the_rule_wants_the_count_improbable_and_a_burst():
    rule = ItemRule(5, 1e-6, 10.0)
    assert rule.surprising(6, 0.05) and not rule.surprising(6, 1.0)  # tail 6e-4 at a mean of 1
    assert not rule.surprising(60, 10.0)  # improbable, but only 6 times the usual: a sale day, not a ring
    assert poisson_tail(60, 10.0) < 1e-6


def test_the_offline_replay_raises_the_item_steps_alerts():
    rng = np.random.default_rng(3)
    events = honest_stream("x", days=2, per_hour=1, rng=rng) + burst(9, item="x", start=T0 + DAY) + burst(7)
    job = run(*item_step(), events)
    offline = replay_items(events, item_watch(EntitySettings(), JobSettings()))
    assert job and [(a["alert_id"], a["accounts"]) for a in job] == [(a["alert_id"], a["accounts"]) for a in offline]


def test_the_user_step_sends_reviews_and_purchases_of_items_to_the_item_step_and_nothing_else(tmp_path):
    cfg = ShopguardConfig()
    hashing = IdentifierHashing.from_settings(PrivacySettings(), {"SHOPGUARD_ID_SALT": "s"})
    source = ModelSource(fixed_dir=str(write_placeholder_model(tmp_path)))
    events = [
        Event("e1", "u", "page_view", T0, item_id="i"),
        Event("e2", "u", "purchase", T0 + 1000, item_id="i"),
        Event("e3", "u", "review", T0 + 2000, item_id="i", rating=4),
        Event("e4", "u", "review", T0 + 3000),
    ]
    sent = [("i", "u", "e2", "purchase", T0 + 1000, 0), ("i", "u", "e3", "review", T0 + 2000, 4)]
    for item_facts, expected in ((True, sent), (False, [])):
        step = TrackUserHistory(cfg.job, cfg.validation, hashing, cfg.patterns, source, item_facts=item_facts)
        step.open(Runtime())
        outputs = [out for e in events for out in step.process_element(e.to_json().encode(), None)]
        step.close()
        assert [tuple(out[1]) for out in outputs if isinstance(out, tuple) and out[0] is ITEM_FACTS] == expected
        assert sum(isinstance(out, Row) for out in outputs) == len(events)  # every event is still scored
