"""The entity steps: figures into the rows, ring alerts with the user alerts' cool-down, hot entities bounded."""

from __future__ import annotations

import json
import math
import random

import numpy as np
from pyflink.common import Row

from shopguard.config import EntitySettings, JobSettings, PrivacySettings
from shopguard.training.entity_figures import entity_figures
from shopguard.udfs.detection_rules import NOTHING as NO_RULES
from shopguard.udfs.entities_detector import EntityTables
from shopguard.udfs.entity_sketch import MAX_STATE_BYTES, NO_FIGURES
from shopguard.udfs.entity_streams import RING_ALERTS, TrackEntity, entity_inputs, entity_key_of
from shopguard.udfs.events import Event
from shopguard.udfs.identifier_hashing import IdentifierHashing
from shopguard.udfs.placeholder_model import write_placeholder_model
from shopguard.udfs.rows import ENTITY_FIGURE_FIELDS, SCORING_FIELDS, entity_figure_fields, pack_scoring, unpack_scoring
from tests.unit.flink_fakes import Metrics

T0 = 1_600_000_000_000
HASHING = IdentifierHashing.from_settings(PrivacySettings(), {"SHOPGUARD_ID_SALT": "test-salt"})
DEVICE = "device-0451-raw"


class KeyedRuntime:
    """Keyed value states: one per (current key, state name), as Flink scopes them."""

    def __init__(self):
        self.metrics, self.states, self.key = Metrics(), {}, None

    def get_metrics_group(self):
        return self.metrics

    def get_state(self, descriptor):
        runtime, name = self, descriptor.name

        class State:
            def value(self):
                return runtime.states.get((runtime.key, name))

            def update(self, value):
                runtime.states[(runtime.key, name)] = value

        return State()


def scoring_row(event: Event) -> Row:
    """The packed row the user's step emits for ``event`` with entities on (history columns left empty: the entity
    steps do not read them)."""
    base = (event.user_id, "s", event.event_id, event.event_type, event.ts_ms, b"", "[]", b"", math.nan, "", math.nan)
    inputs = entity_inputs(event, HASHING, account_new=event.event_type == "signup")
    return pack_scoring([*base, *inputs, *NO_FIGURES, *NO_FIGURES, *NO_RULES])


def values_out(step: TrackEntity, row) -> list:
    """The scoring values of a row ``step`` emitted: packed unless ``step`` is the last entity step."""
    return unpack_scoring(row) if step.emits_packed else list(row)


def run(step: TrackEntity, runtime: KeyedRuntime, events):
    """Rows out and ring alerts out of ``step`` for ``events``, each under the key the job would give it."""
    key_of = entity_key_of(step.entity_type)
    rows, alerts = [], []
    for event in events:
        row = scoring_row(event)
        runtime.key = key_of(row)
        for output in step.process_element(row, None):
            if isinstance(output, tuple) and output[0] is RING_ALERTS:
                alerts.append(json.loads(output[1][1]))
            else:
                rows.append(dict(zip(SCORING_FIELDS, values_out(step, output))))
    return rows, alerts


def device_step(**settings) -> tuple[TrackEntity, KeyedRuntime]:
    step, runtime = TrackEntity("device", EntitySettings(**settings), JobSettings()), KeyedRuntime()
    step.open(runtime)
    return step, runtime


def ring_events(accounts: int, start_ms: int = T0, prefix: str = ""):
    """``accounts`` accounts signing up on one device a minute apart, then buying the same item."""
    signups = [
        Event(f"{prefix}s{n}", f"ring-{n}", "signup", start_ms + 60_000 * n, device_id=DEVICE) for n in range(accounts)
    ]
    return signups + [
        Event(f"{prefix}p{n}", f"ring-{n}", "purchase", start_ms + 600_000 + 60_000 * n, item_id="i7", device_id=DEVICE)
        for n in range(accounts)
    ]


def test_each_row_leaves_with_its_devices_figures_and_without_touching_the_ips():
    step, runtime = device_step(ring_alerts=False)
    rows, _ = run(step, runtime, ring_events(3))
    last = rows[-1]
    assert last["device_accounts_24h"] == 3 and last["device_new_accounts_24h"] == 3
    assert last["device_same_item_accounts_24h"] == 3
    assert all(math.isnan(last[name]) for name in entity_figure_fields("ip"))


