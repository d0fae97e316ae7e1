"""The one exception family shopguard explains to its users.

A :class:`ShopguardError` carries one sentence that names what is wrong (the file, line, setting or
port) and what to do about it. The command line prints that sentence instead of a traceback.
"""

import json


class ShopguardError(Exception):
    """An error whose message is a complete, actionable sentence for the person running shopguard."""


class RecordRefused(ShopguardError):
    """A record that cannot be applied (a detection rule, an analyst's verdict): the message names the record by
    its id and gives the reason; ``key`` is the id ('' when the record has none) and ``reason`` the reason alone.

    >>> class RuleRefused(RecordRefused):
    ...     record = "rule"
    >>> str(RuleRefused("r1", "unknown kind")), RuleRefused.json_object('{"id": "r1"}')
    ('rule r1 refused: unknown kind', {'id': 'r1'})
    >>> try:
    ...     RuleRefused.json_object("[1]")
    ... except RuleRefused as refused:
    ...     print(refused.reason)
    not a JSON object
    """

    record = "record"
    """What the refused thing is, as the message names it (a subclass sets it)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{self.record} {key or '(no id)'} refused: {reason}")
        self.key = key
        self.reason = reason

    @classmethod
    def json_object(cls, text: str | bytes) -> dict:
        """The JSON object ``text`` holds; this refusal ('not JSON', 'not a JSON object') when it holds none."""
        try:
            body = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise cls("", f"not JSON ({error})") from None
        if not isinstance(body, dict):
            raise cls("", "not a JSON object")
        return body
