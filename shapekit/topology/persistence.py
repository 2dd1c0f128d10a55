"""Cubical persistent homology of 2-D images (GUDHI fast path; cripser optional; torch on CPU/CUDA).

Conventions (the ones users trip on; all tested in ``tests/test_topology_conventions.py``)
-----------------------------------------------------------------------------------------
Construction
    ``"T"`` (default): pixels are the *top-dimensional* cells (squares); an edge or vertex gets the
    minimum of the squares around it.  Sublevel sets ``{f <= t}`` are therefore **8-connected**:
    two pixels touching at a corner share a vertex.  ``"V"``: pixels are the *vertices*; an edge or
    square gets the maximum of its vertices, so sublevel sets are **4-connected**.
Filtration
    ``"sublevel"`` grows ``{f <= t}`` as ``t`` increases: dark features are born first.  Pairs are
    ``(birth, death)`` with ``birth <= death``; the essential H0 bar is ``(min f, +inf)``.
    ``"superlevel"`` grows ``{f >= t}`` as ``t`` decreases: bright features are born first.  It is
    computed as the sublevel filtration of ``-f`` and **reported in the original intensity units**,
    so ``birth >= death`` (a bright particle is born at its peak intensity and dies at the lower
    saddle intensity where it merges); the essential H0 bar is ``(max f, -inf)``.  Persistence
    (lifetime) is always ``|death - birth|``.
Essential bars
    ``essential="keep"`` (default) keeps infinite deaths (``+inf`` sublevel, ``-inf`` superlevel);
    ``"drop"`` removes them; ``"cap"`` replaces them by the last filtration value (``max f``
    sublevel, ``min f`` superlevel).  The vectorisers in :mod:`shapekit.topology.vectorize` use finite
    pairs only, except :func:`~shapekit.topology.vectorize.betti_curve`, which counts an essential bar
    as alive from its birth to the end of the grid (so Betti numbers and the Euler characteristic are
    exact).
Minimum persistence
    A finite pair is kept iff ``|death - birth| > min_persistence`` (strict, as in GUDHI); pairs of
    zero persistence are therefore never reported.  Essential bars always pass.
Dimensions
    A 2-D image has homology in dimensions 0 and 1 only; other requested dimensions are empty.
Backends
    Every computation goes through one dispatch, :func:`sublevel_pairs`, on a batch of images
    (in :mod:`shapekit.topology.backends`, with the backends; importable from here too).
    ``"gudhi"`` (default): GUDHI's public ``CubicalPersistence`` (the 2-D top-cell fast path for
    T, ``CubicalComplex(vertices=...)`` for V).  ``"cripser"``: CubicalRipser (optional).
    ``"torch"``: the batched tensor algorithm of :mod:`shapekit.topology.torch_ph` (basins,
    saddle edges, parallel elder rule; H1 by duality), on CUDA when present (``device=``), else
    the CPU.  All three return the same diagrams: the same multisets of ``(birth, death)`` for
    both constructions, ties included (tested against GUDHI on >10,000 images); only the row
    order differs.  The torch backend pays off on a GPU and on batches; on the CPU GUDHI is
    faster, so ``"auto"`` (:func:`resolve_backend`) picks ``"torch"`` on CUDA, else ``"gudhi"``.

References
----------
.. [1] H. Wagner, C. Chen, E. Vucini, "Efficient computation of persistent homology for cubical
   data", Topological Methods in Data Analysis and Visualization II, 2012.
.. [2] GUDHI PR #847, "New code for persistence of 2d cubical from top cells" (M. Glisse), 2023.
.. [3] S. Kaji, T. Sudo, K. Ahara, "Cubical Ripser: software for computing persistent homology of
   image and volume data", arXiv:2005.12692, 2020.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from shapekit.errors import InputError
from shapekit.topology.backends import BACKENDS, Backend, Construction, cripser_raw, resolve_backend, sublevel_pairs
from shapekit.topology.diagrams import FILTRATIONS

Filtration = Literal["sublevel", "superlevel"]
Essential = Literal["keep", "drop", "cap"]

CONSTRUCTIONS = ("T", "V")
ESSENTIALS = ("keep", "drop", "cap")

__all__ = ["BACKENDS", "cubical_persistence", "cubical_persistence_batch", "sublevel_pairs",
           "resolve_backend", "cripser_raw", "validate_image", "check_options"]


def check_options(filtration: str = "sublevel", construction: str = "T", backend: str = "gudhi",
                  essential: str = "keep", min_persistence: float = 0.0) -> None:
    """Raise :class:`~shapekit.errors.InputError` on an unknown option value.

    Examples
    --------
    >>> check_options("sublevel", "T", "gudhi", "keep", 0.0)
    >>> check_options("upper")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: filtration='upper' is not one of ('sublevel', 'superlevel')
    """
    for name, value, allowed in (("filtration", filtration, FILTRATIONS),
                                 ("construction", construction, CONSTRUCTIONS),
                                 ("backend", backend, BACKENDS),
                                 ("essential", essential, ESSENTIALS)):
        if value not in allowed:
            raise InputError(f"{name}={value!r} is not one of {allowed}")
    try:
        mp = float(min_persistence)
    except (TypeError, ValueError):
        raise InputError(f"min_persistence={min_persistence!r} is not a number") from None
    if not np.isfinite(mp) or mp < 0:
        raise InputError(f"min_persistence={min_persistence!r} must be a finite number >= 0")


def validate_image(image: object, name: str = "image") -> np.ndarray:
    """Return ``image`` as a C-contiguous float 2-D array, or raise :class:`InputError`.

    float32 stays float32 (GUDHI accepts it directly); anything else becomes float64.

    NaN/inf pixels, non-numeric data, empty images and non-2-D arrays are refused with a
    one-line message naming ``name``.

    Examples
    --------
    >>> validate_image([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    try:
        arr = np.asarray(image)
    except Exception as exc:  # ragged nested lists and the like
        raise InputError(f"{name}: cannot be read as an array ({exc})") from None
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a 2-D image, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name}: empty image of shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise InputError(f"{name}: pixel type {arr.dtype} is not real numeric")
    arr = np.ascontiguousarray(arr, dtype=np.float32 if arr.dtype == np.float32 else np.float64)
    # one reduction decides for almost every image; the element-wise check only when the sum is
    # not finite (NaN/inf pixels, or a sum that overflows)
    if not np.isfinite(np.add.reduce(arr, axis=None)) and not np.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or infinite pixels")
    return arr


def _finish(diags: list[np.ndarray], dims: Sequence[int], superlevel: bool, essential: str,
            cap: float) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for k in dims:
        d = np.asarray(diags[k], dtype=np.float64).reshape(-1, 2) if k in (0, 1) else np.empty((0, 2))
        if essential != "keep" and len(d):
            inf = ~np.isfinite(d[:, 1])
            if inf.any():
                if essential == "drop":
                    d = d[~inf]
                else:
                    d = d.copy()
                    d[inf, 1] = cap
        if superlevel:
            d = -d
        out[int(k)] = d
    return out


def _check_dims(dims: Iterable[int]) -> tuple[int, ...]:
    try:
        out = tuple(int(k) for k in np.atleast_1d(np.asarray(dims)))
    except (TypeError, ValueError):
        raise InputError(f"dims={dims!r} must be homology dimensions (ints >= 0)") from None
    if not out or min(out) < 0:
        raise InputError(f"dims={dims!r} must be a non-empty list of ints >= 0")
    return out


def cubical_persistence(image: np.ndarray, filtration: Filtration = "sublevel",
                        dims: Iterable[int] = (0, 1), backend: Backend = "gudhi",
                        construction: Construction = "T", min_persistence: float = 0.0,
                        essential: Essential = "keep", device: str | None = None
                        ) -> dict[int, np.ndarray]:
    """Persistence diagrams of the cubical complex of a 2-D image.

    Parameters
    ----------
    image : array-like, shape (h, w)
        Grey-level image (any real dtype; NaN/inf refused).
    filtration : {"sublevel", "superlevel"}
        See the module docstring: superlevel diagrams are in original intensity units with
        ``birth >= death``.
    dims : iterable of int
        Homology dimensions to return (0 and 1 are non-trivial for 2-D images).
    backend : {"gudhi", "auto", "cripser", "torch"}
        ``"auto"``: ``"torch"`` on CUDA, else ``"gudhi"`` (:func:`resolve_backend`).
        ``"gudhi"``: T via the 2-D top-cell fast path (GUDHI >= 3.9), V via
        ``CubicalComplex(vertices=...)`` (exact, ~30x slower).  ``"cripser"``: CubicalRipser
        (optional dependency; ``computePH_T`` for T, ``computePH`` for V).  ``"torch"``:
        :mod:`shapekit.topology.torch_ph` on ``device`` (both constructions).
    construction : {"T", "V"}
        T: pixels are squares, 8-connected sublevel sets; V: pixels are vertices, 4-connected.
    min_persistence : float
        Keep finite pairs with ``|death - birth| > min_persistence`` (strict).
    essential : {"keep", "drop", "cap"}
        Treatment of the infinite H0 bar (see module docstring).
    device : str or None
        torch device of ``backend="torch"`` (None: CUDA when available, else CPU) and of
        ``"auto"``'s choice; ignored by the other backends.

    Returns
    -------
    dict of int -> ndarray of shape (n, 2), float64
        ``{dim: [[birth, death], ...]}``.  Row order is backend-specific but deterministic.

    Examples
    --------
    >>> img = np.array([[0., 5, 1], [5, 5, 5], [2, 5, 0]])
    >>> d = cubical_persistence(img)
    >>> d[0]                                   # four dark minima; the deepest lives forever
    array([[ 1.,  5.],
           [ 2.,  5.],
           [ 0.,  5.],
           [ 0., inf]])
    >>> cubical_persistence(img, "superlevel")[0]   # one bright cross, born at 5, never dies
    array([[  5., -inf]])
    >>> cubical_persistence(img, backend="torch", device="cpu")[0]    # same pairs, own order
    array([[ 1.,  5.],
           [ 2.,  5.],
           [ 0.,  5.],
           [ 0., inf]])
    """
    return cubical_persistence_batch([validate_image(image)], filtration, dims, backend,
                                     construction, min_persistence, essential, device=device)[0]


def cubical_persistence_batch(images: Iterable[np.ndarray], filtration: Filtration = "sublevel",
                              dims: Iterable[int] = (0, 1), backend: Backend = "gudhi",
                              construction: Construction = "T", min_persistence: float = 0.0,
                              essential: Essential = "keep", n_jobs: int | None = 1,
                              device: str | None = None, memory_budget: int | None = None
                              ) -> list[dict[int, np.ndarray]]:
    """:func:`cubical_persistence` over many images: joblib threads (GUDHI and cripser release
    the GIL), or whole batches on one device with ``backend="torch"``.

    Parameters
    ----------
    images : iterable of 2-D arrays, or ndarray (B, H, W)
        Images or tiles (sizes may differ; a ``(B, H, W)`` array is validated in one pass and
        goes to the backend without per-image copies).
    n_jobs : int or None
        joblib ``n_jobs`` (1: serial, -1: all cores); not used by ``backend="torch"``.
    device : str or None
        torch device of ``backend="torch"`` (None: CUDA when available, else CPU).
    memory_budget : int or None
        Bytes one batch of ``backend="torch"`` may use (None: 80 % of the free CUDA memory, or
        half the available RAM); larger inputs are split into batches that fit.
        Other parameters as in :func:`cubical_persistence`.

    Returns
    -------
    list of dict
        One diagram dict per image, in input order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = cubical_persistence_batch(rng.random((3, 16, 16)), n_jobs=2)
    >>> len(out), sorted(out[0])
    (3, [0, 1])
    >>> tiles = rng.random((3, 16, 16))
    >>> a = cubical_persistence_batch(tiles)
    >>> b = cubical_persistence_batch(tiles, backend="torch", device="cpu")
    >>> all(sorted(map(tuple, a[i][k])) == sorted(map(tuple, b[i][k])) for i in range(3) for k in (0, 1))
    True
    """
    check_options(filtration, construction, backend, essential, min_persistence)
    dims_t = _check_dims(dims)
    if isinstance(images, np.ndarray) and images.ndim == 3 and images.size:
        cells: np.ndarray | list[np.ndarray] = _validate_stack(images)
    else:
        cells = [validate_image(im, f"images[{i}]") for i, im in enumerate(images)]
    superlevel = filtration == "superlevel"
    work = np.negative(cells) if superlevel and isinstance(cells, np.ndarray) else \
        [-c for c in cells] if superlevel else cells
    pairs = sublevel_pairs(work, backend=backend, construction=construction,
                           min_persistence=min_persistence, n_jobs=n_jobs, device=device,
                           memory_budget_bytes=memory_budget)
    return [_finish(p, dims_t, superlevel, essential, float(w.max()) if essential == "cap" else np.inf)
            for p, w in zip(pairs, work)]


def _validate_stack(images: np.ndarray) -> np.ndarray:
    """:func:`validate_image` for a ``(B, H, W)`` array at once (float32 kept, else float64)."""
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool) \
            or np.iscomplexobj(images):
        raise InputError(f"images: pixel type {images.dtype} is not real numeric")
    arr = np.ascontiguousarray(images, dtype=np.float32 if images.dtype == np.float32
                               else np.float64)
    if not np.isfinite(np.add.reduce(arr, axis=None)) and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(1))[0])
        raise InputError(f"images[{bad}]: contains NaN or infinite pixels")
    return arr
