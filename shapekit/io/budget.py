"""The pixel budget: one check before every allocation whose size follows from user input.

A file's header, a resampling factor, a tile size and stride, a padding, a generated image size
or count: each can ask for an array far larger than the input file. Every such allocation is
checked here, *before* it is made, against one budget (pixels, i.e. array elements of one
image-like buffer): :data:`DEFAULT_MAX_PIXELS`, or ``$SHAPEKIT_MAX_PIXELS``, or an explicit
``max_pixels=``. The CLI raises it on purpose with ``shapekit --max-pixels N COMMAND ...``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from shapekit.errors import InputError

DEFAULT_MAX_PIXELS = 2**28
"""Default budget (about 268 megapixels: a 16384 x 16384 scan, 1 GiB as float32).

A command holds more than the one buffer the budget counts: ``classify`` peaks at about 0.3 GB
plus 6-7 bytes a pixel of the scan (8192 x 6144: 0.69 GB; 16384 x 16384: 2.0 GB, 55 s on one
core), ``explain`` far more (see README).

Override per call with ``max_pixels=``, globally with the environment variable
``SHAPEKIT_MAX_PIXELS`` or, on the command line, with ``shapekit --max-pixels N``."""

ENV_VAR = "SHAPEKIT_MAX_PIXELS"
HOW_TO_RAISE = f"raise it with shapekit --max-pixels N or ${ENV_VAR}"


def pixel_budget(max_pixels: int | float | None = None) -> int:
    """The budget in force: ``max_pixels`` if given, else ``$SHAPEKIT_MAX_PIXELS``, else the default.

    Examples
    --------
    >>> pixel_budget(1000)
    1000
    >>> pixel_budget() >= 1
    True
    """
    if max_pixels is not None:
        value = _parse(max_pixels, "max_pixels")
    else:
        env = os.environ.get(ENV_VAR)
        value = _parse(env, ENV_VAR) if env else DEFAULT_MAX_PIXELS
    return value


def _parse(raw: object, name: str) -> int:
    try:
        value = float(raw)  # type: ignore[arg-type]  # "1e9" is accepted
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive integer, got {str(raw)[:40]!r}") from None
    if not math.isfinite(value) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {str(raw)[:40]!r}")
    return int(value)


def check_pixel_budget(shape: Sequence[int], what: str, *, max_pixels: int | None = None) -> int:
    """Refuse to allocate ``prod(shape)`` pixels when that exceeds the budget; return the count.

    Parameters
    ----------
    shape : sequence of int
        The array about to be allocated, e.g. ``(h, w)`` or ``(n_tiles, size, size)``.
    what : str
        What is being allocated, for the message (e.g. ``"x.png: resampled to 0.005 um/px"``).
    max_pixels : int, optional
        Budget override (see :func:`pixel_budget`).

    Raises
    ------
    InputError
        One line naming ``what``, the requested size and the limit. Negative or zero sizes are
        refused too (an empty allocation is never what the user meant).

    Examples
    --------
    >>> check_pixel_budget((100, 200), "tiles")
    20000
    >>> check_pixel_budget((10**5, 10**5), "x.png: resampled", max_pixels=10**6)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: x.png: resampled: 100000x100000 = 10000000000 pixels, over the limit of 1000000 pixels (raise it with shapekit --max-pixels N or $SHAPEKIT_MAX_PIXELS)
    """
    dims = [int(d) for d in shape]
    budget = pixel_budget(max_pixels)
    text = "x".join(str(d) for d in dims)
    if any(d <= 0 for d in dims):
        raise InputError(f"{what}: empty or negative size {text}")
    n = math.prod(dims)
    if n > budget:
        raise InputError(f"{what}: {text} = {n} pixels, over the limit of {budget} pixels "
                         f"({HOW_TO_RAISE})")
    return n
