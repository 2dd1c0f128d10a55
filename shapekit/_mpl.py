"""Matplotlib backend for shapekit's figures: Agg only where nobody chose a backend.

shapekit writes its figures to PNG files and must work on machines without a display, so it
needs a non-interactive backend there. ``matplotlib.use("Agg", force=False)`` is not that: it
switches a backend that the user (or Jupyter's inline backend) already chose, and figures then
never appear in a notebook. :func:`headless` picks Agg only when no backend has been chosen yet
(no ``MPLBACKEND``, no ``matplotlib.use``, no ``%matplotlib``).
"""

from __future__ import annotations

__all__ = ["headless"]


def headless() -> None:
    """Use Agg unless a backend was already chosen; call before ``import matplotlib.pyplot``.

    Examples
    --------
    >>> import matplotlib
    >>> previous = matplotlib.get_backend()
    >>> matplotlib.use("pdf")
    >>> headless(); matplotlib.get_backend()       # a chosen backend is kept
    'pdf'
    >>> matplotlib.use(previous)
    """
    import matplotlib
    from matplotlib import rcsetup

    # the rcParams entry still holds matplotlib's "auto" sentinel until a backend is chosen
    if dict.__getitem__(matplotlib.rcParams, "backend") is rcsetup._auto_backend_sentinel:
        matplotlib.use("Agg")