def test_a_row_without_a_device_passes_with_nan_figures_under_its_users_key():
    step, runtime = device_step()
    rows, alerts = run(step, runtime, [Event("e1", "u1", "page_view", T0)])
    assert all(math.isnan(rows[0][name]) for name in entity_figure_fields("device")) and not alerts
    assert entity_key_of("device")(scoring_row(Event("e1", "u1", "page_view", T0))) == "~u1"
    assert not runtime.states


def test_accounts_acting_together_on_one_device_raise_one_ring_alert_updated_as_the_ring_grows():
    step, runtime = device_step()
    _, alerts = run(step, runtime, ring_events(6))
    assert [a["revision"] for a in alerts] == [0, 1, 2, 3]  # opened at 3 signups, then 4, 5, 6; the rest suppressed
    assert len({a["alert_id"] for a in alerts}) == 1
    last = alerts[-1]
    assert last["alert_kind"] == "ring" and last["entity_type"] == "device"
    assert last["entity"] == HASHING.pseudonym(DEVICE)
    assert set(last["accounts"]) == {f"ring-{n}" for n in range(6)}
    assert [a["activity"] for a in last["together"]] == ["signed_up"]  # the purchases came after it
    assert last["since"] == "2020-09-13T12:26:40.000Z"
    assert last["reasons"][0]["text"] == "this device: 6 accounts in 24 h, 6 of them new"
    assert DEVICE not in json.dumps(alerts)
    assert runtime.metrics.counters["ring_alerts_suppressed"].count > 0


def test_a_ring_after_a_quiet_gap_longer_than_the_cool_down_is_a_new_alert():
    step, runtime = device_step()
    _, first = run(step, runtime, ring_events(4))
    _, second = run(step, runtime, ring_events(8, start_ms=T0 + 3 * 86_400_000, prefix="later-"))
    assert second[0]["revision"] == 0 and second[0]["alert_id"] != first[0]["alert_id"]


def test_a_family_sharing_a_device_is_no_ring():
    step, runtime = device_step()
    family = [  # three members on one tablet, viewing the same items, each buying their own
        Event(
            f"e{n}",
            f"member-{n % 3}",
            "purchase" if n % 5 == 0 else "page_view",
            T0 + 60_000 * n,
            item_id=f"i{n % 4}" if n % 5 else f"own-{n}",
            device_id=DEVICE,
        )
        for n in range(30)
    ]
    assert run(step, runtime, family)[1] == []


def test_three_accounts_buying_one_item_on_one_device_within_a_day_are_a_ring():
    step, runtime = device_step()
    buyers = [
        Event(f"e{n}", f"buyer-{n % 3}", "purchase", T0 + 600_000 * n, item_id="i1", device_id=DEVICE) for n in range(6)
    ]
    alerts = run(step, runtime, buyers)[1]
    assert len(alerts) == 1 and set(alerts[0]["accounts"]) == {"buyer-0", "buyer-1", "buyer-2"}


def test_two_accounts_each_failing_payments_repeatedly_on_one_device_are_a_ring_one_failure_each_is_not():
    def failures(per_account: int, accounts: int = 2, device: str = DEVICE):
        return [
            Event(f"f{a}-{k}", f"tester-{a}", "payment_failed", T0 + 3_600_000 * a + 20_000 * k, device_id=device)
            for a in range(accounts)
            for k in range(per_account)
        ]

    repeated = run(*device_step(), failures(2))[1]
    assert len(repeated) == 1 and set(repeated[0]["accounts"]) == {"tester-0", "tester-1"}
    assert repeated[0]["together"][0]["activity"] == "failed_payments"
    assert run(*device_step(), failures(1))[1] == []  # a declined card each: no ring below 3 accounts
    assert run(*device_step(ring_min_failing_device=3), failures(2))[1] == []
    ip_step, ip_runtime = TrackEntity("ip", EntitySettings(), JobSettings()), KeyedRuntime()
    ip_step.open(ip_runtime)
    on_ip = [e._replace(device_id=f"{e.user_id}-phone", ip="198.51.100.9") for e in failures(3, accounts=3)]
    assert run(ip_step, ip_runtime, on_ip[:6])[1] == []  # two on a network: a household may
    assert run(ip_step, ip_runtime, on_ip[6:])[1]  # three: a ring


