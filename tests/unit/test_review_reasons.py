"""Alerts say in words when reviews or refund requests pile up in a user's window."""

from shopguard.udfs.alerts import explain_window
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event

T0 = 1_511_658_000_000


def _window(kinds: list[str]) -> bytes:
    events = [Event(f"e{i}", "u", kind, T0 + 20_000 * i, item_id=f"i{i}", price=9.0) for i, kind in enumerate(kinds)]
    return encode_user_events(events, 32)[-1]


def test_a_review_burst_without_purchases_suggests_review_abuse_in_words():
    guessed, reasons = explain_window(_window(["page_view"] + ["review"] * 8))
    review = next(r for r in reasons if r["feature"] == "review")
    assert guessed == "review_abuse" and review["value"] == 8
    assert review["text"] == "8 reviews and not one purchase among the last 9 events"


def test_reviews_after_purchases_are_counted_without_the_no_purchase_words():
    _, reasons = explain_window(_window(["purchase", "review", "purchase", "review", "review"]))
    assert next(r for r in reasons if r["feature"] == "review")["text"] == "3 reviews among the last 5 events"


def test_refund_requests_in_series_suggest_refund_abuse_and_a_single_review_says_nothing():
    guessed, reasons = explain_window(_window(["purchase", "refund_request", "refund_request", "refund_request"]))
    assert guessed == "refund_abuse" and reasons[0]["text"] == "3 refund requests among the last 4 events"
    assert explain_window(_window(["purchase", "review"])) == ("unknown", [])
