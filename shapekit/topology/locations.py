"""Persistence pairs with the pixel where each feature is born and dies (for "explain" overlays).

Layout of every returned array: ``(n, 6)`` float64 columns
``birth, death, birth_row, birth_col, death_row, death_col`` (row 0 at the top).  Values follow
the conventions of :mod:`shapekit.topology.persistence` (superlevel in original units, birth >=
death); for an essential bar ``death`` is ``+-inf`` and ``death_row = death_col = -1``.

``birth_row/col`` is the pixel whose value is the birth (the local minimum -- maximum for
superlevel -- that starts an H0 component, or the pixel closing an H1 loop); ``death_row/col`` is
the pixel whose value is the death (the saddle where a component merges into an older one, or the
pixel filling a hole).  With the T-construction GUDHI gives these through
``CubicalComplex.cofaces_of_persistence_pairs``; with V through ``vertices_of_persistence_pairs``;
cripser and the torch backend (:mod:`shapekit.topology.torch_ph`) report them directly.  Ties between pixels of equal value may be resolved differently by
the two backends (the values agree; the pixel may be another one of the same value).

References
----------
.. [1] S. Kaji, T. Sudo, K. Ahara, "Cubical Ripser: software for computing persistent homology of
   image and volume data", arXiv:2005.12692, 2020.
.. [2] The GUDHI Project, "Cubical complex" reference manual, GUDHI 3.13, 2025.
"""

from __future__ import annotations

import numpy as np

from shapekit.topology.persistence import (
    Backend,
    Construction,
    Filtration,
    check_options,
    cripser_raw,
    resolve_backend,
    validate_image,
)

__all__ = ["persistence_pairs_with_locations", "CELL_WORK"]

#: float32-sized words of working memory per pixel when GUDHI (or cripser) computes the pairs with
#: their locations: 248 bytes a pixel measured on smoothed noise of 1024^2 and 2048x1536 (session
#: 24), rounded up; checked against the pixel budget as ``(CELL_WORK, height, width)``, for the
#: torch backend too (~80 bytes a pixel on micrographs, up to ~230 on a noisy checkerboard with
#: 1.4 pairs a pixel: its own peak and the pairs' arrays)
CELL_WORK = 64


def _gudhi_locations(cells: np.ndarray, construction: str, min_persistence: float
                     ) -> dict[int, np.ndarray]:
    import gudhi

    h, w = cells.shape
    flat = cells.ravel(order="F")  # GUDHI indexes cells in Fortran order
    if construction == "T":
        cc = gudhi.CubicalComplex(top_dimensional_cells=cells)
        cc.compute_persistence(homology_coeff_field=11, min_persistence=min_persistence)
        regular, essential = cc.cofaces_of_persistence_pairs()
    else:
        cc = gudhi.CubicalComplex(vertices=cells)
        cc.compute_persistence(homology_coeff_field=11, min_persistence=min_persistence)
        regular, essential = cc.vertices_of_persistence_pairs()
    out = {}
    for k in (0, 1):
        reg = np.asarray(regular[k], dtype=np.int64).reshape(-1, 2) if k < len(regular) \
            else np.empty((0, 2), np.int64)
        ess = np.asarray(essential[k], dtype=np.int64).reshape(-1) if k < len(essential) \
            else np.empty(0, np.int64)
        rows = np.empty((len(reg) + len(ess), 6))
        bi = np.concatenate([reg[:, 0], ess])
        rows[:, 0] = flat[bi]
        rows[:, 2], rows[:, 3] = bi % h, bi // h
        n = len(reg)
        rows[:n, 1] = flat[reg[:, 1]]
        rows[:n, 4], rows[:n, 5] = reg[:, 1] % h, reg[:, 1] // h
        rows[n:, 1] = np.inf
        rows[n:, 4:6] = -1
        # GUDHI keeps pairs with persistence > min_persistence only when it is > 0
        rows = rows[(rows[:, 1] - rows[:, 0] > min_persistence) | ~np.isfinite(rows[:, 1])]
        out[k] = rows
    return out