def test_a_ring_splitting_its_work_over_items_and_signups_still_adds_up():
    split = [  # four accounts: two sign up, two push one of two items that another of them pushed too
        Event("s0", "a0", "signup", T0, device_id=DEVICE),
        Event("s1", "a1", "signup", T0 + 60_000, device_id=DEVICE),
        Event("c2", "a2", "add_to_cart", T0 + 120_000, item_id="i1", device_id=DEVICE),
        Event("c3", "a3", "add_to_cart", T0 + 180_000, item_id="i2", device_id=DEVICE),
        Event("c4", "a2", "favorite", T0 + 240_000, item_id="i2", device_id=DEVICE),
    ]
    with_split = run(*device_step(), split)[1]
    assert with_split and with_split[-1]["together"][0]["activity"] == "acted_together"
    assert set(with_split[-1]["accounts"]) == {"a0", "a1", "a2", "a3"}


def test_an_ip_shared_by_50000_honest_users_raises_no_ring_and_keeps_its_state_bounded():
    step, runtime = TrackEntity("ip", EntitySettings(), JobSettings()), KeyedRuntime()
    step.open(runtime)
    rng = random.Random(7)
    items = [f"item-{n}" for n in range(2000)]
    weights = [1.0 / (n + 1) for n in range(len(items))]  # a few popular items, a long tail
    kinds = (
        ["page_view"] * 80
        + ["add_to_cart"] * 8
        + ["purchase"] * 5
        + ["login"] * 4
        + ["login_failed"] * 2
        + ["payment_failed"]
    )
    events = []
    for n in range(50_000):  # over three days, 2% of them signing up
        ts = T0 + int(n * 3 * 86_400_000 / 50_000)
        kind = "signup" if rng.random() < 0.02 else rng.choice(kinds)
        events.append(Event(f"e{n}", f"user-{n}", kind, ts, item_id=rng.choices(items, weights)[0], ip="100.64.0.1"))
    rows, alerts = run(step, runtime, events)
    assert alerts == []
    assert max(len(value) for value in runtime.states.values()) <= MAX_STATE_BYTES
    assert rows[-1]["ip_accounts_24h"] > 1000


def test_the_offline_figures_are_the_jobs_figures():
    rng = random.Random(3)
    events = [
        Event(
            f"e{n}",
            f"user-{rng.randrange(40)}",
            rng.choice(["page_view", "purchase", "payment_failed", "login_failed", "add_to_cart"]),
            T0 + 30_000 * n,
            item_id=f"item-{rng.randrange(5)}",
            device_id=rng.choice([None, "d1", "d2", "d3"]),
            ip=rng.choice([None, "10.0.0.1", "10.0.0.2"]),
        )
        for n in range(400)
    ]
    job_rows = []
    for entity_type in ("device", "ip"):
        step, runtime = TrackEntity(entity_type, EntitySettings(), JobSettings()), KeyedRuntime()
        step.open(runtime)
        job_rows.append(run(step, runtime, events)[0])
    offline = entity_figures(events)
    for entity_type, rows in zip(("device", "ip"), job_rows):
        columns = [ENTITY_FIGURE_FIELDS.index(name) for name in entity_figure_fields(entity_type)]
        job = np.array([[row[name] for name in entity_figure_fields(entity_type)] for row in rows])
        np.testing.assert_array_equal(job, offline[:, columns])


def test_the_placeholder_ships_the_default_population_tables(tmp_path):
    folder = write_placeholder_model(tmp_path)
    assert EntityTables.read(folder) == EntityTables.default()
    assert {t.detector for t in EntityTables.default().tails} >= {"device_accounts_24h", "device_new_accounts_24h"}


def test_an_account_is_new_for_a_day_after_its_signup_wherever_it_signed_up():
    events = [
        Event("s", "fresh", "signup", T0, device_id="home-phone"),
        Event("p", "fresh", "purchase", T0 + 3_600_000, item_id="i", device_id="shared-phone"),
        Event("q", "old", "purchase", T0 + 3_700_000, item_id="i", device_id="shared-phone"),
        Event("r", "fresh", "purchase", T0 + 2 * 86_400_000, item_id="i", device_id="other-phone"),
    ]
    figures = entity_figures(events)
    new = ENTITY_FIGURE_FIELDS.index("device_new_accounts_24h")
    assert figures[2, new] == 1 and figures[3, new] == 0


