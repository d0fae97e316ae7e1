"""The normal-shopper simulator: calibrated on real traffic, deterministic, honest about its assumptions."""

from pathlib import Path

import pytest

from shopguard.training.behaviour_stats import measure_behaviour
from shopguard.training.calibration_report import comparison_rows, write_calibration_report
from shopguard.training.datasets import read_taobao
from shopguard.training.simulator import ContextAssumptions, ShopperSimulator, review_rating, signs_up
from shopguard.udfs.events import EVENT_TYPES

TAOBAO = Path(__file__).resolve().parents[2] / "../shared/data/taobao_user_behavior_slice.csv"
T0 = 1_511_658_000_000
CALIBRATED = [
    "events per user, mean",
    "share of page_view",
    "share of add_to_cart",
    "share of purchase",
    "gap between events, median (s)",
    "gap between events, p90 (s)",
    "next event on the same item",
    "new item in the same category",
    "distinct items per user, mean",
    "events per session, mean",
]


@pytest.fixture(scope="module")
def real_events():
    if not TAOBAO.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    events, _ = read_taobao(TAOBAO)
    return [e for e in events if e.ts_ms > 10**12]


@pytest.fixture(scope="module")
def simulated(real_events):
    return ShopperSimulator(measure_behaviour(real_events)).simulate(8000, T0, 7_200_000, seed=11)


def test_simulated_shoppers_match_the_real_figures_within_ten_percent(real_events, simulated):
    real = measure_behaviour(real_events)
    comparable = measure_behaviour([e for e in simulated if e.event_type in real.behaviour_mix])
    rows = {name: (r, s) for name, r, s, _ in comparison_rows(real, comparable)}
    for name in CALIBRATED:
        r, s = rows[name]
        assert s == pytest.approx(r, rel=0.10), name


def test_the_simulation_is_deterministic_for_a_seed_and_differs_across_seeds(real_events):
    simulator = ShopperSimulator(measure_behaviour(real_events[:5000]))
    assert simulator.simulate(50, T0, 3_600_000, seed=1) == simulator.simulate(50, T0, 3_600_000, seed=1)
    assert simulator.simulate(50, T0, 3_600_000, seed=1) != simulator.simulate(50, T0, 3_600_000, seed=2)


def test_simulated_events_are_valid_canonical_events_in_time_order(simulated):
    assert all(e.event_type in EVENT_TYPES for e in simulated)
    assert [e.ts_ms for e in simulated] == sorted(e.ts_ms for e in simulated)
    assert len({e.event_id for e in simulated}) == len(simulated)
    purchases = [e for e in simulated if e.event_type == "purchase"]
    assert purchases and all(e.price > 0 and e.quantity >= 1 and e.device_id for e in purchases)


def test_the_same_item_always_has_the_same_price(simulated):
    prices = {}
    for e in simulated:
        if e.price is not None and e.item_id is not None:
            assert prices.setdefault(e.item_id, e.price) == e.price


def test_the_report_puts_real_and_simulated_side_by_side_with_plots(real_events, simulated, tmp_path):
    report = write_calibration_report(real_events, simulated, tmp_path, "Taobao slice", ContextAssumptions())
    text = report.read_text()
    assert "| share of page_view | 0.8919 |" in text
    assert "login" in text and "p_payment_failed_before_purchase" in text
    for plot in ("gaps.png", "events_per_user.png", "behaviour_mix.png"):
        assert (tmp_path / plot).read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "calibration.json").is_file()


def test_a_share_of_users_sign_up_at_their_first_visit_with_no_item(simulated):
    first = {}
    for e in simulated:
        first.setdefault(e.user_id, e)
    signed = [e for e in simulated if e.event_type == "signup"]
    assert {e.user_id for e in signed} == {u for u in first if signs_up(u, ContextAssumptions())}
    assert len(signed) == len({e.user_id for e in signed}) and all(first[e.user_id] == e for e in signed)
    assert all(e.item_id is None and e.device_id for e in signed)
    assert len(signed) / len(first) == pytest.approx(ContextAssumptions().p_signup, abs=0.01)


def test_normal_review_ratings_follow_the_assumed_shares():
    assume = ContextAssumptions()
    ratings = [review_rating(f"u{n % 97}", f"item-{n}", assume) for n in range(20_000)]
    assert ratings.count(None) / len(ratings) == pytest.approx(assume.p_review_unrated, abs=0.01)
    rated = [r for r in ratings if r is not None]
    for stars, share in enumerate(assume.review_rating_shares, start=1):
        assert rated.count(stars) / len(rated) == pytest.approx(share, abs=0.015), stars


def test_simulated_reviews_carry_ratings_and_nothing_else_does(simulated):
    assert all(e.rating is None for e in simulated if e.event_type != "review")
    assert all(e.rating in (None, 1, 2, 3, 4, 5) for e in simulated if e.event_type == "review")
