"""``TopTempFeaturizer``: multi-scale cubical-persistence features, a scikit-learn transformer.

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   precipitate structure from temper topology", arXiv:2204.00629, 2022.
.. [2] H. Adams et al., "Persistence images: a stable vector representation of persistent
   homology", JMLR 18(8), 2017.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # older releases: the estimator method
    def validate_data(est: Any, X: Any, **kw: Any) -> np.ndarray:  # noqa: D103
        return est._validate_data(X, **kw)

from shapekit.errors import InputError
from shapekit.topology import blocks as B
from shapekit.topology.batch import block_features_batch
from shapekit.topology.cache import FeatureCache
from shapekit.topology.persistence import check_options, validate_image

__all__ = ["TopTempFeaturizer"]

_MEMORY_BUDGET = 512 * 2**20  # fit_transform keeps diagrams in memory up to this many bytes
_CHUNK = 64  # images whose diagrams transform holds and vectorises at once
_NORMALIZE = ("zscore", "minmax", "none")


class TopTempFeaturizer(TransformerMixin, BaseEstimator):
    """Fixed-length topological features of 2-D images or tiles (TopTemp [1]_).

    For every scale ``s`` (image downsampled by ``s`` with area averaging), filtration and
    homology dimension (a *block*), the cubical persistence diagram is summarised by
    :func:`~shapekit.topology.diagram_summaries` (counts above fitted thresholds, total/max/mean
    persistence, entropy, lifetime/birth/death quantiles), a Betti curve on a fitted grid, an
    optional persistence image [2]_ on a fitted ``(birth, persistence)`` grid and optional
    landscapes.  ``fit`` only places the grids (from the training diagrams); ``transform``
    reuses them, so the output length is fixed.

    Parameters
    ----------
    scales : sequence of int
        Downsampling factors (1 = full resolution).  Coarse scales are robust to blur and noise.
    filtrations : sequence of {"sublevel", "superlevel"}
    dims : sequence of {0, 1}
    normalize : {"zscore", "minmax", "none"}
        Per-image intensity normalisation before PH (z-scoring makes features invariant to
        contrast and brightness).
    smooth_sigma : float
        Gaussian smoothing (pixels, at full resolution) before PH: smooths every image to a fixed
        effective resolution so mild blur or noise changes little.  0 disables.
    min_persistence : float
        Drop finite pairs with persistence ``<=`` this (in normalised units).
    construction, backend : see :func:`~shapekit.topology.cubical_persistence`.
    n_betti : int
        Betti-curve grid size (0: no Betti curves).
    persistence_images : bool
    pi_resolution : int
        Persistence images are ``pi_resolution x pi_resolution``.
    pi_sigma : float
        Gaussian width in persistence-image pixels.
    landscapes : bool
    n_landscape_layers, n_landscape : int
        Landscape layers and grid size.
    quantiles : sequence of float
        Quantiles of lifetime/birth/death in the summaries.
    threshold_quantiles : sequence of float
        Count thresholds are these quantiles of training lifetimes (median over images).
    quantile_samples : int or None
        Summary quantiles from at most this many pairs per diagram (systematic subsample; None:
        exact).  Selection is the costliest vectorisation step on noisy 10^4+-pair diagrams.
    per_area : bool
        Counts, total persistence, Betti numbers and persistence-image mass per 1000 input pixels
        (comparable across image sizes).
    image_shape : (h, w) or None
        Only for 2-D ``X`` of shape ``(n, h*w)`` (flattened images, the scikit-learn layout).
        None treats each row as a one-pixel-high image.
    n_jobs : int or None
        joblib threads over images (GUDHI releases the GIL).
    cache_dir : path or None
        On-disk :class:`~shapekit.topology.cache.FeatureCache` of the diagrams.

    Attributes
    ----------
    grids_ : dict of str -> dict
        Fitted grids per block.
    blocks_ : list of str
        Block names in output order.
    n_features_out_ : int

    Notes
    -----
    ``X`` may be a list of 2-D arrays (sizes may differ), a ``(n, h, w)`` array, or a 2-D
    ``(n, h*w)`` array with ``image_shape``.  Essential bars are excluded from summaries and
    images, and counted as alive to the end of the grid in Betti curves.  A constant image has no
    finite pair; its features are still defined (zeros and the essential bar).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> tiles = rng.random((4, 32, 32))
    >>> ft = TopTempFeaturizer(scales=(1, 2), n_betti=8, pi_resolution=4)
    >>> X = ft.fit_transform(tiles)
    >>> X.shape, ft.get_feature_names_out()[[0, 82]].tolist()
    ((4, 400), ['sub_H0_n_pairs', 'sub_H1_betti_06'])
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4),
                 filtrations: Sequence[str] = ("sublevel", "superlevel"),
                 dims: Sequence[int] = (0, 1), normalize: str = "zscore",
                 smooth_sigma: float = 0.0, min_persistence: float = 0.0,
                 construction: str = "T", backend: str = "gudhi", n_betti: int = 16,
                 persistence_images: bool = True, pi_resolution: int = 8, pi_sigma: float = 1.0,
                 landscapes: bool = False, n_landscape_layers: int = 3, n_landscape: int = 16,
                 quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9),
                 threshold_quantiles: Sequence[float] = (0.5, 0.75, 0.9, 0.99),
                 quantile_samples: int | None = 4096,
                 per_area: bool = True, image_shape: tuple[int, int] | None = None,
                 n_jobs: int | None = 1, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.scales = scales
        self.filtrations = filtrations
        self.dims = dims
        self.normalize = normalize
        self.smooth_sigma = smooth_sigma
        self.min_persistence = min_persistence
        self.construction = construction
        self.backend = backend
        self.n_betti = n_betti
        self.persistence_images = persistence_images
        self.pi_resolution = pi_resolution
        self.pi_sigma = pi_sigma
        self.landscapes = landscapes
        self.n_landscape_layers = n_landscape_layers
        self.n_landscape = n_landscape
        self.quantiles = quantiles
        self.threshold_quantiles = threshold_quantiles
        self.quantile_samples = quantile_samples
        self.per_area = per_area
        self.image_shape = image_shape
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def ints(name: str, v: Any, lo: int) -> tuple[int, ...]:
            try:
                out = tuple(int(x) for x in v)
            except (TypeError, ValueError):
                raise InputError(f"{name}={v!r} must be a sequence of ints") from None
            if not out or min(out) < lo or len(set(out)) != len(out):
                raise InputError(f"{name}={v!r} must be distinct ints >= {lo}, at least one")
            return out

        ints("scales", self.scales, 1)
        if set(ints("dims", self.dims, 0)) - {0, 1}:
            raise InputError(f"dims={self.dims!r}: a 2-D image has homology in dims 0 and 1 only")
        if isinstance(self.filtrations, str) or not len(self.filtrations):
            raise InputError(f"filtrations={self.filtrations!r} must be a non-empty sequence")
        for f in self.filtrations:
            check_options(f, self.construction, self.backend, "keep", self.min_persistence)
        if self.normalize not in _NORMALIZE:
            raise InputError(f"normalize={self.normalize!r} is not one of {_NORMALIZE}")
        for name, v in (("smooth_sigma", self.smooth_sigma), ("pi_sigma", self.pi_sigma)):
            if not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0 \
                    or (name == "pi_sigma" and v == 0):
                raise InputError(f"{name}={v!r} must be a finite number >= 0 (pi_sigma > 0)")
        for name, v, lo in (("n_betti", self.n_betti, 0), ("pi_resolution", self.pi_resolution, 1),
                            ("n_landscape_layers", self.n_landscape_layers, 1),
                            ("n_landscape", self.n_landscape, 2)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise InputError(f"{name}={v!r} must be an int >= {lo}")
        for name, v in (("quantiles", self.quantiles),
                        ("threshold_quantiles", self.threshold_quantiles)):
            q = np.asarray(v, dtype=float) if np.ndim(v) == 1 else None
            if q is None or not np.all((q >= 0) & (q <= 1)):
                raise InputError(f"{name}={v!r} must be a sequence of numbers in [0, 1]")
        qs = self.quantile_samples
        if qs is not None and (not isinstance(qs, (int, np.integer)) or isinstance(qs, bool)
                               or qs < 16):
            raise InputError(f"quantile_samples={qs!r} must be None or an int >= 16")
        if self.image_shape is not None:
            ints("image_shape", self.image_shape, 1)
            if len(self.image_shape) != 2:
                raise InputError(f"image_shape={self.image_shape!r} must be (h, w)")

    def _ph_params(self) -> dict[str, Any]:
        return dict(scales=tuple(int(s) for s in self.scales),
                    filtrations=tuple(self.filtrations), dims=tuple(int(k) for k in self.dims),
                    normalize=self.normalize, smooth_sigma=float(self.smooth_sigma),
                    min_persistence=float(self.min_persistence),
                    construction=self.construction, backend=self.backend)

    def _images(self, X: Any, reset: bool) -> list[np.ndarray]:
        """Turn the accepted input layouts into a list of float 2-D images."""
        if isinstance(X, (list, tuple)) and len(X) and np.ndim(X[0]) == 2:
            imgs = [validate_image(x, f"X[{i}]") for i, x in enumerate(X)]
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return imgs
        if isinstance(X, np.ndarray) and X.ndim == 3:
            if len(X) == 0:
                raise InputError("X: no images (shape %s)" % (X.shape,))
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            return [validate_image(x, f"X[{i}]") for i, x in enumerate(X)]
        X2 = validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=1)
        if self.image_shape is None:
            return [row[None, :] for row in X2]
        h, w = (int(v) for v in self.image_shape)
        if h * w != X2.shape[1]:
            raise InputError(f"image_shape={self.image_shape!r} needs {h * w} features per row, "
                             f"X has {X2.shape[1]}")
        return [np.ascontiguousarray(row.reshape(h, w)) for row in X2]

    # ------------------------------------------------------------------ diagrams
    def _diagrams(self, img: np.ndarray) -> dict[str, np.ndarray]:
        params = self._ph_params()
        cache = FeatureCache(self.cache_dir) if self.cache_dir is not None else None
        key = None
        if cache is not None:
            key = cache.key(img, params)
            hit = cache.load(key)
            if hit is not None and all(b in hit for b in self._block_names()):
                return {b: hit[b] for b in self._block_names()}
        dg = B.image_diagrams(img, **params)
        if cache is not None:
            cache.save(key, {b: d.astype(np.float32) for b, d in dg.items()})
        return dg

    def _block_names(self) -> list[str]:
        return [B.block_name(s, f, k) for s in self.scales for f in self.filtrations
                for k in self.dims]

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        if self.n_jobs in (None, 1) or len(items) < 2:
            return [fn(x) for x in items]
        from joblib import Parallel, delayed

        return list(Parallel(n_jobs=self.n_jobs, prefer="threads")(delayed(fn)(x) for x in items))

    # ------------------------------------------------------------------ fit / transform
    def _fit_from_stats(self, stats: list[dict[str, np.ndarray]]) -> None:
        self.blocks_ = self._block_names()
        self.grids_ = {b: B.combine_fit_stats(np.stack([s[b] for s in stats]))
                       for b in self.blocks_}
        names: list[str] = []
        for b in self.blocks_:
            names += B.block_feature_names(
                b, len(self.threshold_quantiles), self.quantiles, self.n_betti,
                self.pi_resolution, self.n_landscape_layers, self.n_landscape,
                self.persistence_images, self.landscapes)
        self._feature_names = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)

    def _stats(self, dg: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {b: B.block_fit_stats(dg[b], self.threshold_quantiles) for b in self._block_names()}

    def fit(self, X: Any, y: Any = None) -> "TopTempFeaturizer":
        """Compute the training diagrams and place the grids of every block."""
        self._check_params()
        imgs = self._images(X, reset=True)
        self._fit_from_stats(self._map(lambda im: self._stats(self._diagrams(im)), imgs))
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X).transform(X)`` computing each diagram once (kept in memory up to 512 MiB)."""
        self._check_params()
        imgs = self._images(X, reset=True)

        def one(im: np.ndarray) -> tuple[dict, dict, float]:
            dg = self._diagrams(im)
            return self._stats(dg), dg, im.size / 1000.0

        res = self._map(one, imgs)
        self._fit_from_stats([r[0] for r in res])
        if sum(d.nbytes for r in res for d in r[1].values()) > _MEMORY_BUDGET:
            del res
            return self.transform(X)
        return self._vectorize([r[1] for r in res], np.array([r[2] for r in res]))

    def _vectorize(self, dgs: list[dict[str, np.ndarray]], area_kpx: np.ndarray) -> np.ndarray:
        """Feature rows of many images' diagrams, one batched call per block
        (:func:`~shapekit.topology.batch.block_features_batch`)."""
        kw = dict(quantiles=self.quantiles, n_betti=self.n_betti,
                  persistence_images=self.persistence_images, pi_resolution=self.pi_resolution,
                  pi_sigma=self.pi_sigma, landscapes=self.landscapes,
                  n_landscape_layers=self.n_landscape_layers, n_landscape=self.n_landscape,
                  area_kpx=area_kpx if self.per_area else None,
                  quantile_samples=self.quantile_samples)
        return np.concatenate([block_features_batch([dg[b] for dg in dgs], self.grids_[b],
                                                    filtration=f, **kw)
                               for b, f in zip(self.blocks_, self._block_filtrations())], axis=1)

    def _block_filtrations(self) -> list[str]:
        return [f for _ in self.scales for f in self.filtrations for _ in self.dims]

    def _transform_images(self, imgs: list[np.ndarray]) -> np.ndarray:
        """Features of validated 2-D images, :data:`_CHUNK` images per batched vectorisation."""
        out = np.empty((len(imgs), self.n_features_out_))
        for c in range(0, len(imgs), _CHUNK):
            chunk = imgs[c:c + _CHUNK]
            area = np.array([im.size / 1000.0 for im in chunk])
            out[c:c + len(chunk)] = self._vectorize(self._map(self._diagrams, chunk), area)
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Feature matrix ``(n_images, n_features_out_)`` (float64)."""
        check_is_fitted(self, "grids_")
        return self._transform_images(self._images(X, reset=False))

    def transform_one(self, image: np.ndarray) -> np.ndarray:
        """Feature vector of a single 2-D image (no scikit-learn input checks; for streaming)."""
        check_is_fitted(self, "grids_")
        return self._transform_images([validate_image(image)])[0]

    def diagrams(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Persistence diagrams of every block of one image (``{"s2_sup_H1": (n, 2), ...}``)."""
        self._check_params()
        return self._diagrams(validate_image(image))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names like ``sub_H1_betti_07`` (scale 1) or ``s2_sup_H0_total_persistence``."""
        check_is_fitted(self, "grids_")
        return self._feature_names.copy()
