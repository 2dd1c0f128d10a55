"""Per-thread reusable work arrays for the featurisation hot path.

Fresh multi-MB numpy arrays cost page faults comparable to the arithmetic done on them (256^2
tiles, diagrams of 10^4-10^5 pairs), so the preprocessing and the batched vectorisation write
into buffers kept per thread and per name.  A returned array is valid until the next call with
the same name on the same thread; never hand one to a caller (copy it, see :func:`is_scratch`).
"""

from __future__ import annotations

import threading

import numpy as np

_LOCAL = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """A work array of ``shape`` and ``dtype`` reused by this thread under ``name``.

    The buffer grows as needed and is replaced when a request is much smaller than it (over 4x
    and over 64k elements), so one large image does not pin its memory for later small tiles.

    Examples
    --------
    >>> a = scratch("doc", (2, 3))
    >>> b = scratch("doc", (3, 2))
    >>> a.shape, b.shape, bool(np.shares_memory(a, b))
    ((2, 3), (3, 2), True)
    """
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    key = (name, np.dtype(dtype).str)
    size = int(np.prod(shape))
    b = bufs.get(key)
    if b is None or b.size < size or b.size > max(4 * size, 2**16):
        b = bufs[key] = np.empty(max(size, 1), dtype=dtype)
    return b[:size].reshape(shape)


def is_scratch(a: np.ndarray) -> bool:
    """Whether ``a`` lies in one of this thread's scratch buffers."""
    return any(np.may_share_memory(a, b) for b in getattr(_LOCAL, "bufs", {}).values())
