"""Behaviour tokens: a review's rating class and the signup type, in the same 12 bits as before."""

from shopguard.udfs.behaviour_tokens import (
    PRICE_TIERS,
    RATING_TIERS,
    TOKEN_BITS,
    code_token,
    describe_token,
    window_tokens,
)
from shopguard.udfs.encoding import encode_user_events
from shopguard.udfs.events import Event

T0 = 1_511_658_000_000


def tokens_of(*specs):
    events = [Event(f"e{i}", "u", kind, T0 + 20_000 * i, **extra) for i, (kind, extra) in enumerate(specs)]
    return window_tokens(encode_user_events(events, 32)[-1])


def test_a_review_token_carries_its_rating_class_in_place_of_a_price_tier():
    tokens = tokens_of(
        ("review", {"item_id": "a", "rating": 1}),
        ("review", {"item_id": "a", "rating": 2}),
        ("review", {"item_id": "a", "rating": 3}),
        ("review", {"item_id": "a", "rating": 4}),
        ("review", {"item_id": "a", "rating": 5}),
        ("review", {"item_id": "a"}),
        ("review", {"item_id": "a", "rating": 5, "price": 999.0}),
    )
    tiers = [token >> 10 for token in tokens]
    assert tiers == [1, 1, 2, 3, 3, 0, 3]
    assert describe_token(tokens[0]).endswith(RATING_TIERS[1]) and describe_token(tokens[4]).endswith("rated 4-5")
    assert describe_token(tokens[5]) == "review after < 1 min"
    assert tokens[3] == tokens[4] and tokens[0] != tokens[2], "same class, same token"
    assert all(token < 1 << TOKEN_BITS for token in tokens)


def test_other_events_keep_their_price_tier_and_a_signup_is_its_own_type():
    signup, cart = tokens_of(("signup", {"device_id": "d"}), ("add_to_cart", {"item_id": "a", "price": 999.0}))
    assert describe_token(signup) == "signup (first event)" and signup < 1 << TOKEN_BITS
    assert describe_token(cart).endswith(PRICE_TIERS[3])
    assert code_token(bytes((11, 5, 0, 5 << 5))) != code_token(bytes((11, 5, 0, 0)))  # 11: review
