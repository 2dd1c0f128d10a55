"""Functional core of :class:`~shapekit.topology.TopTempFeaturizer`: one image -> blocks -> vector.

A *block* is one (scale, filtration, homology dimension) triple, named like ``sub_H1`` (scale 1)
or ``s2_sup_H0`` (scale 2).  Per image: :func:`preprocess` (smooth, normalise, downsample),
:func:`image_diagrams` (one diagram per block), :func:`block_fit_stats` (what ``fit`` needs to
place grids), :func:`combine_fit_stats` (grids from many images) and :func:`block_features`.

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   precipitate structure from temper topology", arXiv:2204.00629, 2022.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from shapekit.errors import InputError
from shapekit.topology._scratch import is_scratch, scratch
from shapekit.topology.batch_numpy import _grid
from shapekit.topology.persistence import _finish, _gudhi_top_cells, cubical_persistence
from shapekit.topology.vectorize import (
    betti_curve,
    finite_pairs,
    persistence_image,
    persistence_landscape,
    quantiles_linear,
    summary_names,
    summary_vector,
)

__all__ = ["block_name", "preprocess", "image_diagrams", "block_fit_stats", "combine_fit_stats",
           "block_features", "block_feature_names"]

_FILT = {"sublevel": "sub", "superlevel": "sup"}
# fit statistics per image and block: value lo/hi, birth lo/hi, lifetime hi, then lifetime quantiles
_N_FIXED_STATS = 5
_PER_AREA = ("n_pairs", "total_persistence", "total_persistence_sq")


def block_name(scale: int, filtration: str, dim: int) -> str:
    """``sub_H0`` at scale 1, ``s2_sup_H1`` at scale 2, ...

    Examples
    --------
    >>> block_name(1, "sublevel", 1), block_name(4, "superlevel", 0)
    ('sub_H1', 's4_sup_H0')
    """
    prefix = "" if int(scale) == 1 else f"s{int(scale)}_"
    return f"{prefix}{_FILT[filtration]}_H{int(dim)}"


def preprocess(image: np.ndarray, scales: Sequence[int], normalize: str = "zscore",
               smooth_sigma: float = 0.0) -> list[np.ndarray]:
    """Smooth (Gaussian, pixels), normalise, then downsample by each scale (block means).

    ``normalize``: ``"zscore"`` (per image, at scale 1: contrast/brightness invariant; a
    constant image becomes zeros), ``"minmax"`` (to [0, 1]) or ``"none"``.  Downsampling by an
    integer factor uses area averaging (``cv2.INTER_AREA``), an anti-aliasing box filter; each side
    keeps at least one pixel.  Everything is float32.

    Examples
    --------
    >>> out = preprocess(np.arange(16.0).reshape(4, 4), scales=(1, 2))
    >>> [o.shape for o in out], round(float(out[0].mean()), 6), round(float(out[0].std()), 4)
    ([(4, 4), (2, 2)], 0.0, 1.0)
    """
    return [o.copy() if is_scratch(o) else o
            for o in _preprocess(image, scales, normalize, smooth_sigma)]


def _preprocess(image: np.ndarray, scales: Sequence[int], normalize: str,
                smooth_sigma: float) -> list[np.ndarray]:
    """:func:`preprocess` whose scale-1 output may be this thread's scratch array."""
    img = np.asarray(image, dtype=np.float32)
    if smooth_sigma and smooth_sigma > 0:
        img = gaussian_filter(img, float(smooth_sigma), mode="reflect",
                              output=scratch("pre_smooth", img.shape, np.float32))
    if normalize == "zscore":
        mean, sd = _mean_std32(img)      # NaN/inf pixels make sd non-finite
        if not np.isfinite(sd):
            _check_finite(img)
        if sd > 0:
            buf = scratch("pre_norm", img.shape, np.float32)
            np.subtract(img, mean, out=buf)
            img = np.divide(buf, sd, out=buf)
        else:
            img = np.zeros_like(img)
    elif normalize == "minmax":
        lo, hi = float(img.min()), float(img.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            _check_finite(img)
        if hi > lo:
            buf = scratch("pre_norm", img.shape, np.float32)
            np.subtract(img, lo, out=buf)
            img = np.divide(buf, hi - lo, out=buf)
        else:
            img = np.zeros_like(img)
    else:
        _check_finite(img)
    img = np.ascontiguousarray(img, dtype=np.float32)
    out = []
    h, w = img.shape
    for s in scales:
        s = int(s)
        if s == 1:
            out.append(img)
            continue
        size = (max(1, w // s), max(1, h // s))
        out.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    return out


def _check_finite(img: np.ndarray) -> None:
    if not np.isfinite(img).all():
        raise InputError(f"image of shape {img.shape} contains NaN or infinite pixels")


def _mean_std32(img: np.ndarray) -> tuple[float, float]:
    """``(img.mean(), img.std())`` of a float32 image, computed as numpy does (same reductions,
    same float32 rounding) but sharing the sum and using a reused scratch array."""
    n = img.size
    mean = np.add.reduce(img, axis=None, keepdims=True)
    np.true_divide(mean, n, out=mean, casting="unsafe")
    x = np.subtract(img, mean, out=scratch("pre_var", img.shape, np.float32))
    np.multiply(x, x, out=x)
    var = np.add.reduce(x, axis=None)
    return float(mean.reshape(())), float(np.sqrt(var.dtype.type(var / n)))


def image_diagrams(image: np.ndarray, *, scales: Sequence[int], filtrations: Sequence[str],
                   dims: Sequence[int], normalize: str, smooth_sigma: float,
                   min_persistence: float, construction: str = "T", backend: str = "gudhi"
                   ) -> dict[str, np.ndarray]:
    """Diagrams of every block of one image (``{block_name: (n, 2) array}``).

    Examples
    --------
    >>> d = image_diagrams(np.eye(8), scales=(1, 2), filtrations=("sublevel",), dims=(0, 1),
    ...                    normalize="none", smooth_sigma=0, min_persistence=0)
    >>> sorted(d)
    ['s2_sub_H0', 's2_sub_H1', 'sub_H0', 'sub_H1']
    """
    out: dict[str, np.ndarray] = {}
    fast = backend == "gudhi" and construction == "T"
    mp = float(min_persistence)
    for s, img in zip(scales, _preprocess(image, scales, normalize, smooth_sigma)):
        for f in filtrations:
            if fast:   # preprocess output is finite contiguous float32: skip re-validation
                sup = f == "superlevel"
                work = (np.negative(img, out=scratch(f"neg_s{s}", img.shape, np.float32))
                        if sup else img)
                dg = _finish(_gudhi_top_cells(work, mp), tuple(dims), sup, "keep", np.inf)
            else:
                dg = cubical_persistence(img, f, dims=dims, backend=backend,
                                         construction=construction, min_persistence=mp)
            for k in dims:
                out[block_name(s, f, k)] = dg[k]
    return out


def block_fit_stats(dgm: np.ndarray, threshold_quantiles: Sequence[float]) -> np.ndarray:
    """Per-image statistics ``fit`` pools: value and birth 0.5/99.5 % quantiles, lifetime 99.5 %,
    lifetime quantiles at ``threshold_quantiles`` (NaN when the block has no finite pair).

    Examples
    --------
    >>> block_fit_stats(np.array([[0.0, 1.0], [0.0, np.inf]]), (0.5,)).tolist()
    [0.005, 0.995, 0.0, 0.0, 1.0, 1.0]
    """
    d = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    f = d[np.isfinite(d[:, 0]) & np.isfinite(d[:, 1])]
    out = np.full(_N_FIXED_STATS + len(threshold_quantiles), np.nan)
    if not len(f):
        return out
    life = np.abs(f[:, 1] - f[:, 0])
    out[0:2] = quantiles_linear(f.ravel(), [0.005, 0.995])
    out[2:4] = quantiles_linear(f[:, 0], [0.005, 0.995])
    out[4:] = quantiles_linear(life, [0.995, *threshold_quantiles])
    return out


def _widen(lo: float, hi: float, default: tuple[float, float]) -> tuple[float, float]:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return default
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def combine_fit_stats(stats: np.ndarray) -> dict[str, object]:
    """Grids of one block from the ``(n_images, n_stats)`` stacked :func:`block_fit_stats`.

    Ranges take the extremes over images; count thresholds the median of per-image quantiles.
    A block without any finite pair (e.g. constant images) gets default ranges and zero
    thresholds, so its features are defined (and constant).

    Examples
    --------
    >>> s = np.array([[0, 1, 0, 0.5, 1, 0.25], [-1, 2, 0, 1, 3, 0.75]], float)
    >>> g = combine_fit_stats(s)
    >>> g["value_range"], g["birth_range"], g["pers_range"], g["thresholds"]
    ((-1.0, 2.0), (0.0, 1.0), (0.0, 3.0), [0.5])
    """
    st = np.asarray(stats, dtype=np.float64)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(st[:, [0, 2]], axis=0) if len(st) else np.full(2, np.nan)
            hi = np.nanmax(st[:, [1, 3, 4]], axis=0) if len(st) else np.full(3, np.nan)
            thr = np.nanmedian(st[:, _N_FIXED_STATS:], axis=0) if len(st) else \
                np.full(st.shape[1] - _N_FIXED_STATS, np.nan)
    p_hi = hi[2] if np.isfinite(hi[2]) and hi[2] > 0 else 1.0
    return {
        "value_range": _widen(lo[0], hi[0], (-1.0, 1.0)),
        "birth_range": _widen(lo[1], hi[1], (-1.0, 1.0)),
        "pers_range": (0.0, float(p_hi)),
        "thresholds": [float(t) if np.isfinite(t) else 0.0 for t in thr],
    }


def block_feature_names(block: str, n_thresholds: int, quantiles: Sequence[float], n_betti: int,
                        pi_resolution: int, n_landscape_layers: int, n_landscape: int,
                        persistence_images: bool, landscapes: bool) -> list[str]:
    """Feature names of one block, in :func:`block_features` order.

    Examples
    --------
    >>> block_feature_names("s2_sup_H0", 1, (0.5,), 2, 2, 1, 2, True, False)[-6:]
    ['s2_sup_H0_betti_00', 's2_sup_H0_betti_01', 's2_sup_H0_pi_00_00', 's2_sup_H0_pi_00_01', \
's2_sup_H0_pi_01_00', 's2_sup_H0_pi_01_01']
    """
    names = [f"{block}_{n}" for n in summary_names(range(n_thresholds), quantiles)]
    names += [f"{block}_betti_{i:02d}" for i in range(n_betti)]
    if persistence_images:
        names += [f"{block}_pi_{i:02d}_{j:02d}" for i in range(pi_resolution)
                  for j in range(pi_resolution)]
    if landscapes:
        names += [f"{block}_land{k}_{i:02d}" for k in range(1, n_landscape_layers + 1)
                  for i in range(n_landscape)]
    return names


@functools.lru_cache(maxsize=64)
def _per_area_index(n_thresholds: int) -> np.ndarray:
    """Positions in the summary vector of counts and total persistence (scaled per area)."""
    names = summary_names(range(n_thresholds), ())
    return np.array([i for i, n in enumerate(names)
                     if n in _PER_AREA or n.startswith("count_above_")])


def block_features(dgm: np.ndarray, grids: dict[str, object], *, quantiles: Sequence[float],
                   n_betti: int, persistence_images: bool, pi_resolution: int, pi_sigma: float,
                   landscapes: bool, n_landscape_layers: int, n_landscape: int,
                   area_kpx: float | None, quantile_samples: int | None = None,
                   filtration: str = "auto") -> np.ndarray:
    """Feature vector of one block given its fitted ``grids`` (see :func:`combine_fit_stats`).

    ``area_kpx`` (input image area in kilopixels) turns counts, total persistence, Betti numbers
    and persistence-image mass into densities per 1000 input pixels; None keeps raw counts.
    ``quantile_samples`` caps the pairs the quantiles are taken from (see
    :func:`~shapekit.topology.diagram_summaries`); ``filtration`` is passed to the Betti curve
    (``"auto"`` reads it from the rows).

    Examples
    --------
    >>> grids = combine_fit_stats(np.array([[0.0, 1.0, 0.0, 1.0, 1.0, 0.5]]))
    >>> v = block_features(np.array([[0.0, 1.0], [0.2, 0.3]]), grids, quantiles=(0.5,),
    ...                    n_betti=3, persistence_images=True, pi_resolution=2, pi_sigma=1.0,
    ...                    landscapes=False, n_landscape_layers=1, n_landscape=2, area_kpx=None)
    >>> len(v) == len(block_feature_names("sub_H0", 1, (0.5,), 3, 2, 1, 2, True, False))
    True
    >>> v[:3].tolist()                                # n_pairs, n_essential, count_above_0
    [2.0, 0.0, 1.0]
    """
    summ = summary_vector(dgm, grids["thresholds"], quantiles,
                          max_quantile_samples=quantile_samples)
    scale = 1.0 / area_kpx if area_kpx else 1.0
    if scale != 1.0:
        summ[_per_area_index(len(grids["thresholds"]))] *= scale
    parts = [summ]
    fin = finite_pairs(dgm)  # once for the vectorisers that ignore essential bars
    v0, v1 = grids["value_range"]
    if n_betti:
        parts.append(betti_curve(dgm, _grid(v0, v1, n_betti), filtration=filtration) * scale)
    if persistence_images:
        b0, b1 = grids["birth_range"]
        p0, p1 = grids["pers_range"]
        sig = (pi_sigma * (b1 - b0) / pi_resolution, pi_sigma * (p1 - p0) / pi_resolution)
        pim = persistence_image(fin, (b0, b1), (p0, p1), resolution=pi_resolution, sigma=sig)
        parts.append(pim.ravel() * scale)
    if landscapes:
        parts.append(persistence_landscape(fin, _grid(v0, v1, n_landscape),
                                           n_layers=n_landscape_layers).ravel())
    return np.concatenate(parts)
