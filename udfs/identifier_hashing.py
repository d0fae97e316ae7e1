"""Keyed hashes for the IP addresses and device ids that leave the job.

Dead letters and late events carry input records back out (``user-events-dlq``, ``user-events-late``).
With ``privacy.hash_identifiers`` on, their ``ip`` and ``device_id`` values are replaced by a pseudonym:
``"h:"`` and the first 16 hex digits of HMAC-SHA256(salt, value). Equal values give equal pseudonyms
in every process and after every restart, so an analyst still sees that fifty dead letters came from
one device, but not which device. The hash is keyed because an unkeyed one is easy to reverse: there
are only 2^32 IPv4 addresses to try.

The salt is read once, where the job is built (:meth:`IdentifierHashing.from_settings`), from the
environment variable that ``privacy.salt_env`` names, and travels inside the Flink functions, so every
TaskManager hashes with the same key. When the variable is unset, the public :data:`DEFAULT_SALT` is
used and :attr:`IdentifierHashing.warning` says so: pseudonyms are then stable but anyone can recompute
them.

Example
-------
>>> from shopguard.config import PrivacySettings
>>> hashing = IdentifierHashing.from_settings(PrivacySettings(), {"SHOPGUARD_ID_SALT": "pepper"})
>>> hashing.pseudonym("203.0.113.7")
'h:f9a092447a622340'
>>> hashing.scrub({"user_id": "u1", "ip": "203.0.113.7", "device_id": None})
{'user_id': 'u1', 'ip': 'h:f9a092447a622340', 'device_id': None}
>>> hashing.scrub_text('{"user_id": "u1", "ip": "203.0.113.7", "ts": ')
'{"user_id": "u1", "ip": "h:f9a092447a622340", "ts": '
>>> IdentifierHashing.from_settings(PrivacySettings(), {}).warning is not None
True
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from shopguard.config import ConfigError, PrivacySettings

HASHED_FIELDS: tuple[str, ...] = ("ip", "device_id")
"""The event fields whose values never leave the job in clear (when ``privacy.hash_identifiers`` is on)."""

DEFAULT_SALT = "shopguard-public-default-salt"
"""The salt used when ``privacy.salt_env``'s variable is unset. Not a secret: docs/architecture.md prints it."""

PREFIX = "h:"

_PAIR = re.compile(
    r'("(?:' + "|".join(HASHED_FIELDS) + r')"\s*:\s*)'
    r'("(?:[^"\\]|\\.)*\\?(?:"|\Z)|-?[0-9][0-9.eE+-]*)',
    re.DOTALL,
)
"""``"ip": "..."`` or ``"device_id": 123`` in text that is not a whole JSON document (a truncated or
broken record); a string cut off by the end of the text counts too."""


