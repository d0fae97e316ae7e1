"""Behaviour tokens and the variable-length sequences the pattern detector mines and matches.

A *behaviour token* is one event in coarse words: its type, how long the user dwelt before it (first event,
under 2 s, under a minute, under 30 minutes, a new visit), whether it moved to a new item, a new category, or
a device or IP the user has not used lately (set for the rest of the visit that such a device or IP opened, so
that a stranger's whole visit reads so), and its price tier (none, under 50, under 300, 300 or more: what a
user usually spends is part of who they are); a review has its rating class there instead (none, 1-2, 3,
4-5 stars), as reviews carry no price worth telling apart. Tokens are derived from the 4-byte event codes of
:mod:`shopguard.udfs.encoding`, so training and the job see the very same tokens, and the job needs no extra
state to know a user's last few tokens: they are in the window of codes it already keeps.

A *sequence* of 1..5 consecutive tokens is packed into one int (its length in the top bits, then twelve
bits per token), so profiles are sets of ints and equal sequences are equal numbers, without hashing.

Example
-------
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> window = encode_user_events([Event("a", "u", "login", 0, device_id="d1"),
...                              Event("b", "u", "page_view", 20_000, item_id="i1", device_id="d1"),
...                              Event("c", "u", "page_view", 21_000, item_id="i2", device_id="d2"),
...                              Event("d", "u", "add_to_cart", 50_000, item_id="i2", device_id="d2", price=1999.0)],
...                             32)[-1]
>>> for token in window_tokens(window):
...     print(describe_token(token))
login (first event)
page_view after < 1 min
page_view after < 2 s, new item, on a new device or IP
add_to_cart after < 1 min, on a new device or IP, price 300 or more
>>> for sequence in sequences_ending_here(window_tokens(window), 2, 3):
...     print(describe_sequence(sequence))
page_view after < 2 s, new item, on a new device or IP → add_to_cart after < 1 min, on a new device or IP,
  price 300 or more
page_view after < 1 min → page_view after < 2 s, new item, on a new device or IP → add_to_cart after < 1 min,
  on a new device or IP, price 300 or more
"""

from __future__ import annotations

from typing import Iterator, Sequence

from shopguard.udfs.encoding import (
    CODE_BYTES,
    FRESH_IDENTITY,
    NEW_CATEGORY,
    NEW_DEVICE,
    NEW_IP,
    NEW_ITEM,
    RATING_SHIFT,
)
from shopguard.udfs.events import EVENT_TYPES

TOKEN_SPEC_VERSION = "behaviour-tokens-v4"  # v4: the signup type, and a review's rating class in the tier bits
TOKEN_BITS = 12
MAX_SEQUENCE_LENGTH = 5  # five 12-bit tokens and a 3-bit length fit in a non-negative int64
_LENGTH_SHIFT = TOKEN_BITS * MAX_SEQUENCE_LENGTH

DWELL_NAMES = ("(first event)", "after < 2 s", "after < 1 min", "after < 30 min", "after a break (new visit)")
# gap buckets of the event code (see encoding.GAP_EDGES_S): 1..3 up to 2 s, 4..7 up to 60 s, 8..11 up to 30 min
_DWELL_OF_GAP = bytes([0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4])
_TOKEN_FLAGS = (
    (NEW_ITEM, 1, "new item"),
    (NEW_CATEGORY, 2, "new category"),
    (NEW_DEVICE | NEW_IP | FRESH_IDENTITY, 4, "on a new device or IP"),
)
_FLAG_MASK = NEW_ITEM | NEW_CATEGORY | NEW_DEVICE | NEW_IP | FRESH_IDENTITY
_TOKEN_OF_FLAGS = bytes(sum(bit for mask, bit, _ in _TOKEN_FLAGS if flags & mask) for flags in range(_FLAG_MASK + 1))
PRICE_TIERS = ("", "price under 50", "price under 300", "price 300 or more")
# price buckets of the event code (see encoding.PRICE_EDGES): 1..3 under 50, 4..5 under 300, 6..7 from 300
_TIER_OF_PRICE_BUCKET = bytes([0, 1, 1, 1, 2, 2, 3, 3] + [3] * 8)
RATING_TIERS = ("", "rated 1-2", "rated 3", "rated 4-5")
_TIER_OF_RATING = bytes([0, 1, 1, 2, 3, 3, 3, 3])  # rating 0 (none), 1..5 (and the unused 6, 7)
_REVIEW = EVENT_TYPES.index("review") + 1  # its event code (0 marks padding)


