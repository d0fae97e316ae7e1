"""What the console shows of a user's network and device: pseudonyms only, whatever an alert carries.

Alerts are built without IP addresses or device ids, and the job hashes them wherever input records leave
it; the console checks once more on the way to the page. Every value under an identifier key (``ip``,
``device_id``, an entity id of a device or IP entity) that is not already a pseudonym, and every IP address
written inside a text, becomes the keyed hash of :mod:`shopguard.udfs.identifier_hashing`, with the job's
salt so that the same device has the same pseudonym in the console as in the dead letters. With
``privacy.hash_identifiers`` off the job lets identifiers out, but the console still hashes them (with the
public default salt when no salt is set).

Example
-------
>>> from shopguard.udfs.identifier_hashing import IdentifierHashing
>>> hashing = IdentifierHashing(key=b"pepper")
>>> shown = display_safe({"user_id": "u1", "ip": "203.0.113.7",
...                       "reasons": [{"text": "seen from 203.0.113.7 and h:0011223344556677"}]}, hashing)
>>> shown["ip"], shown["reasons"][0]["text"]
('h:f9a092447a622340', 'seen from h:f9a092447a622340 and h:0011223344556677')
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, Mapping

from shopguard.config import PrivacySettings
from shopguard.udfs.identifier_hashing import DEFAULT_SALT, HASHED_FIELDS, PREFIX, IdentifierHashing

IDENTIFIER_KEYS = frozenset((*HASHED_FIELDS, "device", "ip_address", "device_key", "ip_key", "device_keys", "ip_keys"))
"""Keys whose values (or lists of values) are network addresses or device ids wherever they appear: events'
fields, the job's pseudonym columns, the lists of allow and deny rules."""

ENTITY_TYPES = frozenset(("device", "device_id", "ip"))
"""An ``entity_type`` whose ``entity_id`` (or ``entity``) is one of those identifiers."""

_PSEUDONYM = re.compile(re.escape(PREFIX) + r"[0-9a-f]{16}")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:.])")


def console_hashing(settings: PrivacySettings, environ: Mapping[str, str] | None = None) -> IdentifierHashing:
    """The job's hashing for these settings; the public default salt when the job's hashing is off."""
    hashing = IdentifierHashing.from_settings(settings, os.environ if environ is None else environ)
    return hashing if hashing.enabled else IdentifierHashing(key=DEFAULT_SALT.encode("utf-8"))


def display_safe(value: Any, hashing: IdentifierHashing) -> Any:
    """A copy of a parsed JSON value in which no IP address or device id is left in clear."""
    if isinstance(value, dict):
        entity = str(value.get("entity_type", "")) in ENTITY_TYPES
        return {
            key: _pseudonym(item, hashing)
            if key in IDENTIFIER_KEYS or (entity and key in ("entity_id", "entity"))
            else display_safe(item, hashing)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [display_safe(item, hashing) for item in value]
    if isinstance(value, str):
        return _hide_addresses(value, hashing)
    return value


def _pseudonym(value: Any, hashing: IdentifierHashing) -> Any:
    if isinstance(value, list):
        return [_pseudonym(item, hashing) for item in value]
    if value is None or value == "" or isinstance(value, dict):
        return display_safe(value, hashing)
    text = str(value)
    return text if _PSEUDONYM.fullmatch(text) else hashing.pseudonym(text)


def _hide_addresses(text: str, hashing: IdentifierHashing) -> str:
    def replace(match: re.Match[str]) -> str:
        try:
            ipaddress.ip_address(match[0])
        except ValueError:
            return match[0]  # a version number, a time of day: not an address
        return hashing.pseudonym(match[0])

    return _IPV6.sub(replace, _IPV4.sub(replace, text))
