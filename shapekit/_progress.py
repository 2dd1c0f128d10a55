"""Progress bars on stderr (tqdm), silent when stderr is not a terminal or SHAPEKIT_PROGRESS=0."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str | None = None, total: int | None = None,
             disable: bool | None = None, **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar written to stderr.

    ``disable=None`` (default) shows the bar only on an interactive stderr; the environment
    variable ``SHAPEKIT_PROGRESS=0`` silences every bar, ``=1`` forces them.
    """
    from tqdm.auto import tqdm

    env = os.environ.get("SHAPEKIT_PROGRESS")
    if env is not None and disable is None:
        disable = env == "0"
    if disable is None:
        disable = not sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, disable=disable, file=sys.stderr,
                dynamic_ncols=True, leave=False, **kwargs)
