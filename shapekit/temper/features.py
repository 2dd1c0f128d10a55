"""Multi-scale TopTemp features of tiles: z-scored, smoothed, downsampled cubical persistence.

Per tile: z-score (so brightness and contrast do not matter), then at each scale ``s`` (the tile
area-averaged by ``s`` x ``s`` pixels, optionally Gaussian-smoothed) the sublevel and superlevel
cubical persistence diagrams (H0 and H1, GUDHI fast path via :mod:`shapekit.topology`) are summarised
by :func:`shapekit.topology.diagram_summaries` (counts above persistence thresholds, total/max/mean
persistence, entropy, lifetime/birth/death quantiles) and optionally Betti curves on a fixed grid;
counts, totals and Betti numbers enter as ``log1p``.  Because every tile is z-scored, all grids
and thresholds are in units of the tile's standard deviation and need no fitting: ``fit`` only
records the feature count.

This module is a thin configuration of the topology core, not a second featuriser: the diagrams
come from :func:`shapekit.topology.pyramid.pyramid_diagrams` (the classifier's preprocessing
convention, which saved model directories depend on, over
:func:`shapekit.topology.cubical_persistence`) and the vectorisation of all tiles at once from
:func:`shapekit.topology.batch.block_features_batch` (the kernel behind
:class:`~shapekit.topology.TopTempFeaturizer`).  What stays here is configuration: fixed grids
in z units instead of fitted ones, ``log1p`` of counts, totals and Betti numbers, feature names.

With ``restandardize=True`` every scaled (and smoothed) tile is z-scored again, so that the
persistence thresholds and quantiles at a coarse scale are in units of the contrast *at that
scale*. This matters for robustness: blur lowers and noise raises the full-resolution standard
deviation, which would otherwise shift every coarse-scale birth and death although the coarse
structure is unchanged. Coarse scales, pre-smoothing and a minimum persistence make the features
robust to blur and noise: pixel-level noise creates many short bars but hardly moves the long
ones that the coarse scales see.

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   Precipitate Structure from Temper Topology", arXiv:2204.00629, 2022.
.. [2] H. Wagner, C. Chen, E. Vucini, "Efficient computation of persistent homology for cubical
   data", 2012.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.topology.pyramid import FILTRATIONS, pyramid_diagrams, rescale, standardize

__all__ = ["DEFAULTS", "FILTRATIONS", "standardize", "rescale", "feature_names", "tile_features",
           "tiles_features", "TopTempTileFeaturizer"]
DEFAULTS: dict[str, Any] = {
    "scales": (1, 2, 4),
    "smooth": 0.0,
    "thresholds": (0.1, 0.25, 0.5, 1.0, 2.0),
    "quantiles": (0.1, 0.25, 0.5, 0.75, 0.9),
    "betti_points": 0,
    "min_persistence": 0.0,
    "restandardize": False,
}


def _check_params(scales: Sequence[int], smooth: float, thresholds: Sequence[float],
                  quantiles: Sequence[float], betti_points: int, min_persistence: float) -> None:
    if not len(scales) or any(int(s) != s or s < 1 for s in scales):
        raise InputError(f"scales must be positive integers, got {list(scales)}")
    if not np.isfinite(smooth) or smooth < 0:
        raise InputError(f"smooth must be >= 0, got {smooth}")
    if any(not 0 <= q <= 1 for q in quantiles):
        raise InputError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    if int(betti_points) != betti_points or betti_points < 0:
        raise InputError(f"betti_points must be a non-negative integer, got {betti_points}")
    if min_persistence < 0 or not len(thresholds):
        raise InputError(f"invalid thresholds={list(thresholds)} / min_persistence={min_persistence}")


def feature_names(scales: Sequence[int] = DEFAULTS["scales"],
                  thresholds: Sequence[float] = DEFAULTS["thresholds"],
                  quantiles: Sequence[float] = DEFAULTS["quantiles"],
                  betti_points: int = 0, **_: Any) -> list[str]:
    """Names of the columns of :func:`tile_features`, in order.

    Examples
    --------
    >>> n = feature_names(scales=(1,), quantiles=(0.5,))
    >>> len(n), n[0]
    (60, 's1_sublevel_h0_n_pairs')
    """
    from shapekit.topology import summary_names

    base = summary_names(thresholds, quantiles)
    names = []
    for s in scales:
        for filt in FILTRATIONS:
            for dim in (0, 1):
                pre = f"s{s}_{filt}_h{dim}_"
                names += [pre + b for b in base]
                names += [f"{pre}betti_{j}" for j in range(int(betti_points))]
    return names


_LOG_SUMMARIES = ("n_pairs", "count_above", "total_persistence")
_CHUNK = 256  # tiles whose diagrams are held and vectorised at once


def _log_columns(thresholds: Sequence[float], quantiles: Sequence[float],
                 betti_points: int) -> np.ndarray:
    """Columns of one block that get ``log1p`` (heavy-tailed counts, totals, Betti numbers)."""
    from shapekit.topology import summary_names

    base = summary_names(thresholds, quantiles)
    idx = [j for j, k in enumerate(base) if k.startswith(_LOG_SUMMARIES)]
    return np.array(idx + list(range(len(base), len(base) + int(betti_points))), dtype=np.int64)


def _vectorize(dgs: list[list[np.ndarray]], scales: Sequence[int],
               thresholds: Sequence[float], quantiles: Sequence[float],
               betti_points: int) -> np.ndarray:
    """Feature rows of many tiles' diagrams: one batched call per block of the topology core
    (:func:`shapekit.topology.batch.block_features_batch`) on fixed grids in z units."""
    from shapekit.topology.batch import block_features_batch

    grids = {"thresholds": [float(t) for t in thresholds], "value_range": (-3.0, 3.0),
             "birth_range": (-3.0, 3.0), "pers_range": (0.0, 1.0)}
    cols, j = [], 0
    for _ in scales:
        for filt in FILTRATIONS:
            for _dim in (0, 1):
                cols.append(block_features_batch(
                    [dg[j] for dg in dgs], grids, quantiles=quantiles, n_betti=int(betti_points),
                    persistence_images=False, pi_resolution=1, pi_sigma=1.0, landscapes=False,
                    n_landscape_layers=1, n_landscape=2, area_kpx=None, quantile_samples=None,
                    filtration=filt))
                j += 1
    X = np.concatenate(cols, axis=1)
    width = X.shape[1] // len(cols)
    logc = (np.arange(len(cols))[:, None] * width
            + _log_columns(thresholds, quantiles, betti_points)[None, :]).ravel()
    X[:, logc] = np.log1p(X[:, logc])
    return X


def tile_features(tile: np.ndarray, scales: Sequence[int] = DEFAULTS["scales"],
                  smooth: float = 0.0, thresholds: Sequence[float] = DEFAULTS["thresholds"],
                  quantiles: Sequence[float] = DEFAULTS["quantiles"], betti_points: int = 0,
                  min_persistence: float = 0.0, restandardize: bool = False) -> np.ndarray:
    """TopTemp feature vector of one tile (see the module docstring).

    Parameters
    ----------
    tile : ndarray, shape (h, w)
        Grey tile (any range: it is z-scored first).
    scales : sequence of int
        Area-averaging factors; PH is computed at each.
    smooth : float
        Gaussian sigma (pixels of each scaled tile) applied before PH.
    thresholds, quantiles : sequence of float
        Passed to :func:`shapekit.topology.diagram_summaries` (thresholds in z units).
    betti_points : int
        Betti-curve samples on ``linspace(-3, 3)`` per diagram (0: none).
    min_persistence : float
        Pairs with persistence at most this (z units) are dropped before summarising.
    restandardize : bool
        Z-score each scaled, smoothed tile again before PH (contrast in units of that scale).

    Returns
    -------
    ndarray of float64, shape (len(feature_names(...)),)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = tile_features(rng.random((64, 64)), scales=(1, 2))
    >>> f.shape == (len(feature_names(scales=(1, 2))),), bool(np.isfinite(f).all())
    (True, True)
    >>> bool(np.isfinite(tile_features(np.zeros((32, 32)), scales=(1, 2))).all())  # constant tile
    True
    """
    return tiles_features([tile], scales=scales, smooth=smooth, thresholds=thresholds,
                          quantiles=quantiles, betti_points=betti_points,
                          min_persistence=min_persistence, restandardize=restandardize)[0]


def tiles_features(tiles: np.ndarray | Sequence[np.ndarray], n_jobs: int = 1,
                   **params: Any) -> np.ndarray:
    """:func:`tile_features` of many tiles, ``(n, d)``.

    Persistence diagrams are computed per tile (``n_jobs`` joblib threads: GUDHI releases the
    GIL), then vectorised for all tiles at once by the topology core's batched kernel, in
    chunks of 256 tiles.

    Examples
    --------
    >>> tiles_features(np.random.default_rng(0).random((3, 32, 32)), scales=(1,)).shape
    (3, 108)
    """
    p = {**DEFAULTS, **params}
    unknown = set(p) - set(DEFAULTS)
    if unknown:
        raise InputError(f"unknown feature parameter(s): {sorted(unknown)}")
    _check_params(p["scales"], p["smooth"], p["thresholds"], p["quantiles"], p["betti_points"],
                  p["min_persistence"])
    tiles = list(tiles)
    d = len(feature_names(**p))
    if not tiles:
        return np.zeros((0, d))
    scales = [int(s) for s in p["scales"]]

    def diagrams(t: np.ndarray) -> list[np.ndarray]:
        return pyramid_diagrams(t, scales, float(p["smooth"]), float(p["min_persistence"]),
                              bool(p["restandardize"]))

    out = np.empty((len(tiles), d))
    for c in range(0, len(tiles), _CHUNK):
        chunk = tiles[c:c + _CHUNK]
        if n_jobs == 1 or len(chunk) < 2:
            dgs = [diagrams(t) for t in chunk]
        else:
            from joblib import Parallel, delayed

            dgs = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(diagrams)(t) for t in chunk)
        out[c:c + len(chunk)] = _vectorize(dgs, scales, p["thresholds"], p["quantiles"],
                                           int(p["betti_points"]))
    return out


class TopTempTileFeaturizer:
    """scikit-learn transformer: list/array of tiles -> multi-scale TopTemp feature matrix.

    Parameters are those of :func:`tile_features` (stored untouched; validated in ``fit``).

    Examples
    --------
    >>> fz = TopTempTileFeaturizer(scales=(1,)).fit(np.zeros((1, 16, 16)))
    >>> fz.transform(np.random.default_rng(0).random((2, 16, 16))).shape
    (2, 108)
    >>> fz.get_feature_names_out()[0]
    's1_sublevel_h0_n_pairs'
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4), smooth: float = 0.0,
                 thresholds: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0),
                 quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9), betti_points: int = 0,
                 min_persistence: float = 0.0, restandardize: bool = False, n_jobs: int = 1) -> None:
        self.scales = scales
        self.smooth = smooth
        self.thresholds = thresholds
        self.quantiles = quantiles
        self.betti_points = betti_points
        self.min_persistence = min_persistence
        self.restandardize = restandardize
        self.n_jobs = n_jobs

    def params(self) -> dict[str, Any]:
        """JSON-serialisable feature parameters (stored in model directories)."""
        return {"scales": [int(s) for s in self.scales], "smooth": float(self.smooth),
                "thresholds": [float(t) for t in self.thresholds],
                "quantiles": [float(q) for q in self.quantiles],
                "betti_points": int(self.betti_points),
                "min_persistence": float(self.min_persistence),
                "restandardize": bool(self.restandardize)}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**self.params(), "n_jobs": self.n_jobs}

    def set_params(self, **params: Any) -> TopTempTileFeaturizer:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X: Any = None, y: Any = None) -> TopTempTileFeaturizer:
        p = self.params()
        _check_params(p["scales"], p["smooth"], p["thresholds"], p["quantiles"],
                      p["betti_points"], p["min_persistence"])
        self.n_features_out_ = len(feature_names(**p))
        return self

    def transform(self, X: Any) -> np.ndarray:
        return tiles_features(X, n_jobs=self.n_jobs, **self.params())

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(feature_names(**self.params()), dtype=object)
