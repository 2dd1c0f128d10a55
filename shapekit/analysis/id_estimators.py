"""Point-cloud estimators of intrinsic dimension: TwoNN, Levina-Bickel MLE and local PCA, with
the nearest-neighbour search they share.

:mod:`shapekit.analysis.intrinsic_dim` combines them (``intrinsic_dimension``: one neighbour
search for all, with notes on estimates out of bounds) and applies them to layer activations; its
docstring gives the references. Duplicate points are removed (exact duplicates after casting to
float64), never jittered.
"""

from __future__ import annotations

import numpy as np
import torch

from shapekit._device import default_device
from shapekit.errors import InputError

__all__ = ["dedup_points", "knn_distances", "knn_neighbours", "twonn", "twonn_from_knn", "mle_id",
           "mle_from_knn", "lpca_id", "local_pca_dims"]


def _as_float64(X: np.ndarray | torch.Tensor) -> np.ndarray:
    arr = X.detach().cpu().double().numpy() if isinstance(X, torch.Tensor) else np.asarray(X, float)
    if arr.ndim != 2:
        arr = arr.reshape(len(arr), -1)
    if not np.all(np.isfinite(arr)):
        raise InputError("points contain NaN or Inf values")
    return arr


def dedup_points(X: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return the distinct rows of ``X`` (float64, first occurrence order), flattening to ``(n, d)``.

    Rows are compared by value (``-0.0`` equals ``0.0``) through a hash of their bytes: linear in
    the size of ``X``, where sorting wide rows (``np.unique(axis=0)``) took seconds for a
    conv layer's activations.

    Examples
    --------
    >>> dedup_points(np.array([[0., 1.], [0., 1.], [2., 3.]])).shape
    (2, 2)
    """
    arr = np.ascontiguousarray(_as_float64(X)) + 0.0  # + 0.0: -0.0 becomes 0.0
    first: dict[bytes, int] = {}
    keep = [first.setdefault(row.tobytes(), i) == i for i, row in enumerate(arr)]
    return arr if all(keep) else arr[np.flatnonzero(keep)]


def knn_distances(X: np.ndarray | torch.Tensor, k: int, *, device: str | None = None,
                  chunk: int = 1024) -> np.ndarray:
    """Euclidean distances from each point to its ``k`` nearest other points, ascending, ``(n, k)``.

    Computed in float64 (matrix-product form, accurate to ~1e-16 relative in float64; exact
    duplicates are removed beforehand by the estimators), in row chunks, on ``device`` (CUDA when
    available).

    Examples
    --------
    >>> knn_distances(np.array([[0.], [1.], [3.]]), 2).tolist()
    [[1.0, 3.0], [1.0, 2.0], [2.0, 3.0]]
    """
    return knn_neighbours(_as_float64(X), k, device, chunk)[0]


def knn_neighbours(arr: np.ndarray, k: int, device: str | None = None,
         chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn_distances` of float64 rows, and the neighbours' row indices ``(n, k)``."""
    n = len(arr)
    if k >= n:
        raise InputError(f"need more than k={k} distinct points, got {n}")
    dev = default_device(device)
    Xt = torch.as_tensor(arr, device=dev)
    dist, idx = np.empty((n, k)), np.empty((n, k), dtype=np.int64)
    for s in range(0, n, chunk):
        d = torch.cdist(Xt[s:s + chunk], Xt, compute_mode="use_mm_for_euclid_dist")
        rows = torch.arange(d.shape[0], device=dev)
        d[rows, rows + s] = float("inf")  # exclude the point itself
        top = torch.topk(d, k, dim=1, largest=False)
        dist[s:s + chunk], idx[s:s + chunk] = top.values.cpu().numpy(), top.indices.cpu().numpy()
    return dist, idx


def twonn(X: np.ndarray | torch.Tensor, *, discard_fraction: float = 0.1,
          device: str | None = None) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017).

    With ``mu_i = r2(x_i) / r1(x_i)`` (ratio of second to first neighbour distance) Pareto-distributed
    under local uniformity, ``d`` is the slope through the origin of ``-log(1 - F(mu))`` against
    ``log(mu)``, using the 1-indexed empirical CDF and dropping the largest ``discard_fraction`` of mu
    (the conventions of scikit-dimension). Duplicates are removed first.

    Parameters
    ----------
    X : array or Tensor, shape (n, ...)
        Points (flattened to rows).
    discard_fraction : float
        Fraction of the largest ratios left out of the fit, in ``[0, 1)``.
    device : str, optional
        Where the neighbour search runs (default CUDA if present).

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(twonn(rng.normal(size=(1000, 3))))
    3
    """
    if not 0 <= discard_fraction < 1:
        raise InputError(f"discard_fraction must be in [0, 1), got {discard_fraction}")
    pts = dedup_points(X)
    if len(pts) < 3:
        raise InputError(f"TwoNN needs at least 3 distinct points, got {len(pts)}")
    return twonn_from_knn(knn_distances(pts, 2, device=device), discard_fraction)


def twonn_from_knn(d: np.ndarray, discard_fraction: float = 0.1) -> float:
    """:func:`twonn` from each point's first two neighbour distances ``d`` ``(n, 2)``, ascending.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(twonn_from_knn(knn_distances(rng.normal(size=(1000, 3)), 2)))
    3
    """
    d = d[d[:, 0] > 0]  # numerically coincident neighbours (distinct only below float64 precision)
    mu = np.sort(d[:, 1] / d[:, 0])
    n = len(mu)
    n_keep = int(n * (1 - discard_fraction))
    if n_keep < 2:
        raise InputError("fewer than 2 points left after discarding; pass more points")
    mu = mu[:n_keep]
    x = np.log(mu)
    y = -np.log(1 - np.arange(1, n_keep + 1) / n)
    return float(np.dot(x, y) / np.dot(x, x))


def mle_id(X: np.ndarray | torch.Tensor, k: int = 20, *, device: str | None = None,
           return_pointwise: bool = False) -> float | tuple[float, np.ndarray]:
    """Levina-Bickel maximum-likelihood intrinsic dimension with ``k`` neighbours.

    Local estimate ``m_k(x) = (k - 1) / sum_{j<k} log(T_k(x) / T_j(x))``; the global value averages
    the *inverses* (MacKay & Ghahramani): ``m = 1 / mean(1 / m_k(x))``. Duplicates are removed first.

    Parameters
    ----------
    X : array or Tensor, shape (n, ...)
    k : int
        Number of neighbours (>= 2).
    device : str, optional
    return_pointwise : bool
        Also return the local estimates.

    Returns
    -------
    float, or (float, ndarray)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(mle_id(rng.normal(size=(1000, 2)), k=10))
    2
    """
    if k < 2:
        raise InputError(f"k must be >= 2, got {k}")
    pts = dedup_points(X)
    return mle_from_knn(knn_distances(pts, k, device=device), k, return_pointwise)


def mle_from_knn(d: np.ndarray, k: int, return_pointwise: bool = False) -> float | tuple[float, np.ndarray]:
    """:func:`mle_id` from each point's neighbour distances ``d`` ``(n, >= k)``, ascending."""
    d = d[:, :k]
    d = d[d[:, 0] > 0]  # numerically coincident neighbours (distinct only below float64 precision)
    logs = np.log(d[:, -1:] / d).sum(axis=1)
    with np.errstate(divide="ignore"):
        local = (k - 1) / logs
    inv = logs / (k - 1)
    glob = float(1.0 / np.mean(inv))
    return (glob, local) if return_pointwise else glob


