"""scikit-learn steps from persistence diagrams to features (the second half of the pipeline).

:class:`PersistenceStatistics`, :class:`BettiCurves`, :class:`PersistenceImages`,
:class:`PersistenceLandscapes`: thin wrappers of the compiled vectorisers of
:mod:`shapekit.topology.vectorize` over lists of :class:`~shapekit.topology.diagrams.Diagrams`
(the output of :class:`~shapekit.topology.transformers.CubicalDiagrams`).  Columns are
block-major (all features of one ``(scale, filtration, dim)`` block, then the next), and
:func:`feature_blocks` says which block each column of a fitted step, ``FeatureUnion`` or
``Pipeline`` comes from.  Composed with ``FeatureUnion``, every vectoriser reads the same
diagrams, computed once per ``fit_transform``.  Ranges left to ``None`` are fitted on the
training diagrams (0.5 %-99.5 % quantiles of the pooled finite pairs); with fixed ranges a step
learns only the blocks, so ``fit_transform`` of a fresh pipeline equals ``transform`` of a
fitted one.

Examples
--------
>>> from sklearn.pipeline import make_union
>>> d = Diagrams({(1, "sublevel", 0): [[0.0, 2.0], [1.0, np.inf]]})
>>> u = make_union(PersistenceStatistics(quantiles=()), BettiCurves(4, (0, 3)))
>>> u.fit_transform([d]).shape, [b.name for b in feature_blocks(u)][-1]
((1, 16), 's1_sublevel_h0')
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from shapekit._params import check_bool, check_int, check_number, check_numbers
from shapekit.errors import InputError
from shapekit.topology import vectorize as V
from shapekit.topology.diagrams import Block, Diagrams

__all__ = ["PersistenceStatistics", "BettiCurves", "PersistenceImages", "PersistenceLandscapes",
           "feature_blocks"]


def _diagrams(X: Any) -> list[Diagrams]:
    xs = list(X) if not isinstance(X, Diagrams) else [X]
    if not xs or not all(isinstance(x, Diagrams) for x in xs):
        raise InputError("expected a non-empty list of Diagrams (the output of CubicalDiagrams)")
    return xs


class _Vectorizer(TransformerMixin, BaseEstimator, abc.ABC):
    """Diagrams -> features of every block, block-major; subclasses define the per-block part."""

    _fit_ranges: tuple[str, ...] = ()

    def _check_params(self) -> None:
        """Raise :class:`InputError` on a bad parameter (``fit`` calls it first)."""
        for name in ("n_points", "n_layers", "resolution"):
            if hasattr(self, name):
                check_int(name, getattr(self, name), low=1)
        if hasattr(self, "per_area"):
            check_number("per_area", self.per_area, low=0, low_open=True, none=True)
        if hasattr(self, "log1p"):
            check_bool("log1p", self.log1p)
        for name in self._fit_ranges:
            if getattr(self, name) is not None:
                V._range(name, getattr(self, name))

    @abc.abstractmethod
    def _names(self) -> list[str]:
        """Feature names of one block (without its block prefix)."""

    @abc.abstractmethod
    def _block(self, dgms: list[np.ndarray], block: Block, ranges: dict[str, Any]) -> np.ndarray:
        """``(n_images, n_features)`` of one block's diagrams."""

    def _group(self, block: Block, ranges: dict[str, Any]) -> Any:
        """Blocks with equal keys are vectorised in one kernel call (same grids, and the same
        filtration where it matters)."""
        return (block.filtration, tuple(sorted((k, tuple(v)) for k, v in ranges.items())))

    def fit(self, X: Any, y: Any = None) -> _Vectorizer:
        """Record the blocks of the training diagrams and fit the ranges left to None."""
        self._check_params()
        xs = _diagrams(X)
        self.blocks_ = tuple(xs[0])
        self.ranges_ = {b: {r: getattr(self, r) for r in self._fit_ranges} for b in self.blocks_}
        for b in self.blocks_:
            missing = [r for r in self._fit_ranges if getattr(self, r) is None]
            if missing:
                self.ranges_[b].update(_fitted_ranges([x[b] for x in xs], missing))
        self.n_features_out_ = len(self.blocks_) * len(self._names())
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Feature matrix ``(n_images, n_features_out_)`` float64, block-major."""
        check_is_fitted(self, "blocks_")
        xs = _diagrams(X)
        n, w = len(xs), len(self._names())
        X_out = np.empty((n, w * len(self.blocks_)))
        groups: dict[Any, list[int]] = {}       # blocks one kernel call can serve together
        for j, b in enumerate(self.blocks_):
            groups.setdefault(self._group(b, self.ranges_[b]), []).append(j)
        for js in groups.values():
            try:
                dgms = [x[self.blocks_[j]] for j in js for x in xs]
            except KeyError as e:
                raise InputError(f"diagrams lack block {Block.of(e.args[0]).name} seen in fit") from None
            b0 = self.blocks_[js[0]]
            V_ = self._block(dgms, b0, self.ranges_[b0]).reshape(len(js), n, w)
            for j, v in zip(js, V_):
                X_out[:, j * w:(j + 1) * w] = v
        per_area = getattr(self, "per_area", None)
        if per_area:
            if any(x.area is None for x in xs):
                raise InputError("per_area needs the image area (diagrams of full-resolution images)")
            X_out[:, self._extensive_mask()] /= (np.array([x.area for x in xs], float) / per_area)[:, None]
        if getattr(self, "log1p", False):
            m = self._extensive_mask()
            X_out[:, m] = np.log1p(X_out[:, m])
        return X_out

    def _extensive(self) -> np.ndarray:
        return np.arange(len(self._names()))

    def _extensive_mask(self) -> np.ndarray:
        w = len(self._names())
        m = np.zeros(w * len(self.blocks_), bool)
        for j in range(len(self.blocks_)):
            m[j * w + self._extensive()] = True
        return m

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<block name>_<feature>`` for every column."""
        check_is_fitted(self, "blocks_")
        return np.asarray([b.feature(n) for b in self.blocks_ for n in self._names()], dtype=object)

    def get_feature_blocks_out(self) -> list[Block]:
        """The block of every column."""
        check_is_fitted(self, "blocks_")
        return [b for b in self.blocks_ for _ in self._names()]