def code_token(code: bytes | Sequence[int], at: int = 0) -> int:
    """The token of the 4-byte event code at ``at`` of ``code`` (12 bits: type, dwell, changes, price tier or a
    review's rating class)."""
    kind, gap, amounts, flags = code[at], code[at + 1], code[at + 2], code[at + 3]
    tier = _TIER_OF_RATING[flags >> RATING_SHIFT] if kind == _REVIEW else _TIER_OF_PRICE_BUCKET[amounts >> 4]
    return kind | (_DWELL_OF_GAP[min(gap, 15)] << 4) | (_TOKEN_OF_FLAGS[flags & _FLAG_MASK] << 7) | (tier << 10)


def window_tokens(window: bytes, last: int | None = None) -> list[int]:
    """Tokens of the (last ``last``) codes of a window of event codes, oldest first."""
    start = 0 if last is None else max(0, len(window) - last * CODE_BYTES)
    return [code_token(window, i) for i in range(start, len(window), CODE_BYTES)]


def sequence_id(tokens: Sequence[int]) -> int:
    """Pack 1..5 tokens into one int: equal sequences get equal ids, different ones different ids."""
    packed = len(tokens) << _LENGTH_SHIFT
    for position, token in enumerate(tokens):
        packed |= token << (TOKEN_BITS * position)
    return packed


def sequence_length(sequence: int) -> int:
    return sequence >> _LENGTH_SHIFT


def sequence_tokens(sequence: int) -> list[int]:
    mask = (1 << TOKEN_BITS) - 1
    return [(sequence >> (TOKEN_BITS * i)) & mask for i in range(sequence_length(sequence))]


def sequences_ending_here(tokens: Sequence[int], min_length: int, max_length: int) -> list[int]:
    """Ids of the sequences of ``min_length``..``max_length`` tokens that end with the last token, shortest first.

    Each is the next shorter one with one token more in front (what :func:`sequence_id` packs, built up once).

    >>> sequences_ending_here([7, 8, 9], 1, 3) == [sequence_id([9]), sequence_id([8, 9]), sequence_id([7, 8, 9])]
    True
    """
    ids, packed = [], 0
    for n in range(1, min(max_length, len(tokens)) + 1):
        packed = (packed << TOKEN_BITS) | tokens[-n]
        if n >= min_length:
            ids.append(packed | (n << _LENGTH_SHIFT))
    return ids


def all_sequences(tokens: Sequence[int], min_length: int, max_length: int) -> Iterator[int]:
    """Ids of every sequence of ``min_length``..``max_length`` consecutive tokens (with repeats)."""
    for end in range(1, len(tokens) + 1):
        for n in range(min_length, min(max_length, end) + 1):
            yield sequence_id(tokens[end - n : end])


def token_dwell(token: int) -> int:
    """The dwell class of a token: an index into :data:`DWELL_NAMES`."""
    return (token >> 4) & 0x07


def starts_visit(token: int) -> bool:
    """Whether the token's event opens a visit: the user's first event, or the first after a break."""
    return token_dwell(token) in (0, len(DWELL_NAMES) - 1)


def describe_token(token: int) -> str:
    kind, dwell, flags, tier = token & 0x0F, token_dwell(token), (token >> 7) & 0x07, token >> 10
    name = EVENT_TYPES[kind - 1] if 0 < kind <= len(EVENT_TYPES) else "padding"
    return ", ".join(
        [f"{name} {DWELL_NAMES[min(dwell, len(DWELL_NAMES) - 1)]}"]
        + [words for _, bit, words in _TOKEN_FLAGS if flags & bit]
        + ([(RATING_TIERS if kind == _REVIEW else PRICE_TIERS)[tier]] if tier else [])
    )


def describe_sequence(sequence: int) -> str:
    """A sequence in words, for an alert's reasons."""
    return " → ".join(describe_token(t) for t in sequence_tokens(sequence))
