"""Protection of the console's state-changing requests against cross-site requests.

A verdict is a POST. Another site open in the analyst's browser could send one (a form aimed at
``http://127.0.0.1:8765``), so each POST must show three things before it changes anything:

* a token in the form equal to the one in the console's cookie (double submit): another site can make
  the browser send the cookie but cannot read it, nor the page that holds the token;
* the cookie itself, which is ``SameSite=Strict`` (a browser leaves it off requests another site starts)
  and ``HttpOnly``;
* when the browser names where the request comes from (``Origin``, ``Sec-Fetch-Site``), this console.

A DNS-rebinding page would be "same-origin" under its own host name; the allowed ``Host`` names of
:func:`allowed_hosts` refuse it before any of this.

Example
-------
>>> refusal(cookie_token="t0k", form_token="t0k", origin="http://127.0.0.1:8765",
...         fetch_site="same-origin", own_origin="http://127.0.0.1:8765")
>>> refusal(cookie_token="t0k", form_token="t0k", origin="https://evil.example",
...         fetch_site="cross-site", own_origin="http://127.0.0.1:8765")
"cross-site request refused: it comes from 'https://evil.example', not from this console"
"""

from __future__ import annotations

import hmac
import secrets

COOKIE = "shopguard_console_csrf"
FIELD = "csrf_token"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def refusal(
    *, cookie_token: str | None, form_token: str | None, origin: str | None, fetch_site: str | None, own_origin: str
) -> str | None:
    """Why a state-changing request must be refused, or None when it may go ahead."""
    if origin is not None and origin != own_origin:
        return f"cross-site request refused: it comes from {origin!r}, not from this console"
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"cross-site request refused: the browser says it is {fetch_site}"
    if not cookie_token or not form_token:
        return "request refused: the console's form token is missing; reload the page and try again"
    if not hmac.compare_digest(cookie_token.encode(), form_token.encode()):
        return "request refused: the form token does not match this browser's; reload the page and try again"
    return None


def allowed_hosts(bind_host: str) -> list[str]:
    """The ``Host`` names the console answers to: loopback names, and the host it binds to.

    >>> allowed_hosts("127.0.0.1")
    ['127.0.0.1', 'localhost', '::1']
    >>> allowed_hosts("0.0.0.0")
    ['*']
    """
    if bind_host in WILDCARD_HOSTS:
        return ["*"]
    names = ["127.0.0.1", "localhost", "::1"]
    return names if bind_host in names else [*names, bind_host]