def _fitted_ranges(dgms: list[np.ndarray], which: list[str]) -> dict[str, tuple[float, float]]:
    d = np.concatenate([np.asarray(x).reshape(-1, 2) for x in dgms])
    f = d[np.isfinite(d).all(axis=1)]
    out = {}
    for r in which:
        vals = {"value_range": f.ravel(), "birth_range": f[:, 0],
                "pers_range": np.abs(f[:, 1] - f[:, 0])}[r]
        if not len(vals):
            lo, hi = (0.0, 1.0) if r == "pers_range" else (-1.0, 1.0)
        else:
            lo, hi = (float(v) for v in np.quantile(vals, [0.005, 0.995]))
            lo = 0.0 if r == "pers_range" else lo
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
        out[r] = (lo, hi)
    return out


class PersistenceStatistics(_Vectorizer):
    """Statistics of every diagram (:func:`~shapekit.topology.vectorize.persistence_statistics`).

    Parameters
    ----------
    thresholds, quantiles : sequence of float
        Persistence thresholds of the counts and quantiles of lifetime/birth/death.
    quantile_samples : int or None
        Quantiles from at most this many pairs per diagram (None: exact).
    per_area : float or None
        Divide the extensive statistics (pair counts, counts above thresholds, total and squared
        persistence) by the image area in units of ``per_area`` pixels.
    log1p : bool
        ``log1p`` of the extensive statistics (heavy-tailed counts and totals).
    fill_value : float
        Quantiles and mean of a diagram without finite pair.

    Examples
    --------
    >>> d = Diagrams({(1, "sublevel", 0): [[0.0, 1.0], [0.0, np.inf]]}, area=100)
    >>> ps = PersistenceStatistics(thresholds=(0.5,), quantiles=(), per_area=100).fit([d])
    >>> dict(zip(ps.get_feature_names_out()[:3], ps.transform([d])[0, :3].tolist()))
    {'s1_sublevel_h0_n_pairs': 1.0, 's1_sublevel_h0_n_essential': 1.0, 's1_sublevel_h0_count_above_0': 1.0}
    """

    def __init__(self, thresholds: Sequence[float] = V.THRESHOLDS,
                 quantiles: Sequence[float] = V.QUANTILES, quantile_samples: int | None = None,
                 per_area: float | None = None, log1p: bool = False, fill_value: float = 0.0) -> None:
        self.thresholds = thresholds
        self.quantiles = quantiles
        self.quantile_samples = quantile_samples
        self.per_area = per_area
        self.log1p = log1p
        self.fill_value = fill_value

    def _check_params(self) -> None:
        super()._check_params()
        check_numbers("thresholds", self.thresholds)
        check_numbers("quantiles", self.quantiles, 0, 1)
        check_int("quantile_samples", self.quantile_samples, low=16, none=True)
        check_number("fill_value", self.fill_value, finite=False, nan=True)  # NaN: "no pair"

    def _names(self) -> list[str]:
        return V.statistic_names(self.thresholds, self.quantiles)

    def _extensive(self) -> np.ndarray:
        return V.extensive_columns(len(self.thresholds))

    def _group(self, block: Block, ranges: dict[str, Any]) -> Any:
        return None          # statistics read lifetimes only: every block in one call

    def _block(self, dgms: list[np.ndarray], block: Block, ranges: dict[str, Any]) -> np.ndarray:
        return V.persistence_statistics(dgms, self.thresholds, self.quantiles,
                                        quantile_samples=self.quantile_samples,
                                        fill_value=self.fill_value)


