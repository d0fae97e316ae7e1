"""A small stand-in for the Taobao slice, for tests that calibrate on it (the real one may be absent)."""

from pathlib import Path

import numpy as np

T0_S = 1_511_658_000  # 2017-11-26 01:00 UTC, where the real slice starts


def write_stand_in_taobao(path: Path, users: int) -> Path:
    """``users`` shoppers of 1-4 events each within two hours, mostly page views, in the slice's CSV format."""
    rng = np.random.default_rng(0)
    kinds = ["pv"] * 18 + ["cart", "fav", "buy"]
    rows = [
        f"{u},{int(rng.integers(0, 99))},{int(rng.integers(0, 5))},{kinds[int(rng.integers(len(kinds)))]},"
        f"{T0_S + int(rng.integers(0, 7200))}\n"
        for u in range(users)
        for _ in range(int(rng.integers(1, 5)))
    ]
    path.write_text("".join(rows))
    return path