def run_both_steps(events):
    """The device step, then the IP step on the rows it let through, as the job chains them; their ring alerts."""
    steps = {t: TrackEntity(t, EntitySettings(), JobSettings()) for t in ("device", "ip")}
    runtimes = {t: KeyedRuntime() for t in steps}
    for t, step in steps.items():
        step.open(runtimes[t])
    alerts = []
    for event in events:
        rows = [scoring_row(event)]
        for t, step in steps.items():
            out = []
            for row in rows:
                runtimes[t].key = entity_key_of(t)(row)
                for output in step.process_element(row, None):
                    if isinstance(output, tuple) and output[0] is RING_ALERTS:
                        alerts.append(json.loads(output[1][1]))
                    else:
                        out.append(output)
            rows = out
    return alerts


def linked_ring():
    """Three accounts pushing item i7 on one phone, a fourth on a phone of its own pushing it too, and a neighbour
    buying something else, all behind one household-sized IP."""
    ip = "198.51.100.7"
    events = [
        Event(f"r{n}", f"ring-{n}", "add_to_cart", T0 + 60_000 * n, item_id="i7", device_id=DEVICE, ip=ip)
        for n in range(3)
    ]
    events.append(Event("solo", "ring-solo", "purchase", T0 + 300_000, item_id="i7", device_id="own-phone", ip=ip))
    events.append(Event("n1", "neighbour", "purchase", T0 + 360_000, item_id="i3", device_id="their-phone", ip=ip))
    return events


def test_a_device_ring_links_the_accounts_that_act_like_it_on_its_network():
    alerts = run_both_steps(linked_ring())
    ip_alerts = [a for a in alerts if a["entity_type"] == "ip"]
    assert {a["entity_type"] for a in alerts} == {"device", "ip"}
    assert set(ip_alerts[-1]["accounts"]) == {"ring-0", "ring-1", "ring-2", "ring-solo"}  # not the neighbour
    assert ip_alerts[-1]["together"][0]["activity"] == "with_a_device_ring"


def test_the_offline_replay_raises_the_jobs_ring_alerts_linked_ones_included():
    from shopguard.training.entity_figures import replay_entities
    from shopguard.udfs.entity_streams import ring_watch

    events = linked_ring()
    job = run_both_steps(events)
    watches = {t: ring_watch(t, EntitySettings(), JobSettings()) for t in ("device", "ip")}
    offline = replay_entities(events, watches).ring_alerts
    assert [(a["entity_type"], a["accounts"], a["revision"]) for a in offline] == [
        (a["entity_type"], a["accounts"], a["revision"]) for a in job
    ]


def test_a_ring_alert_names_the_accounts_that_acted_together_not_the_bystanders():
    step, runtime = device_step()
    bystander = [Event("b0", "household", "page_view", T0 - 60_000, item_id="i2", device_id=DEVICE)]
    alerts = run(step, runtime, bystander + ring_events(4))[1]
    assert alerts and all("household" not in a["accounts"] for a in alerts)
    assert set(alerts[-1]["accounts"]) == {f"ring-{n}" for n in range(4)}


def test_a_ring_opening_its_accounts_a_day_apart_is_still_one_ring():
    step, runtime = device_step()
    slow = [
        Event(f"s{n}", f"slow-{n}", "signup", T0 + 20 * 3_600_000 * n, device_id=DEVICE) for n in range(3)
    ]  # 20 h apart: never three of them within 24 h
    alerts = run(step, runtime, slow)[1]
    assert alerts and set(alerts[-1]["accounts"]) == {"slow-0", "slow-1", "slow-2"}


def test_rows_stay_packed_until_the_ip_step_which_hands_scoring_the_whole_row():
    device, device_runtime = device_step()
    ip, ip_runtime = TrackEntity("ip", EntitySettings(), JobSettings()), KeyedRuntime()
    ip.open(ip_runtime)
    bare = scoring_row(Event("e1", "u1", "page_view", T0))
    assert list(device.process_element(bare, None)) == [bare]  # no device: passed on as it came, not unpacked
    on_both = scoring_row(Event("e2", "u1", "page_view", T0, device_id=DEVICE, ip="10.0.0.1"))
    (packed,) = device.process_element(on_both, None)
    assert len(packed) == 4 and unpack_scoring(packed)[SCORING_FIELDS.index("device_accounts_1h")] == 1
    for row in (bare, packed):
        (whole,) = ip.process_element(row, None)
        assert len(whole) == len(SCORING_FIELDS) and whole[SCORING_FIELDS.index("event_id")] in ("e1", "e2")
    assert whole[SCORING_FIELDS.index("ip_accounts_1h")] == 1 and whole[SCORING_FIELDS.index("device_accounts_1h")] == 1
