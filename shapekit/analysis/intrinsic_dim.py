"""Intrinsic dimension of point clouds and of layer activations: TwoNN, Levina-Bickel MLE, local PCA.

Kvinge, Brown & Godfrey (2023) track the intrinsic dimension (ID) of a generative model's internal
representations per layer and per prompt; this module gives the estimators (on ndarrays or tensors,
CUDA when available) and :func:`layer_intrinsic_dimension`, which applies them to the activations of
named layers of any ``torch.nn.Module``.

Duplicate points make nearest-neighbour distances zero and the estimators undefined; they are
*removed* (exact duplicates after casting to float64), never jittered.

``n`` distinct points span at most ``n - 1`` dimensions: a TwoNN or MLE estimate above that is an
artefact of too few points and :func:`intrinsic_dimension` reports it as NaN, with a note giving
the value. An estimate above the ambient dimension ``D`` (but within ``n - 1``) is kept with a
note: the points fill their space, and the value is estimator noise around ``D``.

References
----------
.. [1] E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of datasets
   by a minimal neighborhood information", Sci. Rep. 7:12140 (2017).
.. [2] E. Levina, P. Bickel, "Maximum likelihood estimation of intrinsic dimension", NeurIPS (2005);
   D. MacKay, Z. Ghahramani, comment on it (2005) for the averaging of inverses.
.. [3] K. Fukunaga, D. Olsen, "An algorithm for finding intrinsic dimensionality of data",
   IEEE Trans. Computers C-20 (1971).
.. [4] H. Kvinge, D. Brown, C. Godfrey, "Exploring the representation manifolds of stable diffusion
   through the lens of intrinsic dimension", arXiv:2302.09301 (2023).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from shapekit._device import default_device
from shapekit._progress import progress
from shapekit.analysis._hooks import collect_activations
from shapekit.errors import InputError

__all__ = ["dedup_points", "knn_distances", "twonn", "mle_id", "lpca_id", "intrinsic_dimension",
           "layer_intrinsic_dimension", "ID_METHODS"]

ID_METHODS = ("twonn", "mle", "lpca")


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
    return _knn(_as_float64(X), k, device, chunk)[0]


def _knn(arr: np.ndarray, k: int, device: str | None = None,
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
    return _twonn_from_knn(knn_distances(pts, 2, device=device), discard_fraction)


def _twonn_from_knn(d: np.ndarray, discard_fraction: float = 0.1) -> float:
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
    return _mle_from_knn(knn_distances(pts, k, device=device), k, return_pointwise)


def _mle_from_knn(d: np.ndarray, k: int, return_pointwise: bool = False) -> float | tuple[float, np.ndarray]:
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
    local = _lpca(pts, _knn(pts, kk, device)[1], alpha, device)
    return (float(local.mean()), local) if return_pointwise else float(local.mean())


def _lpca(pts: np.ndarray, nbrs: np.ndarray, alpha: float = 0.05, device: str | None = None,
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


def intrinsic_dimension(X: np.ndarray | torch.Tensor, methods: Sequence[str] = ID_METHODS, *,
                        k: int = 20, k_lpca: int = 100, device: str | None = None,
                        notes: list[str] | None = None) -> dict[str, float]:
    """All requested estimates of one point cloud, plus the number of distinct points used.

    Parameters
    ----------
    X : array or Tensor, shape (n, ...)
    methods : sequence of {"twonn", "mle", "lpca"}
    k : int
        Neighbours of the MLE; at most ``n_points - 1`` are used (reported as ``"k"``).
    k_lpca : int
        Neighbours of each point's local PCA (see :func:`lpca_id`); at most ``n_points - 1`` are
        used (reported as ``"k_lpca"``).
    device : str, optional
    notes : list of str, optional
        Receives the notes on estimates out of bounds (see the module docstring); without it, an
        estimate set to NaN is a :class:`UserWarning`.

    Returns
    -------
    dict of str to float
        ``n_points``, one value per method (NaN above ``n_points - 1``) and, with ``mle``, the
        ``k`` used; with ``lpca``, the ``k_lpca`` used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = intrinsic_dimension(rng.normal(size=(800, 2)) @ rng.normal(size=(2, 10)))
    >>> sorted(r), r["lpca"], r["k"], r["k_lpca"]
    (['k', 'k_lpca', 'lpca', 'mle', 'n_points', 'twonn'], 2.0, 20.0, 100.0)
    """
    unknown = [m for m in methods if m not in ID_METHODS]
    if unknown:
        raise InputError(f"unknown ID method(s) {unknown}; choose from {list(ID_METHODS)}")
    if "mle" in methods and k < 2:
        raise InputError(f"k must be >= 2, got {k}")
    if "lpca" in methods and k_lpca < 2:
        raise InputError(f"k_lpca must be >= 2, got {k_lpca}")
    pts = dedup_points(X)
    out: dict[str, float] = {"n_points": float(len(pts))}
    if len(pts) < 3:
        raise InputError(f"intrinsic dimension needs at least 3 distinct points, got {len(pts)}")
    kk, kl = min(k, len(pts) - 1), min(k_lpca, len(pts) - 1)
    need = max(max(kk, 2) if {"twonn", "mle"} & set(methods) else 2, kl if "lpca" in methods else 2)
    dist, idx = _knn(pts, need, device)  # one neighbour search for all the estimators
    for m in methods:
        if m == "twonn":
            out[m] = _twonn_from_knn(dist[:, :2])
        elif m == "mle":
            out[m] = float(_mle_from_knn(dist, kk))
            out["k"] = float(kk)
        else:
            out[m] = float(_lpca(pts, idx[:, :kl], device=device).mean())
            out["k_lpca"] = float(kl)
    found = _out_of_bounds(out, pts.shape[1])
    if notes is None:
        for note in found:
            if note.endswith("set to NaN"):
                warnings.warn(note, stacklevel=2)
    else:
        notes.extend(found)
    return out


def _out_of_bounds(est: dict[str, float], ambient: int) -> list[str]:
    """Set TwoNN/MLE estimates above ``n_points - 1`` to NaN; notes on those, on any above the
    ambient dimension and on a local PCA from fewer than 2.5 neighbours per dimension it reads.
    """
    n = int(est["n_points"])
    notes = []
    for m in ("twonn", "mle"):
        v = est.get(m)
        if v is None or not np.isfinite(v):
            continue
        if v > n - 1:
            est[m] = float("nan")
            notes.append(f"{m} {v:.1f} > {n - 1} = n_points - 1: too few points for this "
                         f"dimension, set to NaN")
        elif v > ambient:
            notes.append(f"{m} {v:.2f} > {ambient} = ambient dimension: the points fill their "
                         f"space (about {ambient})")
    if "lpca" in est and est["k_lpca"] < 2.5 * est["lpca"]:
        notes.append(f"lpca {est['lpca']:.1f} from {int(est['k_lpca'])} neighbours: under about 2.5 "
                     f"per dimension local PCA reads low (more points or a larger k_lpca)")
    return notes


def layer_intrinsic_dimension(model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor],
                              layers: Sequence[str] | None = None, *,
                              groups: Sequence[object] | np.ndarray | None = None,
                              methods: Sequence[str] = ID_METHODS, k: int = 20, k_lpca: int = 100,
                              batch_size: int = 64, device: str | None = None,
                              include_input: bool = True) -> list[dict[str, object]]:
    """Intrinsic dimension of each named layer's activations, optionally per group (condition/class).

    A progress bar per layer shows on an interactive stderr (``SHAPEKIT_PROGRESS=0`` hides it).

    Parameters
    ----------
    model : nn.Module
    inputs : Tensor (N, ...) or iterable of batches
    layers : sequence of str, optional
        Names from ``model.named_modules()`` (default: every leaf module).
    groups : sequence of length N, optional
        A label per input (class, temper, GAN condition); ID is estimated per group and for ``"all"``.
    methods, k, k_lpca : see :func:`intrinsic_dimension`
    batch_size, device : passed to :func:`~shapekit.analysis._hooks.collect_activations`
    include_input : bool
        Also report the ID of the inputs themselves (layer name ``"input"``).

    Returns
    -------
    list of dict
        One row per (layer, group): ``layer``, ``group``, ``n_points``, one key per method, the
        ``k`` used by the MLE and the ``k_lpca`` of local PCA (each at most ``n_points - 1``)
        and, where an estimate is out of bounds,
        a ``note`` (see :func:`intrinsic_dimension`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 32))
    >>> rows = layer_intrinsic_dimension(net, torch.randn(400, 3), ["1", "2"], methods=["lpca"])
    >>> [(r["layer"], r["lpca"]) for r in rows]
    [('input', 3.0), ('1', 3.0), ('2', 3.0)]
    """
    if include_input and not isinstance(inputs, torch.Tensor):
        # a generator (or a shuffling DataLoader) gives no (or other) batches a second time
        inputs = [b[0] if isinstance(b, (tuple, list)) else b for b in inputs]
    acts = collect_activations(model, inputs, layers, batch_size=batch_size, device=device)
    if include_input:
        x = inputs if isinstance(inputs, torch.Tensor) else torch.cat(inputs)
        acts = {"input": x.flatten(1).float().cpu(), **acts}
    n = len(next(iter(acts.values())))
    labels = np.array(["all"] * n, dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if len(labels) != n:
        raise InputError(f"groups has {len(labels)} labels for {n} inputs")
    group_names = ["all"] if groups is None else ["all", *sorted({str(g) for g in labels})]
    rows: list[dict[str, object]] = []
    for name, a in progress(acts.items(), desc="intrinsic dimension", total=len(acts), unit="layer"):
        for g in group_names:
            sel = np.ones(n, bool) if g == "all" else np.array([str(v) == g for v in labels])
            notes: list[str] = []
            try:
                est = intrinsic_dimension(a[torch.as_tensor(sel)], methods, k=k, k_lpca=k_lpca,
                                          device=device, notes=notes)
            except InputError as e:
                raise InputError(f"layer {name!r}, group {g!r}: {e}") from None
            rows.append({"layer": name, "group": g, **est, **({"note": "; ".join(notes)}
                                                               if notes else {})})
    return rows
