"""The scoring step's model input, computed once per distinct event code in the batch.

:func:`~shopguard.udfs.encoding.batch_features` is the definition of the model input. Each of its
features depends on one event code alone, and a batch of users' windows repeats few distinct codes
(an event type, a gap bucket, a price bucket and a few flags), so :func:`model_input` reads the whole
batch with one ``np.frombuffer``, encodes each distinct code once with ``batch_features`` and looks
every position up in that table: the same float32 array, bit for bit
(``tests/unit/test_model_input.py``), without a Python loop over rows.

Example
-------
>>> from shopguard.udfs.encoding import encode_user_events
>>> from shopguard.udfs.events import Event
>>> windows = encode_user_events([Event("e1", "u1", "page_view", 0), Event("e2", "u1", "purchase", 900)], 4)
>>> model_input(windows, 4).tobytes() == batch_features(windows, 4).tobytes()
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shopguard.udfs.encoding import CODE_BYTES, batch_features


def model_input(windows: Sequence[bytes], history_length: int) -> np.ndarray:
    """``batch_features(windows, history_length)``: float32 ``[batch, L, features]``, left-padded windows."""
    if not windows:
        return batch_features(windows, history_length)
    width = history_length * CODE_BYTES
    if all(len(window) == width for window in windows):
        joined = b"".join(windows)
    else:  # young users: left-pad with the zero code, as batch_features does; keep only the last L codes
        joined = b"".join([bytes(width - len(w[-width:])) + w[-width:] for w in windows])
    codes = np.frombuffer(joined, dtype=np.uint32)  # one event code per 4 bytes, compared whole
    distinct, position = np.unique(codes, return_inverse=True)
    table = batch_features([distinct.tobytes()], len(distinct))[0]
    return table[position].reshape(len(windows), history_length, table.shape[-1])