class BettiCurves(_Vectorizer):
    """Betti curves on ``n_points`` uniform values of ``value_range`` (fitted when None).

    ``per_area`` and ``log1p`` as in :class:`PersistenceStatistics` (applied to every point).

    Examples
    --------
    >>> d = Diagrams({(1, "sublevel", 0): [[0.0, 2.0], [1.0, np.inf]]})
    >>> BettiCurves(n_points=4, value_range=(0, 3)).fit_transform([d])
    array([[1., 2., 1., 1.]])
    """

    _fit_ranges = ("value_range",)

    def __init__(self, n_points: int = 16, value_range: tuple[float, float] | None = (-3.0, 3.0),
                 per_area: float | None = None, log1p: bool = False) -> None:
        self.n_points = n_points
        self.value_range = value_range
        self.per_area = per_area
        self.log1p = log1p

    def _names(self) -> list[str]:
        return [f"betti_{j}" for j in range(int(self.n_points))]

    def _block(self, dgms: list[np.ndarray], block: Block, ranges: dict[str, Any]) -> np.ndarray:
        return V.betti_curves(dgms, block.filtration, ranges["value_range"], int(self.n_points))


class PersistenceImages(_Vectorizer):
    """Persistence images, ``resolution x resolution`` per block (ranges fitted when None).

    Examples
    --------
    >>> d = Diagrams({(1, "sublevel", 1): [[0.2, 0.7], [0.5, 0.6]]})
    >>> pim = PersistenceImages(resolution=2).fit([d])
    >>> pim.get_feature_names_out().tolist()[-1], pim.transform([d]).shape
    ('s1_sublevel_h1_pi_1_1', (1, 4))
    """

    _fit_ranges = ("birth_range", "pers_range")

    def __init__(self, resolution: int = 8, sigma: float = 1.0,
                 birth_range: tuple[float, float] | None = None,
                 pers_range: tuple[float, float] | None = None, per_area: float | None = None) -> None:
        self.resolution = resolution
        self.sigma = sigma
        self.birth_range = birth_range
        self.pers_range = pers_range
        self.per_area = per_area

    def _check_params(self) -> None:
        super()._check_params()
        check_number("sigma", self.sigma, low=0, low_open=True)

    def _names(self) -> list[str]:
        r = int(self.resolution)
        return [f"pi_{i}_{j}" for i in range(r) for j in range(r)]

    def _block(self, dgms: list[np.ndarray], block: Block, ranges: dict[str, Any]) -> np.ndarray:
        return V.persistence_images(dgms, ranges["birth_range"], ranges["pers_range"],
                                    int(self.resolution), float(self.sigma))


class PersistenceLandscapes(_Vectorizer):
    """Persistence landscapes, ``n_layers`` x ``n_points`` per block (range fitted when None).

    Examples
    --------
    >>> d = Diagrams({(1, "sublevel", 0): [[0.0, 2.0], [1.0, 3.0]]})
    >>> PersistenceLandscapes(4, 1, value_range=(0.5, 2.0)).fit_transform([d])
    array([[0.5, 1. , 0.5, 1. ]])
    """

    _fit_ranges = ("value_range",)

    def __init__(self, n_points: int = 16, n_layers: int = 3,
                 value_range: tuple[float, float] | None = None) -> None:
        self.n_points = n_points
        self.n_layers = n_layers
        self.value_range = value_range

    def _names(self) -> list[str]:
        return [f"land{k}_{i}" for k in range(1, int(self.n_layers) + 1)
                for i in range(int(self.n_points))]

    def _block(self, dgms: list[np.ndarray], block: Block, ranges: dict[str, Any]) -> np.ndarray:
        return V.persistence_landscapes(dgms, ranges["value_range"], int(self.n_points),
                                        int(self.n_layers))


def feature_blocks(estimator: Any) -> list[Block]:
    """The :class:`~shapekit.topology.diagrams.Block` of every output column of a fitted
    vectoriser, ``FeatureUnion`` of vectorisers, or ``Pipeline`` ending in one.

    Examples
    --------
    >>> from sklearn.pipeline import make_union
    >>> d = Diagrams({(2, "superlevel", 1): [[1.0, 0.5]]})
    >>> u = make_union(PersistenceStatistics(thresholds=(), quantiles=()), BettiCurves(2)).fit([d])
    >>> [b.name for b in feature_blocks(u)][-1], len(feature_blocks(u))
    ('s2_superlevel_h1', 9)
    """
    if hasattr(estimator, "get_feature_blocks_out"):
        return estimator.get_feature_blocks_out()
    if hasattr(estimator, "transformer_list"):       # FeatureUnion
        return [b for _, t in estimator.transformer_list if t not in ("drop", None)
                for b in feature_blocks(t)]
    if hasattr(estimator, "steps"):                  # Pipeline: its last step
        return feature_blocks(estimator.steps[-1][1])
    raise InputError(f"{type(estimator).__name__} does not say which diagram block its columns "
                     f"come from")
