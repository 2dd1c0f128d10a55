"""The persistence backends, their one dispatch (:func:`sublevel_pairs`), and which one runs:
``"auto"`` picks ``"torch"`` on CUDA and ``"gudhi"`` on the CPU.

All of them return the same diagrams, so the choice is one of speed only (GUDHI is the fast CPU
path, the batched torch backend pays off on a GPU). The conventions (constructions, filtrations,
essential bars) and the per-image API are in :mod:`shapekit.topology.persistence`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from shapekit.errors import InputError, brief

#: the backend names accepted everywhere a backend is (``"auto"`` resolves to one of the others)
BACKENDS = ("auto", "gudhi", "cripser", "torch")

Construction = Literal["T", "V"]
Backend = Literal["auto", "gudhi", "cripser", "torch"]

__all__ = ["BACKENDS", "resolve_backend", "sublevel_pairs", "cripser_raw"]


def _cuda_present() -> bool:
    """``torch.cuda.is_available()``, without importing torch where no NVIDIA driver is loaded."""
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia/version"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend: str = "auto", device: object = None) -> str:
    """The backend that ``backend`` stands for on ``device``: ``"auto"`` becomes ``"torch"`` or
    ``"gudhi"``; the explicit backends are returned unchanged.

    ``"auto"`` is ``"torch"`` when ``device`` names a CUDA device (``"cuda"``, ``"cuda:N"``), or
    when ``device`` is None and CUDA is available; otherwise ``"gudhi"`` (the fast CPU path; the
    diagrams are the same either way).  With ``device=None``, torch is imported to ask only where
    it already is or an NVIDIA driver is loaded.  Other torch devices (``"mps"``...) resolve to
    ``"gudhi"``: name ``backend="torch"`` to run there.  Whether a named CUDA device exists is
    checked where it is used.

    Raises
    ------
    InputError
        An unknown backend, or a ``device`` that is not a torch device name.

    Examples
    --------
    >>> resolve_backend("auto", "cpu"), resolve_backend("auto", "cuda:1")
    ('gudhi', 'torch')
    >>> resolve_backend("cripser", "cuda"), resolve_backend("torch", "cpu")
    ('cripser', 'torch')
    """
    if backend not in BACKENDS:
        raise InputError(f"backend={backend!r} is not one of {BACKENDS}")
    if backend != "auto":
        return backend
    if device is None:
        return "torch" if _cuda_present() else "gudhi"
    name = str(device)
    if re.fullmatch(r"cuda(:\d+)?", name):
        return "torch"
    if not re.fullmatch(r"cpu(:\d+)?", name):
        import torch

        try:
            torch.device(name)
        except (RuntimeError, TypeError, ValueError):
            raise InputError(f"device={brief(name)} is not a torch device "
                             "(e.g. 'cpu', 'cuda', 'cuda:1')") from None
    return "gudhi"


def _gudhi(batch: Sequence[np.ndarray], construction: str, min_persistence: float,
           n_jobs: int | None) -> list[list[np.ndarray]]:
    """GUDHI's public :class:`gudhi.sklearn.cubical_persistence.CubicalPersistence`: the 2-D
    top-cell fast path for T (GUDHI >= 3.9), ``CubicalComplex(vertices=...)`` for V."""
    from gudhi.sklearn.cubical_persistence import CubicalPersistence

    cp = CubicalPersistence(homology_dimensions=[0, 1], min_persistence=min_persistence,
                            input_type="top_dimensional_cells" if construction == "T" else "vertices",
                            n_jobs=n_jobs)
    return cp.fit(None).transform(batch)


def _import_cripser():
    try:
        import cripser
    except ImportError:
        raise InputError("backend='cripser' needs the optional package cripser "
                         "(pip install 'shapekit[cripser]'); use backend='gudhi'") from None
    return cripser


def cripser_raw(cells: np.ndarray, construction: str) -> np.ndarray:
    """Raw CubicalRipser output ``(n, 9)`` (dim, birth, death, birth x/y/z, death x/y/z) for
    dimensions 0-1, essential deaths set to ``+inf`` (sublevel filtration of ``cells``)."""
    cripser = _import_cripser()
    if construction == "T":
        fn = getattr(cripser, "computePH_T", None)
        if fn is None:
            raise InputError("this cripser build lacks the T-construction (tcripser); "
                             "use backend='gudhi' or construction='V'")
    else:
        fn = cripser.computePH
    h, w = cells.shape
    thin = construction == "V" and min(h, w) == 1
    if thin:
        # cripser's V-construction treats the pixels of a 1-pixel-thin image as disconnected:
        # duplicate the line (the filtration of line x [0, 1] has the same persistence)
        if h == 1:
            cells = np.concatenate([cells, cells], axis=0)
        if w == 1:
            cells = np.concatenate([cells, cells], axis=1)
    res = np.asarray(fn(np.ascontiguousarray(cells, dtype=np.float64), maxdim=1), dtype=np.float64)
    res = res.reshape(-1, 9)
    if thin:
        for c in (3, 6):
            ok = res[:, c] >= 0
            res[ok, c] %= h
            res[ok, c + 1] %= w
    res[res[:, 2] >= np.finfo(np.float64).max / 2, 2] = np.inf
    return res


def _cripser(batch: Sequence[np.ndarray], construction: str, min_persistence: float,
             n_jobs: int | None) -> list[list[np.ndarray]]:
    out = []
    for cells in batch:
        res = cripser_raw(cells, construction)
        pairs = []
        for k in (0, 1):
            d = res[res[:, 0] == k, 1:3]
            pairs.append(np.ascontiguousarray(d[d[:, 1] - d[:, 0] > min_persistence]))
        out.append(pairs)
    return out


def _torch(batch: Sequence[np.ndarray] | np.ndarray, construction: str, min_persistence: float,
           n_jobs: int | None, **options: Any) -> list[list[np.ndarray]]:
    from shapekit.topology.torch_batch import torch_diagrams

    return torch_diagrams(batch, construction, min_persistence, n_jobs, **options)


#: the backends of :func:`sublevel_pairs`: ``fn(batch, construction, min_persistence, n_jobs,
#: **options)`` returning, per image of ``batch``, ``[H0 pairs, H1 pairs]`` of its sublevel
#: filtration; ``options`` are backend-specific (torch: ``device``, ``memory_budget_bytes``)
_BACKENDS: dict[str, Callable[..., list[list[np.ndarray]]]] = {
    "gudhi": _gudhi, "cripser": _cripser, "torch": _torch}


def sublevel_pairs(batch: Sequence[np.ndarray] | np.ndarray, *, backend: Backend = "gudhi",
                   construction: Construction = "T", min_persistence: float = 0.0,
                   n_jobs: int | None = 1, **options: Any) -> list[list[np.ndarray]]:
    """The backend dispatch: H0 and H1 pairs of the sublevel filtration of every image.

    Every persistence computation of shapekit goes through this function.  A backend is a
    function ``fn(batch, construction, min_persistence, n_jobs, **options)`` registered in
    ``_BACKENDS``
    (and named in :data:`BACKENDS`) that returns, for each image of ``batch`` (a sequence of
    2-D arrays or a ``(B, H, W)`` array of same-shape images), ``[H0, H1]`` as ``(n, 2)``
    arrays in GUDHI's conventions: ``birth <= death``, essential death ``+inf``, finite pairs
    kept iff ``death - birth > min_persistence``.

    Parameters
    ----------
    batch : sequence of 2-D float arrays, or ndarray (B, H, W)
        Validated images (see :func:`shapekit.topology.persistence.validate_image`); superlevel
        callers pass ``-image``.
    backend, construction, min_persistence
        See :func:`shapekit.topology.persistence.cubical_persistence`; ``"auto"`` is resolved by
        :func:`resolve_backend` with ``options["device"]``.
    n_jobs : int or None
        joblib threads over images (the GUDHI backend releases the GIL).
    **options
        Backend-specific: ``device`` and ``memory_budget_bytes`` of ``"torch"``.

    Returns
    -------
    list of [ndarray (n0, 2), ndarray (n1, 2)]

    Examples
    --------
    >>> h0, h1 = sublevel_pairs(np.array([[[0., 2., 1.]]]))[0]      # a batch of one 1x3 image
    >>> h0.tolist(), h1.shape
    ([[1.0, 2.0], [0.0, inf]], (0, 2))
    """
    backend = resolve_backend(backend, options.get("device"))
    fn = _BACKENDS[backend]
    if backend != "torch":
        return fn(batch, construction, float(min_persistence), n_jobs)
    return fn(batch, construction, float(min_persistence), n_jobs,
              **{k: v for k, v in options.items() if v is not None})
