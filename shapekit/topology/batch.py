"""Batched vectorisation: the features of one block for MANY diagrams at once.

:func:`block_features_batch` is the vectorisation of :class:`~shapekit.topology.TopTempFeaturizer`
and of the temper classifier's tile features: it returns, row for row, what
:func:`shapekit.topology.blocks.block_features` (the per-diagram reference, built on
:mod:`shapekit.topology.vectorize`) returns, but concatenates the diagrams of all images with an
offset per image and computes every vectoriser in one compiled pass
(:mod:`shapekit.topology._kernels`; numba, GIL released) or, without numba (or with
``SHAPEKIT_NO_NUMBA=1``), with the segmented numpy operations of
:mod:`shapekit.topology.batch_numpy`.  Agreement with the reference is tested to 1e-9 (it is
~1e-14: sums are accumulated in another order).

References
----------
.. [1] H. Adams et al., "Persistence images: a stable vector representation of persistent
   homology", JMLR 18(8), 2017.
.. [2] P. Bubenik, "Statistical topological data analysis using persistence landscapes",
   JMLR 16, 2015.
.. [3] H. Chintakunta, T. Gentimis, R. Gonzalez-Diaz, M.-J. Jimenez, H. Krim, "An entropy-based
   persistence barcode", Pattern Recognition 48(2), 2015.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from shapekit.errors import InputError
from shapekit.topology._scratch import scratch
from shapekit.topology.batch_numpy import _grid, features_numpy, grid_counts
from shapekit.topology.vectorize import _pixel_kernel

__all__ = ["block_features_batch", "grid_counts"]


def _pi_geometry(grids: dict[str, object], res: int, pi_sigma: float, oversample: int = 2
                 ) -> tuple[tuple[float, ...], tuple[int, int, int, int], tuple[float, float]]:
    """``(b0, db, p0, dp, p1)``, ``(padb, tb, padp, tp)`` and sigma of the binned image grid."""
    b0, b1 = (float(v) for v in grids["birth_range"])
    p0, p1 = (float(v) for v in grids["pers_range"])
    sb, sp = pi_sigma * (b1 - b0) / res, pi_sigma * (p1 - p0) / res
    nb = res * oversample
    db, dp = (b1 - b0) / nb, (p1 - p0) / nb
    padb, padp = int(np.ceil(4 * sb / db)), int(np.ceil(4 * sp / dp))
    return (b0, db, p0, dp, p1), (padb, nb + 2 * padb, padp, nb + 2 * padp), (sb, sp)


def _use_kernel() -> bool:
    global _KERNEL
    if _KERNEL is None:
        try:
            from shapekit.topology import _kernels  # noqa: F401
            _KERNEL = True
        except ImportError:  # numba missing or broken: numpy path
            _KERNEL = False
    return _KERNEL and os.environ.get("SHAPEKIT_NO_NUMBA", "") in ("", "0")


_KERNEL: bool | None = None
_NO_GRID = np.empty(0)
_NO_GRID.flags.writeable = False


def _with_kernel(d: np.ndarray, n_all: np.ndarray, grids: dict[str, object], *,
                 quantiles: Sequence[float], n_betti: int, persistence_images: bool,
                 pi_resolution: int, pi_sigma: float, landscapes: bool, n_landscape_layers: int,
                 n_landscape: int, quantile_samples: int | None, superlevel: bool,
                 fill_value: float) -> np.ndarray:
    """The compiled path: one pass of :func:`shapekit.topology._kernels.block_kernel`."""
    from shapekit.topology._kernels import block_kernel

    n = len(n_all)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_all, out=off[1:])
    thr_in = np.asarray(grids["thresholds"], dtype=np.float64)
    order = np.argsort(thr_in, kind="stable")
    thr = np.ascontiguousarray(thr_in[order])
    nt, nq = len(thr), len(quantiles)
    v0, v1 = (float(v) for v in grids["value_range"])
    # grids are read-only arrays (cached); the empty stand-in must be too, or numba compiles
    # one more specialisation of the kernel
    gb = _grid(v0, v1, n_betti) if n_betti else _NO_GRID
    gl = _grid(v0, v1, n_landscape) if landscapes else _NO_GRID
    k = int(n_landscape_layers) if landscapes else 1
    res = int(pi_resolution)
    geom, pad, sig = _pi_geometry(grids, res, pi_sigma)
    summ = np.zeros((n, 7 + nt))
    betti = np.zeros((n, len(gb)))
    hist = scratch("h", (n, pad[1], pad[3]) if persistence_images else (n, 0, 0))
    hist.fill(0.0)
    land = np.zeros((n, k, len(gl)))
    lbuf = scratch("l", (len(d),))
    qout = np.full((n, 3 * nq), float(fill_value))
    if not block_kernel(d, off, bool(superlevel), thr, gb, gl, k, bool(persistence_images),
                        np.asarray(geom, dtype=np.float64), np.asarray(pad, dtype=np.int64),
                        int(quantile_samples or 0), float(fill_value), summ, betti, hist, land,
                        np.asarray(quantiles, dtype=np.float64).reshape(-1), qout, lbuf):
        raise InputError("persistence diagram contains NaN")
    if nt and (order != np.arange(nt)).any():   # counts back in the fitted threshold order
        summ[:, 2 + order] = summ[:, 2:2 + nt].copy()
    # entropy -sum p log p, p = l / T, as log T - sum(l log l) / T with a SIMD log
    total = summ[:, 2 + nt]
    if len(d):
        tmp = scratch("t", (len(d) + 1,))      # one spare 0 so that every start is valid
        np.log(lbuf, out=tmp[:-1])
        np.multiply(tmp[:-1], lbuf, out=tmp[:-1])
        tmp[-1] = 0.0
        s_log = np.add.reduceat(tmp, off[:-1])   # empty images: masked by total == 0 below
        with np.errstate(divide="ignore", invalid="ignore"):
            summ[:, 6 + nt] = np.where(total > 0, np.log(total) - s_log / total, 0.0)
    parts = [summ, qout]
    if n_betti:
        parts.append(betti)
    if persistence_images:
        b0, b1 = (float(v) for v in grids["birth_range"])
        p0, p1 = (float(v) for v in grids["pers_range"])
        kb = _pixel_kernel(b0, b1, res, geom[1], pad[0], pad[1], sig[0])
        kp = _pixel_kernel(p0, p1, res, geom[3], pad[2], pad[3], sig[1])
        parts.append(np.matmul(np.matmul(kb, hist), kp.T).reshape(n, res * res))
    if landscapes:
        parts.append(land.reshape(n, -1))
    return np.concatenate(parts, axis=1)


def block_features_batch(dgms: Sequence[np.ndarray], grids: dict[str, object], *,
                         quantiles: Sequence[float], n_betti: int, persistence_images: bool,
                         pi_resolution: int, pi_sigma: float, landscapes: bool,
                         n_landscape_layers: int, n_landscape: int,
                         area_kpx: np.ndarray | None, quantile_samples: int | None = None,
                         filtration: str = "sublevel", fill_value: float = 0.0) -> np.ndarray:
    """Features of one block for many diagrams: row ``i`` equals
    :func:`~shapekit.topology.blocks.block_features` of ``dgms[i]``.

    Parameters
    ----------
    dgms : sequence of ndarray, shape (n_i, 2)
        One diagram per image, all of the same ``filtration`` (``"sublevel"``: birth <= death,
        essential death ``+inf``; ``"superlevel"``: birth >= death, essential death ``-inf``).
    grids : dict
        The block's fitted grids (:func:`~shapekit.topology.blocks.combine_fit_stats`).
    area_kpx : ndarray of shape (n,) or None
        Input area of each image in kilopixels (densities per 1000 px), or None (raw counts).
    Other parameters
        As in :func:`~shapekit.topology.blocks.block_features`.

    Returns
    -------
    ndarray of float64, shape (len(dgms), n_features_of_block)

    Examples
    --------
    >>> from shapekit.topology.blocks import block_features, combine_fit_stats
    >>> grids = combine_fit_stats(np.array([[0.0, 1.0, 0.0, 1.0, 1.0, 0.5]]))
    >>> kw = dict(quantiles=(0.5,), n_betti=4, persistence_images=True, pi_resolution=2,
    ...           pi_sigma=1.0, landscapes=True, n_landscape_layers=2, n_landscape=4,
    ...           area_kpx=None)
    >>> d = [np.array([[0.0, 1.0], [0.2, 0.3]]), np.empty((0, 2)), np.array([[0.1, np.inf]])]
    >>> X = block_features_batch(d, grids, **kw)
    >>> ref = np.stack([block_features(x, grids, filtration="sublevel", **kw) for x in d])
    >>> X.shape, bool(np.allclose(X, ref, rtol=1e-12, atol=1e-12))
    ((3, 27), True)
    """
    if filtration not in ("sublevel", "superlevel"):
        raise InputError(f"block_features_batch: filtration={filtration!r} must be 'sublevel' or "
                         "'superlevel'")
    n = len(dgms)
    n_all = np.fromiter((len(d) for d in dgms), dtype=np.int64, count=n)
    parts = [np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in dgms]
    d = np.concatenate(parts, out=scratch("d", (int(n_all.sum()), 2))) if n else np.empty((0, 2))
    kw = dict(quantiles=quantiles, n_betti=int(n_betti), persistence_images=persistence_images,
              pi_resolution=int(pi_resolution), pi_sigma=float(pi_sigma), landscapes=landscapes,
              n_landscape_layers=int(n_landscape_layers), n_landscape=int(n_landscape),
              quantile_samples=quantile_samples, superlevel=filtration == "superlevel",
              fill_value=float(fill_value))
    fn = _with_kernel if _use_kernel() else features_numpy
    X = fn(d, n_all, grids, **kw)
    if area_kpx is not None:
        from shapekit.topology.blocks import _per_area_index

        scale = 1.0 / np.asarray(area_kpx, dtype=np.float64)
        nt = len(grids["thresholds"])
        ns = 7 + nt + 3 * len(quantiles)
        X[:, _per_area_index(nt)] *= scale[:, None]
        nscaled = ns + int(n_betti) + (int(pi_resolution) ** 2 if persistence_images else 0)
        X[:, ns:nscaled] *= scale[:, None]
    return X
