"""The one exception family shopguard explains to its users.

A :class:`ShopguardError` carries one sentence that names what is wrong (the file, line, setting or
port) and what to do about it. The command line prints that sentence instead of a traceback.
"""


class ShopguardError(Exception):
    """An error whose message is a complete, actionable sentence for the person running shopguard."""