@functools.lru_cache(maxsize=8)
def _keyed_mac(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 of ``key`` over nothing yet, to be copied: keying each hash anew took most of its time."""
    return hmac.new(key, digestmod=hashlib.sha256)


KNOWN_PSEUDONYMS = 32_768
"""Pseudonyms a process remembers per key (about 5 MB): a user's device and IP come back with every event."""


@functools.lru_cache(maxsize=8)
def _known_pseudonyms(key: bytes) -> dict[str, str]:
    """The pseudonyms computed under ``key`` so far, by value (emptied when it reaches :data:`KNOWN_PSEUDONYMS`)."""
    return {}


@dataclass(frozen=True)
class IdentifierHashing:
    """How identifiers are pseudonymised on their way out; ``key=None`` lets them pass unchanged.

    Plain data, so that it pickles into the Flink functions that use it (:class:`~shopguard.udfs.
    user_history.TrackUserHistory` and its :class:`~shopguard.udfs.event_intake.EventIntake`). The key is
    left out of ``repr`` so that it never lands in a log.
    """

    key: bytes | None = field(default=None, repr=False)
    warning: str | None = None  # what the job prints at start when the salt is the public default

    @classmethod
    def from_settings(cls, settings: PrivacySettings, environ: Mapping[str, str]) -> "IdentifierHashing":
        """The hashing ``settings`` ask for, with the salt from ``environ[settings.salt_env]``."""
        if not settings.hash_identifiers:
            return cls(key=None)
        if not settings.salt_env:
            raise ConfigError(
                "privacy.salt_env is empty: name the environment variable that holds the salt "
                "(e.g. SHOPGUARD_ID_SALT), or set privacy.hash_identifiers = false"
            )
        salt = environ.get(settings.salt_env)
        if salt is None:
            return cls(
                key=DEFAULT_SALT.encode("utf-8"),
                warning=(
                    f"{settings.salt_env} (privacy.salt_env) is not set: IPs and device ids in dead letters and late "
                    f"events are hashed with the public default salt, which anyone can recompute; set "
                    f"{settings.salt_env} to a secret (the same one everywhere the job is built)"
                ),
            )
        if not salt:
            raise ConfigError(
                f"{settings.salt_env} (privacy.salt_env) is set but empty: give it the secret salt, "
                "or unset it to use the public default"
            )
        return cls(key=salt.encode("utf-8"))

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def pseudonym(self, value: str) -> str:
        """``"h:"`` and 16 hex digits of HMAC-SHA256(key, value); ``value`` itself when hashing is off."""
        if self.key is None:
            return value
        known = _known_pseudonyms(self.key)
        found = known.get(value)
        if found is None:
            mac = _keyed_mac(self.key).copy()  # the key's HMAC state, prepared once per process
            mac.update(value.encode("utf-8", "surrogatepass"))
            if len(known) >= KNOWN_PSEUDONYMS:
                known.clear()
            found = known[value] = PREFIX + mac.hexdigest()[:16]
        return found

    def scrub(self, body: Any) -> Any:
        """A copy of a parsed JSON value with every ``ip``/``device_id`` value, at any depth, pseudonymised.

        Non-string values (a number, a list) are hashed as their JSON text; null and ``""`` stay as
        they are (nothing to hide). ``body`` itself comes back when it holds no such value (or hashing
        is off). Iterative, so that any depth ``json.loads`` accepted is fine here.
        """
        if self.key is None:
            return body
        result: list[Any] = [None]
        stack: list[tuple[Any, Any, Any]] = [(body, result, 0)]
        changed = False
        while stack:
            node, parent, slot = stack.pop()
            if isinstance(node, dict):
                parent[slot] = copy = dict.fromkeys(node)
                for key, value in node.items():
                    if key in HASHED_FIELDS and value is not None and value != "":
                        copy[key] = self._pseudonym_of(value)
                        changed = True
                    else:
                        stack.append((value, copy, key))
            elif isinstance(node, list):
                parent[slot] = copy = [None] * len(node)
                stack.extend((value, copy, index) for index, value in enumerate(node))
            else:
                parent[slot] = node
        return result[0] if changed else body

    def scrub_text(self, text: str) -> str:
        """Best effort for text that is not a JSON document: pseudonymise ``"ip": ...`` pairs found in it.

        A record cut at the size limit, or broken JSON, still shows its identifiers in the usual
        ``"key": value`` form; those values are replaced (a string cut off by the end of the text too).
        Anything written otherwise passes as it is.
        """
        if self.key is None:
            return text
        return _PAIR.sub(lambda match: match[1] + json.dumps(self._pseudonym_of_token(match[2])), text)

    def _pseudonym_of(self, value: Any) -> str:
        if isinstance(value, str):
            return self.pseudonym(value)
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
        return self.pseudonym(text)

    def _pseudonym_of_token(self, token: str) -> str:
        try:  # a complete JSON string or number: the same pseudonym as scrub() gives for that value
            return self._pseudonym_of(json.loads(token))
        except ValueError:
            return self.pseudonym(token)