def _torch_locations(cells: np.ndarray, construction: str, min_persistence: float,
                     device: str | None) -> dict[int, np.ndarray]:
    import torch

    from shapekit.topology.torch_batch import resolve_device
    from shapekit.topology.torch_ph import persistence_tensors

    x = torch.from_numpy(np.ascontiguousarray(cells)[None]).to(resolve_device(device))
    d = persistence_tensors(x, construction, (0, 1), min_persistence)
    w = cells.shape[1]
    dim, bp, dp = (t.cpu().numpy() for t in (d.dim, d.birth_pixel, d.death_pixel))
    vals = torch.stack([d.birth, d.death], 1).cpu().numpy().astype(np.float64)
    out = {}
    for k in (0, 1):
        m = dim == k
        rows = np.empty((int(m.sum()), 6))
        rows[:, 0:2] = vals[m]
        rows[:, 2], rows[:, 3] = np.divmod(bp[m], w)
        rows[:, 4], rows[:, 5] = np.divmod(dp[m], w)
        rows[dp[m] < 0, 4:6] = -1
        out[k] = rows
    return out


def _cripser_locations(cells: np.ndarray, construction: str, min_persistence: float
                       ) -> dict[int, np.ndarray]:
    res = cripser_raw(cells, construction)
    out = {}
    for k in (0, 1):
        r = res[res[:, 0] == k]
        r = r[r[:, 2] - r[:, 1] > min_persistence]
        rows = np.empty((len(r), 6))
        rows[:, 0:2] = r[:, 1:3]
        rows[:, 2:4] = r[:, 3:5]
        rows[:, 4:6] = r[:, 6:8]
        rows[~np.isfinite(rows[:, 1]), 4:6] = -1
        out[k] = rows
    return out


def persistence_pairs_with_locations(image: np.ndarray, filtration: Filtration = "sublevel",
                                     construction: Construction = "T", backend: Backend = "gudhi",
                                     min_persistence: float = 0.0, device: str | None = None
                                     ) -> dict[int, np.ndarray]:
    """Persistence pairs of H0 and H1 with birth and death pixel coordinates.

    Parameters
    ----------
    image : array-like, shape (h, w)
    filtration : {"sublevel", "superlevel"}
    construction : {"T", "V"}
    backend : {"gudhi", "auto", "cripser", "torch"}
        ``"auto"``: torch on CUDA, else GUDHI (see
        :func:`~shapekit.topology.persistence.resolve_backend`; tie pixels may then differ).
        ``"gudhi"`` uses the generic ``CubicalComplex`` (slower than the fast path of
        :func:`~shapekit.topology.cubical_persistence`, so use it on one scan or tile at a time).
    min_persistence : float
        Keep finite pairs with persistence ``> min_persistence``.
    device : str or None
        torch device of ``backend="torch"`` (None: CUDA when available, else the CPU).

    Returns
    -------
    dict of int -> ndarray, shape (n, 6)
        ``{0: H0 rows, 1: H1 rows}``; columns described in the module docstring.  The
        ``(birth, death)`` multiset equals that of :func:`~shapekit.topology.cubical_persistence`.

    Examples
    --------
    >>> img = np.array([[0., 5, 1], [5, 5, 5], [2, 5, 0.5]])
    >>> p = persistence_pairs_with_locations(img)
    >>> p[0][np.argsort(p[0][:, 0])][:, :4]        # birth, death, birth pixel
    array([[0. , inf, 0. , 0. ],
           [0.5, 5. , 2. , 2. ],
           [1. , 5. , 0. , 2. ],
           [2. , 5. , 2. , 0. ]])
    """
    check_options(filtration, construction, backend, "keep", min_persistence)
    backend = resolve_backend(backend, device)
    cells = validate_image(image)
    from shapekit.io.budget import check_pixel_budget

    # before any backend allocates (torch too: the whole image is one chunk here)
    check_pixel_budget((CELL_WORK, *cells.shape),
                       f"persistence pairs with locations of a {cells.shape[1]}x{cells.shape[0]} "
                       f"image (about {4 * CELL_WORK} bytes a pixel)")
    superlevel = filtration == "superlevel"
    work = -cells if superlevel else cells
    if backend == "gudhi":
        out = _gudhi_locations(work, construction, float(min_persistence))
    elif backend == "torch":
        out = _torch_locations(work, construction, float(min_persistence), device)
    else:
        out = _cripser_locations(work, construction, float(min_persistence))
    if superlevel:
        for k in out:
            out[k][:, 0:2] *= -1
    return out
