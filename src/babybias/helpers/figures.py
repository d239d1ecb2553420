"""Figures through matplotlib's object API: never ``pyplot``, never the global backend.

:func:`new_figure` builds a :class:`matplotlib.figure.Figure` that belongs to no backend, so a
library call neither switches a notebook's backend (plots still show inline) nor opens a window;
:func:`save_figure` writes it atomically. To show one in a notebook, return it or ``display(fig)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, squeeze: bool = True,
               **subplot_kw: Any):
    """``(fig, axes)`` as ``plt.subplots`` returns them, without pyplot: nothing global is touched."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a matplotlib figure through a temporary file and a rename, so a reader never sees half a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
