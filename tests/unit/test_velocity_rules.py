"""The velocity rules on reviews and refunds: counts a rule writer would alert at, whatever the pace or order."""

from __future__ import annotations

import pytest

from shopguard.udfs.encoding import batch_features, encode_user_events
from shopguard.udfs.events import Event
from shopguard.udfs.velocity_rules import UNBOUGHT_REVIEWS_ALERT_LEVEL, velocity_rule_scores

T0 = 1_511_658_000_000


def _score(kinds: list[str], gap_s: float) -> float:
    events = [
        Event(
            f"e{n}", "u", kind, T0 + int(n * gap_s * 1000), item_id=f"i{n}", price=10.0 if kind == "purchase" else None
        )
        for n, kind in enumerate(kinds)
    ]
    return float(velocity_rule_scores(batch_features(encode_user_events(events, 32)[-1:], 32))[0])


@pytest.mark.parametrize("gap_s", [3.0, 600.0, 86_400.0])
def test_reviews_of_items_never_bought_fire_at_any_pace(gap_s):
    assert _score(["page_view"] + ["review"] * UNBOUGHT_REVIEWS_ALERT_LEVEL, gap_s) >= 1.0


def test_a_shopper_reviewing_what_they_bought_does_not_fire():
    bought_then_reviewed = ["page_view", "purchase"] * 5 + ["review"] * 5
    assert _score(bought_then_reviewed, 600.0) < 1.0


def test_reviews_interleaved_with_browsing_still_count():
    assert _score(["page_view", "review", "search"] * UNBOUGHT_REVIEWS_ALERT_LEVEL, 120.0) >= 1.0


def test_refund_requests_in_series_fire_and_one_refund_does_not():
    assert _score(["purchase"] * 4 + ["refund_request"] * 4, 60.0) >= 1.0
    assert _score(["purchase"] * 4 + ["refund_request"], 60.0) < 1.0
