"""The reports' plots: matplotlib drawing into files (no display), each figure laid out, saved and closed once.

Example
-------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "line.png"
>>> with saved_plot(path, figsize=(3, 2)) as (fig, ax):
...     _ = ax.plot([0, 1], [0, 1])
>>> path.read_bytes()[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def can_plot() -> bool:
    """Whether matplotlib is installed: it comes with the ``train`` extra, which a job's install can go without."""
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend: it draws into files, so it runs with no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def saved_plot(path: Path, figsize: tuple[float, float], dpi: int = 90, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """A figure and its axes (``plt.subplots(figsize=figsize, **subplots)``) to draw on; once drawn, laid out
    tight and saved to ``path`` at ``dpi``. The figure is closed either way."""
    plt = pyplot()
    fig, axes = plt.subplots(figsize=figsize, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