def lpca_id(X: np.ndarray | torch.Tensor, k: int = 100, *, alpha: float = 0.05,
            device: str | None = None,
            return_pointwise: bool = False) -> float | tuple[float, np.ndarray]:
    """Local PCA intrinsic dimension (Fukunaga-Olsen criterion in each point's neighbourhood).

    For each point, the PCA of its ``k`` nearest neighbours (the point itself excluded); its local
    dimension is the number of covariance eigenvalues above ``alpha`` times the largest (as
    scikit-dimension's ``lPCA(ver="FO").fit_pw``). The global value is the mean of the local ones,
    so points on flats of different dimensions each count their own. ``k`` neighbours show at most
    ``k - 1`` dimensions, and with fewer than about ``2.5 d`` of them the smallest of ``d`` equal
    sample variances often falls below ``alpha`` of the largest: ``k`` should be well above the
    dimension sought. Curvature within a neighbourhood adds dimensions (a Swiss roll reads 2 with
    small ``k``, up to 3 with large). Duplicates are removed first.

    Parameters
    ----------
    X : array or Tensor, shape (n, ...)
    k : int
        Neighbours per point (>= 2; at most ``n - 1`` are used).
    alpha : float
        Eigenvalue threshold relative to the largest, in ``(0, 1)``.
    device : str, optional
    return_pointwise : bool
        Also return the local estimates (one per distinct point).

    Returns
    -------
    float, or (float, ndarray)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lpca_id(rng.normal(size=(500, 4)) @ rng.normal(size=(4, 30)))
    4.0
    """
    if k < 2:
        raise InputError(f"k must be >= 2, got {k}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    pts = dedup_points(X)
    if len(pts) < 3:
        raise InputError(f"local PCA needs at least 3 distinct points, got {len(pts)}")
    kk = min(k, len(pts) - 1)
    local = local_pca_dims(pts, knn_neighbours(pts, kk, device)[1], alpha, device)
    return (float(local.mean()), local) if return_pointwise else float(local.mean())


def local_pca_dims(pts: np.ndarray, nbrs: np.ndarray, alpha: float = 0.05, device: str | None = None,
          chunk_bytes: int = 2 ** 27) -> np.ndarray:
    """Local dimensions of distinct points given their neighbours' indices ``(n, k)``.

    Each neighbourhood's eigenvalues come from the smaller of its ``D x D`` covariance and its
    ``k x k`` centred Gram matrix (the same non-zero spectrum); for wide rows the Gram
    matrices are read off one ``n x n`` Gram matrix of all points, ``n^2 D`` work instead of
    ``n k^2 D``.
    """
    dev = default_device(device)
    n, D = pts.shape
    X = torch.as_tensor(pts - pts.mean(0), device=dev)
    idx = torch.as_tensor(nbrs, device=dev)
    m = idx.shape[1]
    gram = X @ X.T if D > m and n <= 6000 else None
    per = m * m if gram is not None else m * min(D, m) + m * D
    step = max(1, chunk_bytes // (8 * per))
    out = np.empty(n)
    for s in range(0, n, step):
        nb = idx[s:s + step]
        if gram is not None:
            g = gram[nb[:, :, None], nb[:, None, :]]
            g = g - g.mean(1, keepdim=True) - g.mean(2, keepdim=True) + g.mean((1, 2), keepdim=True)
        else:
            c = X[nb]
            c = c - c.mean(1, keepdim=True)
            g = c.transpose(1, 2) @ c if D <= m else c @ c.transpose(1, 2)
        ev = torch.linalg.eigvalsh(g)  # ascending
        top = ev[:, -1:]
        out[s:s + step] = ((ev > alpha * top) & (top > 0)).sum(1).cpu().numpy()
    return out
