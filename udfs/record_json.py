"""Reading one raw record's JSON: orjson where it reads the record as ``json`` would, ``json`` everywhere else.

The job's dead-letter reasons and details are those of the standard ``json`` module (``NaN`` and
``Infinity`` refused, ``1e400`` read as infinity and refused later as a bad number, integers of any
size, lone surrogate escapes read and refused later as not UTF-8). orjson parses a record several
times faster, but differs there: it refuses ``1e400``, ``NaN`` and lone surrogates, reads an integer
beyond 64 bits as a float, and nests deeper than ``json`` may. So :func:`read_record_json` takes
orjson's reading only when it is certainly ``json``'s: a flat JSON object (an event's shape: no
object or array inside) with no float that could have been an integer beyond 64 bits. Any other
record (and every record orjson refuses) is read again by ``json``, whose answer, or exception, is
the one returned.

Example
-------
>>> read_record_json(b'{"user_id": "u1", "price": 3.5}', '{"user_id": "u1", "price": 3.5}')
{'user_id': 'u1', 'price': 3.5}
>>> read_record_json(b'{"quantity": 18446744073709551616}', '{"quantity": 18446744073709551616}')
{'quantity': 18446744073709551616}
>>> read_record_json(b'{"price": NaN}', '{"price": NaN}')
Traceback (most recent call last):
ValueError: NaN is not allowed in JSON
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_EXACT_INTEGERS = 2.0**63  # orjson reads integers in [-2**63, 2**64) exactly and larger ones as floats


def read_record_json(raw: bytes, text: str) -> Any:
    """``json.loads(text)`` with ``NaN``/``Infinity`` refused (``ValueError``); ``raw`` is ``text`` in UTF-8.

    Raises what ``json.loads`` raises (``ValueError``, ``RecursionError``) on the same record.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if type(body) is dict and _flat_and_exact(body):
        return body
    return json.loads(text, parse_constant=_reject_constant)


def _flat_and_exact(body: dict) -> bool:
    """Whether ``body`` holds no object or array (nested, it may hold what orjson reads otherwise) and no
    float that orjson may have made of an integer beyond 64 bits."""
    kinds = set(map(type, body.values()))
    if dict in kinds or list in kinds:
        return False
    return float not in kinds or all(abs(v) < _EXACT_INTEGERS for v in body.values() if type(v) is float)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")
