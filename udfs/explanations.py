"""Why an alert fired: occlusion of the user's recent events, computed only when an alert fires.

Each of the user's last few events is removed from the window in turn and the window is re-scored
(one batched model call); an event whose removal lowers the score most is the one that drove it.
The result names the events by id and in words an analyst reads, next to the rule-based reasons.

Example
-------
>>> import numpy as np
>>> class CountsPaymentFailures:  # stands in for a model: the share of failed payments in the window
...     def score(self, x):
...         return x[:, :, 7].mean(axis=1)
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> events = [Event("v1", "u", "page_view", 0), Event("f1", "u", "payment_failed", 60_000, price=2.0)]
>>> top = occlusion_contributions(CountsPaymentFailures(), encode_user_events(events, 4)[-1], ["v1", "f1"], 4)
>>> [(c["event_id"], round(c["contribution"], 3)) for c in top]
[('f1', 0.25), ('v1', 0.0)]
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from shopguard.udfs.encoding import CODE_BYTES, describe_event_code
from shopguard.udfs.model_input import model_input


class ScoresWindows(Protocol):
    def score(self, features: np.ndarray) -> np.ndarray: ...


def occlusion_contributions(
    model: ScoresWindows, codes: bytes, event_ids: Sequence[str], history_length: int, top: int = 3
) -> list[dict[str, Any]]:
    """The ``top`` recent events whose removal lowers the score most, strongest first.

    ``event_ids`` are the ids of the last events of the window, oldest first (fewer than the window
    is fine: only events with an id are occluded).
    """
    codes = bytes(codes)
    count = min(len(event_ids), len(codes) // CODE_BYTES)
    if count == 0:
        return []
    windows = [codes]
    for back in range(count, 0, -1):
        start = len(codes) - back * CODE_BYTES
        windows.append(codes[:start] + codes[start + CODE_BYTES :])
    scores = model.score(model_input(windows, history_length))
    base, occluded = float(scores[0]), scores[1:]
    ranked = sorted(range(count), key=lambda i: float(base - occluded[i]), reverse=True)[:top]
    result = []
    for i in ranked:
        code_start = len(codes) - (count - i) * CODE_BYTES
        result.append(
            {
                "event_id": event_ids[len(event_ids) - count + i],
                "contribution": round(float(base - occluded[i]), 6),
                "event": describe_event_code(codes[code_start : code_start + CODE_BYTES]),
            }
        )
    return result
