"""orjson where it agrees with ``json``, ``json`` elsewhere: the record's reading (or error) is always ``json``'s."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopguard.udfs.record_json import read_record_json


def _reject(name):
    raise ValueError(f"{name} is not allowed in JSON")


def _reading(text: str):
    """What a reader returns, as comparable text (types, -0.0 and big integers told apart), or its error."""
    try:
        return "ok", _typed(json.loads(text, parse_constant=_reject))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _fast_reading(text: str):
    try:
        return "ok", _typed(read_record_json(text.encode("utf-8", "surrogatepass"), text))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _typed(value):
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


EDGES = [
    '{"user_id": "u1", "price": 1e400}',
    '{"user_id": "u1", "price": -1e400}',
    '{"user_id": "\\ud800"}',
    '{"user_id": "\\udc00\\ud800", "ts": 1}',
    '{"user_id": "\\ud83d\\ude00"}',
    '{"quantity": 123456789012345678901234567890}',
    '{"quantity": 18446744073709551615}',
    '{"quantity": 18446744073709551616}',
    '{"quantity": -9223372036854775808}',
    '{"quantity": -9223372036854775809}',
    '{"price": 9223372036854775808.0}',
    '{"price": 1e19}',
    '{"price": NaN}',
    '{"price": Infinity}',
    '{"price": -Infinity}',
    '{"price": -0.0, "ts": -0}',
    '{"a": 1, "a": 2}',
    '{"nested": {"deep": [1e400]}}',
    '{"nested": [123456789012345678901234567890]}',
    "123456789012345678901234567890",
    "1e400",
    '"text"',
    "[1, 2]",
    "\ufeff{}",
    '{"a": "tab\there"}',
    '{"a": 01}',
    "{",
    "",
    '{"a": 1} ',
    "[" * 100 + "]" * 100,
    '{"a": {"b": {"c": 1e400}}}',
    '{"a": ' + "[" * 990 + "]" * 990 + "}",
    "[" * 5000 + "]" * 5000,
]


@pytest.mark.parametrize("text", EDGES)
def test_every_record_orjson_reads_otherwise_is_read_as_json_reads_it(text):
    assert _fast_reading(text) == _reading(text)


_scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)


@st.composite
def _records(draw):
    keys = st.sampled_from(["event_id", "user_id", "event_type", "ts", "price", "quantity", "ip", "x"])
    pairs = draw(st.lists(st.tuples(keys, _scalars), max_size=8))
    parts = []
    for key, value in pairs:
        literal = value if isinstance(value, str) and value[:1] in "-0123456789" and value else json.dumps(value)
        parts.append(f"{json.dumps(key)}: {literal}")
    return "{" + ", ".join(parts) + "}"


@settings(max_examples=400, deadline=None)
@given(_records())
def test_records_with_any_numbers_and_strings_read_as_json_reads_them(text):
    assert _fast_reading(text) == _reading(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]":,.-+eE0123456789 natrufls\\ud8', max_size=40))
def test_arbitrary_text_reads_or_fails_as_json_does(text):
    assert _fast_reading(text) == _reading(text)
