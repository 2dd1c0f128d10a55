"""Vectorisations of persistence diagrams, many diagrams at once, in one compiled pass.

Functions of a *list* of diagrams (``(n_i, 2)`` arrays of ``(birth, death)`` rows, all of one
filtration, see :mod:`shapekit.topology.persistence`); each returns one row per diagram:

* :func:`persistence_statistics`: pair counts, counts above persistence thresholds, total,
  squared, max and mean persistence, persistence entropy [3]_ and quantiles of lifetime, birth
  and death (columns named by :func:`statistic_names`);
* :func:`betti_curves`: Betti numbers on a uniform grid [4]_;
* :func:`persistence_images` [1]_ (linear weight, binned Gaussians);
* :func:`persistence_landscapes` [2]_.

All of them are one implementation: the diagrams are concatenated with an offset per image and
:func:`shapekit.topology._kernels.block_kernel` (numba, GIL released) computes every requested
vectorisation in one pass over the pairs.  Essential (infinite) bars enter ``n_essential`` and
the Betti curves (alive from birth to the end of the grid, so Betti numbers are exact) and are
left out of everything else.  Persistence (lifetime) is ``|death - birth|``.

References
----------
.. [1] H. Adams et al., "Persistence images: a stable vector representation of persistent
   homology", JMLR 18(8), 2017.
.. [2] P. Bubenik, "Statistical topological data analysis using persistence landscapes",
   JMLR 16, 2015.
.. [3] H. Chintakunta, T. Gentimis, R. Gonzalez-Diaz, M.-J. Jimenez, H. Krim, "An entropy-based
   persistence barcode", Pattern Recognition 48(2), 2015.
.. [4] Y. Umeda, "Time series classification via topological data analysis", Trans. JSAI 32(3),
   2017 (Betti curves).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from shapekit.errors import InputError
from shapekit.topology._scratch import scratch
from shapekit.topology.diagrams import FILTRATIONS

__all__ = ["THRESHOLDS", "QUANTILES", "EXTENSIVE", "statistic_names", "persistence_statistics",
           "betti_curves", "persistence_images", "persistence_landscapes", "grid"]

#: default persistence thresholds (z units of a standardised image) and quantiles
THRESHOLDS = (0.1, 0.25, 0.5, 1.0, 2.0)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: statistics that grow with the image area (per-area densities, log1p)
EXTENSIVE = ("n_pairs", "count_above", "total_persistence", "total_persistence_sq")


def statistic_names(thresholds: Sequence[float] = THRESHOLDS,
                    quantiles: Sequence[float] = QUANTILES) -> list[str]:
    """Columns of :func:`persistence_statistics`, in order.

    Examples
    --------
    >>> statistic_names((0.5,), (0.5,))  # doctest: +NORMALIZE_WHITESPACE
    ['n_pairs', 'n_essential', 'count_above_0', 'total_persistence', 'total_persistence_sq',
     'max_persistence', 'mean_persistence', 'persistence_entropy', 'lifetime_q50', 'birth_q50',
     'death_q50']
    """
    names = ["n_pairs", "n_essential", *(f"count_above_{j}" for j in range(len(thresholds))),
             "total_persistence", "total_persistence_sq", "max_persistence", "mean_persistence",
             "persistence_entropy"]
    for what in ("lifetime", "birth", "death"):
        names += [f"{what}_q{int(round(q * 100)):02d}" for q in quantiles]
    return names


def extensive_columns(n_thresholds: int) -> np.ndarray:
    """Positions of the :data:`EXTENSIVE` statistics among :func:`statistic_names` columns.

    Examples
    --------
    >>> extensive_columns(2).tolist()
    [0, 2, 3, 4, 5]
    """
    return np.array([0, *range(2, 2 + n_thresholds), 2 + n_thresholds, 3 + n_thresholds])


@functools.lru_cache(maxsize=256)
def grid(lo: float, hi: float, n: int) -> np.ndarray:
    """``np.linspace(lo, hi, n)``, cached and read-only (the grids of the vectorisers).

    Examples
    --------
    >>> grid(0.0, 1.0, 3).tolist()
    [0.0, 0.5, 1.0]
    """
    g = np.linspace(lo, hi, n)
    g.flags.writeable = False
    return g


_NO_GRID = grid(0.0, 0.0, 0)   # read-only too, or numba compiles one more specialisation


@functools.lru_cache(maxsize=256)
def _pixel_kernel(lo: float, hi: float, n: int, step: float, pad: int, total: int,
                  sigma: float) -> np.ndarray:
    """``K[i, u]``: mass in pixel ``i`` of a unit Gaussian centred on fine bin ``u`` (read-only)."""
    centres = lo + (np.arange(total) - pad + 0.5) * step
    edges = np.linspace(lo, hi, n + 1)
    k = np.diff(ndtr((edges[:, None] - centres[None, :]) / sigma), axis=0)
    k.flags.writeable = False
    return k


def _range(name: str, r: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise InputError(f"{name}={r!r} must be a (low, high) pair of numbers") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise InputError(f"{name}={r!r} must be finite with high > low")
    return lo, hi


def _run(dgms: Sequence[np.ndarray], filtration: str = "sublevel", *,
         thresholds: Sequence[float] = (), quantiles: Sequence[float] = (),
         quantile_samples: int | None = None, fill_value: float = 0.0,
         betti: tuple[float, float, int] | None = None,
         image: tuple[tuple[float, float], tuple[float, float], int, float] | None = None,
         landscape: tuple[float, float, int, int] | None = None) -> dict[str, np.ndarray]:
    """One pass of the compiled kernel over all diagrams; the requested parts, one row each."""
    from shapekit.topology._kernels import block_kernel

    if filtration not in FILTRATIONS:
        raise InputError(f"filtration={filtration!r} must be one of {FILTRATIONS}")
    n = len(dgms)
    parts = [np.asarray(x, dtype=np.float64).reshape(-1, 2) for x in dgms]
    n_all = np.fromiter((len(p) for p in parts), dtype=np.int64, count=n)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_all, out=off[1:])
    d = np.concatenate(parts, out=scratch("d", (int(off[-1]), 2))) if n else np.empty((0, 2))
    thr_in = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    order = np.argsort(thr_in, kind="stable")
    thr = np.ascontiguousarray(thr_in[order])
    nt, nq = len(thr), len(quantiles)
    gb = grid(float(betti[0]), float(betti[1]), int(betti[2])) if betti else _NO_GRID
    gl = grid(float(landscape[0]), float(landscape[1]), int(landscape[2])) if landscape else _NO_GRID
    k = int(landscape[3]) if landscape else 1
    if image:
        (b0, b1), (p0, p1), res, sigma = image
        sb, sp = sigma * (b1 - b0) / res, sigma * (p1 - p0) / res
        nb = res * 2                                   # binned on a grid twice as fine
        db, dp = (b1 - b0) / nb, (p1 - p0) / nb
        padb, padp = int(np.ceil(4 * sb / db)), int(np.ceil(4 * sp / dp))
        geom = np.array([b0, db, p0, dp, p1])
        pad = np.array([padb, nb + 2 * padb, padp, nb + 2 * padp], dtype=np.int64)
    else:
        geom, pad = np.zeros(5), np.zeros(4, dtype=np.int64)
    summ = np.zeros((n, 7 + nt))
    betti_out = np.zeros((n, len(gb)))
    hist = scratch("h", (n, int(pad[1]), int(pad[3])))
    hist.fill(0.0)
    land = np.zeros((n, k, len(gl)))
    lbuf = scratch("l", (len(d),))
    qout = np.full((n, 3 * nq), float(fill_value))
    if not block_kernel(d, off, filtration == "superlevel", thr, gb, gl, k, image is not None, geom,
                        pad, int(quantile_samples or 0), float(fill_value), summ, betti_out, hist,
                        land, np.asarray(quantiles, dtype=np.float64).reshape(-1), qout, lbuf):
        raise InputError("persistence diagram contains NaN")
    if nt and (order != np.arange(nt)).any():   # counts back in the requested threshold order
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
    out = {"statistics": np.concatenate([summ, qout], axis=1), "betti": betti_out,
           "landscape": land.reshape(n, -1)}
    if image:
        kb = _pixel_kernel(b0, b1, res, db, padb, int(pad[1]), sb)
        kp = _pixel_kernel(p0, p1, res, dp, padp, int(pad[3]), sp)
        out["image"] = np.matmul(np.matmul(kb, hist), kp.T).reshape(n, res * res)
    return out


def persistence_statistics(dgms: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS,
                           quantiles: Sequence[float] = QUANTILES, *,
                           quantile_samples: int | None = None,
                           fill_value: float = 0.0) -> np.ndarray:
    """Scalar statistics of each diagram, columns :func:`statistic_names`.

    Parameters
    ----------
    dgms : sequence of ndarray (n_i, 2)
        Either orientation (sublevel or superlevel): the statistics use lifetimes only.
    thresholds : sequence of float
        ``count_above_j``: finite pairs with persistence ``> thresholds[j]``.
    quantiles : sequence of float in [0, 1]
        Quantiles (linear interpolation, as ``np.quantile``) of lifetime, birth and death.
    quantile_samples : int or None
        None: exact quantiles.  ``m``: quantiles of the systematic subsample ``x[::ceil(n/m)]``
        of a diagram with more than ``m`` finite pairs (selection dominates the cost on 10^4+
        pairs; rank error ~ 1/sqrt(m)).  Every other column stays exact.
    fill_value : float
        Quantiles and mean of a diagram without finite pair (a constant image).

    Returns
    -------
    ndarray (len(dgms), 7 + len(thresholds) + 3 * len(quantiles))
        ``n_pairs`` (finite), ``n_essential``, ``count_above_j``, ``total_persistence``,
        ``total_persistence_sq``, ``max_persistence``, ``mean_persistence``,
        ``persistence_entropy`` (``-sum p log p``, ``p = l / sum l``; 0 when empty) and the
        quantiles.

    Examples
    --------
    >>> X = persistence_statistics([[[0.0, 1.0], [0.5, 0.75], [0.0, np.inf]], np.empty((0, 2))],
    ...                            thresholds=(0.5,), quantiles=(0.5,))
    >>> X[0, :4].tolist(), round(float(X[0, 7]), 4), X[1, :2].tolist()
    ([2.0, 1.0, 1.0, 1.25], 0.5004, [0.0, 0.0])
    """
    qs = np.asarray(quantiles, dtype=np.float64).reshape(-1)
    if np.any((qs < 0) | (qs > 1)):
        raise InputError(f"quantiles={quantiles!r} must lie in [0, 1]")
    return _run(dgms, thresholds=thresholds, quantiles=qs, quantile_samples=quantile_samples,
                fill_value=fill_value)["statistics"]


def betti_curves(dgms: Sequence[np.ndarray], filtration: str, value_range: Sequence[float],
                 n_points: int) -> np.ndarray:
    """Betti numbers of each diagram at ``n_points`` uniform values of ``value_range``.

    Sublevel: a bar ``(b, d)`` is alive at ``t`` iff ``b <= t < d``; superlevel (``b >= d``):
    iff ``d < t <= b``.  Essential bars stay alive to the end of the grid.

    Examples
    --------
    >>> betti_curves([[[0.0, 2.0], [1.0, np.inf]]], "sublevel", (0.0, 3.0), 4)
    array([[1., 2., 1., 1.]])
    >>> betti_curves([[[2.0, 0.0], [3.0, -np.inf]]], "superlevel", (0.0, 3.0), 4)
    array([[1., 2., 2., 1.]])
    """
    lo, hi = _range("value_range", value_range)
    if int(n_points) < 1:
        raise InputError(f"n_points={n_points!r} must be >= 1")
    return _run(dgms, filtration, betti=(lo, hi, int(n_points)))["betti"]


def persistence_images(dgms: Sequence[np.ndarray], birth_range: Sequence[float],
                       pers_range: Sequence[float], resolution: int = 8,
                       sigma: float = 1.0) -> np.ndarray:
    """Persistence images of the finite pairs, ``resolution^2`` pixels per diagram, flattened.

    Each pair is a Gaussian at ``(birth, |death - birth|)`` of standard deviation ``sigma``
    pixels, weighted by ``min(persistence / pers_range[1], 1)`` (Adams et al. [1]_); a pixel holds
    the Gaussian mass inside it.  Pairs are first binned on a grid twice as fine (relative L1
    error ~3e-3 against exact integration), so points outside the grid still contribute their
    tails.  Row ``i``, entry ``a * resolution + b``: birth bin ``a``, persistence bin ``b``.

    Examples
    --------
    >>> P = persistence_images([[[0.2, 0.7], [0.5, 0.6]]], (0, 1), (0, 1), resolution=5, sigma=0.5)
    >>> P.shape, round(float(P.sum()), 2)     # weights 0.5 + 0.1, slightly cut at the edges
    ((1, 25), 0.57)
    """
    b = _range("birth_range", birth_range)
    p = _range("pers_range", pers_range)
    if int(resolution) < 1 or not float(sigma) > 0:
        raise InputError(f"resolution={resolution!r} must be >= 1 and sigma={sigma!r} > 0")
    return _run(dgms, image=(b, p, int(resolution), float(sigma)))["image"]


def persistence_landscapes(dgms: Sequence[np.ndarray], value_range: Sequence[float],
                           n_points: int = 16, n_layers: int = 3) -> np.ndarray:
    """Landscapes ``lambda_k(t)``, k = 1..n_layers, of the finite pairs on a uniform grid.

    ``lambda_k(t)`` is the k-th largest of ``max(0, min(t - lo, hi - t))`` over pairs with
    ``lo, hi = min(b, d), max(b, d)`` (Bubenik [2]_); ties are kept.  Row layout: layer-major
    (``n_layers`` blocks of ``n_points``).

    Examples
    --------
    >>> persistence_landscapes([[[0.0, 2.0], [1.0, 3.0]]], (0.5, 2.0), 4, 2)
    array([[0.5, 1. , 0.5, 1. , 0. , 0. , 0.5, 0. ]])
    """
    lo, hi = _range("value_range", value_range)
    if int(n_points) < 1 or int(n_layers) < 1:
        raise InputError(f"n_points={n_points!r} and n_layers={n_layers!r} must be >= 1")
    return _run(dgms, landscape=(lo, hi, int(n_points), int(n_layers)))["landscape"]
