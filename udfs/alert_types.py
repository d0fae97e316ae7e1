"""Which abuse type an alert names: the type head's most likely one that the event's evidence allows.

Some types are about one kind of event, and an alert names them only when the user's window holds one
(:data:`TYPE_EVIDENCE`): card testing tries cards, so a declined payment; an account takeover signs in or
changes device or network; review and refund abuse review and ask for refunds; scalping and hoarding fill carts.
The head, trained on simulated windows, otherwise names a real shopper ``card_testing`` for a purchase a
second after a cart. The other types (bots, crawlers, scrapers, click farms) are shapes of behaviour any window
can have.

The LSTM's type head learned ``new_account_abuse`` from simulated fresh accounts, so a real shopper whose
window merely looks like theirs (a short, first visit) can be typed so. Whether an account is new is
something the job knows rather than guesses: a signup in the user's keyed state (the row's
``seconds_since_signup``) or new accounts counted on the event's device or IP (``device_new_accounts_24h``,
``ip_new_accounts_24h``). Without either, the alert names the head's next most likely type, or ``unknown``
(the alert's reasons then suggest one: :func:`shopguard.udfs.alerts.build_alert`) when the head knows no
other.

Example
-------
>>> classes = ("normal", "bot", "new_account_abuse")
>>> probabilities = np.array([[0.1, 0.3, 0.6], [0.1, 0.3, 0.6], [0.1, 0.6, 0.3]])
>>> choose_types(classes, probabilities, np.array([True, False, False]))
['new_account_abuse', 'bot', 'bot']
>>> choose_types(("normal", "new_account_abuse"), np.array([[0.4, 0.6]]), np.array([False]))
['unknown']
>>> new_account_evidence(np.array([40.0, np.nan, np.nan]), np.array([np.nan, 2.0, 0.0]), np.full(3, np.nan))
array([ True,  True, False])
>>> windows = np.zeros((2, 3, len(FEATURE_NAMES)), dtype=np.float32)
>>> windows[0, 2, FEATURE_NAMES.index("type=payment_failed")] = 1.0
>>> choose_types(("normal", "card_testing", "bot"), np.array([[0.1, 0.6, 0.3]] * 2), window_features=windows)
['card_testing', 'bot']
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shopguard.udfs.encoding import FEATURE_NAMES

NEW_ACCOUNT_TYPE = "new_account_abuse"
UNKNOWN = "unknown"
NORMAL = "normal"
TYPE_EVIDENCE: dict[str, tuple[str, ...]] = {
    "card_testing": ("type=payment_failed",),
    "account_takeover": ("type=login_failed", "type=login", "new_device", "new_ip"),
    "review_abuse": ("type=review",),
    "refund_abuse": ("type=refund_request",),
    "scalping": ("type=add_to_cart",),
    "inventory_hoarding": ("type=add_to_cart",),
}
"""A type an alert names only when the window holds at least one of these model-input features."""


def new_account_evidence(
    seconds_since_signup: np.ndarray, device_new_accounts: np.ndarray, ip_new_accounts: np.ndarray
) -> np.ndarray:
    """Per row, whether the job saw the account open (a known signup time) or new accounts on the event's
    device or IP in the last 24 hours (NaN: unknown, counts as none)."""
    signup_known = np.isfinite(np.asarray(seconds_since_signup, dtype=np.float64))
    on_device = np.nan_to_num(np.asarray(device_new_accounts, dtype=np.float64)) > 0
    on_ip = np.nan_to_num(np.asarray(ip_new_accounts, dtype=np.float64)) > 0
    return signup_known | on_device | on_ip


def choose_types(
    classes: Sequence[str],
    probabilities: np.ndarray,
    new_account_seen: np.ndarray | None = None,
    window_features: np.ndarray | None = None,
) -> list[str]:
    """Per row, the most probable class other than ``normal``; ``new_account_abuse`` only where
    ``new_account_seen``, and the types of :data:`TYPE_EVIDENCE` only where the row's ``window_features`` (its
    model input) hold their evidence (None: the head alone decides); else the next most probable, else
    ``unknown``."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(len(probabilities), len(classes))
    abnormal = [i for i, name in enumerate(classes) if name != NORMAL]
    if not abnormal:
        return [UNKNOWN] * len(probabilities)
    allowed = np.ones((len(probabilities), len(abnormal)), dtype=bool)
    if new_account_seen is not None and NEW_ACCOUNT_TYPE in classes:
        allowed[:, abnormal.index(classes.index(NEW_ACCOUNT_TYPE))] = np.asarray(new_account_seen, dtype=bool)
    if window_features is not None:
        present = np.asarray(window_features).any(axis=1)  # [rows, features]: somewhere in the window
        for column, index in enumerate(abnormal):
            if classes[index] in TYPE_EVIDENCE:
                needed = [FEATURE_NAMES.index(name) for name in TYPE_EVIDENCE[classes[index]]]
                allowed[:, column] &= present[:, needed].any(axis=1)
    ranked = np.where(allowed, probabilities[:, abnormal], -np.inf)
    best = ranked.argmax(axis=1)
    return [classes[abnormal[b]] if allowed[row, b] else UNKNOWN for row, b in enumerate(best)]
