"""Honest "unknown": an out-of-distribution scorer and conformal prediction sets for temper models.

:class:`OODScorer` is fitted on the training feature rows (one row per scan: the mean of its tile
features). Its distance is either the class-conditional Mahalanobis distance with a shared,
Ledoit-Wolf-shrunk covariance in the standardised feature space (Lee et al. 2018) or the distance
to the k-th nearest training row there (Sun et al. 2022). Its threshold is calibrated by
cross-fitting: the training rows are split into ``cv`` folds, each fold is scored by a scorer fitted
on the others, and the threshold is the conformal ``level`` quantile of those held-out scores
(Vovk et al. 2005), so that about ``level`` of new in-distribution scans pass. ``ood_score`` is the
distance divided by that threshold: a scan is in distribution when ``ood_score <= 1``.

:class:`ConformalSets` turns class probabilities into prediction sets with a stated marginal
coverage (split conformal: LAC, Sadinle et al. 2019, or APS, Romano et al. 2020), calibrated on
held-out probabilities (e.g. the out-of-fold probabilities of the classifier's cross-validation).

:func:`verdict` combines both into the per-scan report ``{"temper", "ood_score",
"in_distribution", "prediction_set"}``. Both estimators save as plain JSON + arrays
(``to_state``/``from_state``) for the model directory; no pickle.

References
----------
.. [1] K. Lee, K. Lee, H. Lee, J. Shin, "A Simple Unified Framework for Detecting
   Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018.
.. [2] Y. Sun, Y. Ming, X. Zhu, Y. Li, "Out-of-Distribution Detection with Deep Nearest
   Neighbors", ICML 2022.
.. [3] O. Ledoit, M. Wolf, "A well-conditioned estimator for large-dimensional covariance
   matrices", J. Multivariate Anal. 88, 2004.
.. [4] V. Vovk, A. Gammerman, G. Shafer, "Algorithmic Learning in a Random World", Springer 2005.
.. [5] M. Sadinle, J. Lei, L. Wasserman, "Least Ambiguous Set-Valued Classifiers with Bounded
   Error Levels", JASA 114, 2019.
.. [6] Y. Romano, M. Sesia, E. Candes, "Classification with Valid and Adaptive Coverage",
   NeurIPS 2020.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from shapekit._params import check_choice, check_int, check_number, check_numbers
from shapekit.errors import InputError

METHODS = ("mahalanobis", "knn")
SCORES = ("lac", "aps")
STATE_VERSION = 1


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) level)``-th smallest score: at least ``level`` of new exchangeable scores fall at or below it.

    ``inf`` when there are too few scores for that guarantee.

    Examples
    --------
    >>> conformal_quantile(np.arange(1.0, 100.0), 0.9)
    90.0
    >>> conformal_quantile(np.arange(5.0), 0.99)
    inf
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    k = math.ceil((len(s) + 1) * float(level))
    return float("inf") if k > len(s) or k < 1 else float(s[k - 1])


def _rows(X: Any, d: int | None = None, what: str = "X") -> np.ndarray:
    """``X`` as a dense float64 matrix; a one-line :class:`InputError` for anything else."""
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise InputError(f"{what} is sparse, which is not supported: pass a dense array (X.toarray())")
    A = np.asarray(X)
    if A.dtype.kind == "c":   # float64 would drop the imaginary part without a word
        raise InputError(f"{what}: Complex data not supported (features must be real numbers)")
    try:
        X = A.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must hold numbers ({str(e).splitlines()[0][:100]})") from None
    if X.ndim != 2:
        raise InputError(f"{what} must be a 2-D feature matrix, got shape {X.shape}")
    if X.shape[1] == 0:
        raise InputError(f"{what} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if d is not None and X.shape[1] != d:
        raise InputError(f"{what} has {X.shape[1]} features, the scorer was fitted on {d}")
    return X


def _folds(n: int, y: np.ndarray | None, groups: np.ndarray | None, k: int, seed: int) -> list[np.ndarray]:
    """Held-out index sets: grouped when ``groups`` are given, else stratified by ``y``."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    idx = np.arange(n)
    if groups is not None:
        k = min(k, len(np.unique(groups)))
        return [te for _, te in GroupKFold(k).split(idx, groups=groups)]
    if y is not None and np.bincount(np.unique(y, return_inverse=True)[1]).min() >= k:
        return [te for _, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y)]
    return [te for _, te in KFold(k, shuffle=True, random_state=seed).split(idx)]


class OODScorer(OutlierMixin, BaseEstimator):
    """Out-of-distribution score of feature rows against the training rows, with a calibrated threshold.

    Parameters
    ----------
    method : {"mahalanobis", "knn"}
        Class-conditional Mahalanobis distance (features scaled by their within-class spread,
        shared Ledoit-Wolf covariance of the within-class residuals; the nearest class mean
        counts) or the distance to the ``n_neighbors``-th nearest training row in the
        standardised feature space.
    level : float
        Fraction of in-distribution rows meant to pass (the threshold is the conformal ``level``
        quantile of cross-fitted held-out distances).
    n_neighbors : int
        k of the k-NN distance.
    cv : int
        Folds of the threshold's cross-fitting.
    seed : int
        Seeds the folds.
    blocks : sequence of int, optional
        Widths of consecutive column blocks scored separately (e.g. ``[324, 6]`` for TopTemp
        features followed by :func:`~shapekit.temper.descriptors.grey_levels`), so that a strong
        departure in a small block is not drowned by the many dimensions of a large one. A row's
        statistic is the largest block distance in units of that block's median held-out
        distance. Default: one block.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The column names of a pandas ``DataFrame`` given to :meth:`fit` (only then); scoring a
        frame with other names is refused, and scoring without names warns (as scikit-learn does).
    threshold_ : float
        Statistic above which a row is out of distribution (``ood_score > 1``).
    block_scale_ : ndarray
        Median held-out distance of each block.
    calibration_scores_ : ndarray
        The held-out ``ood_score`` of every training row (for p-values).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5)); y = np.arange(300) % 3; X[:, 0] += 3 * y
    >>> sc = OODScorer(level=0.95).fit(X, y)
    >>> new = rng.normal(size=(200, 5)); new[:, 0] += 3 * (np.arange(200) % 3)
    >>> 0.85 < float(np.mean(sc.predict(new) == 1)) <= 1.0       # ~95 % pass
    True
    >>> far = rng.normal(size=(50, 5)) + 8.0
    >>> bool(np.all(sc.predict(far) == -1)), bool(sc.ood_score(far).min() > 1)
    (True, True)
    >>> sc2 = OODScorer.from_state(*sc.to_state())
    >>> bool(np.allclose(sc2.ood_score(new), sc.ood_score(new)))
    True
    """

    def __init__(self, method: str = "mahalanobis", level: float = 0.99, n_neighbors: int = 5,
                 cv: int = 5, seed: int = 0, blocks: Sequence[int] | None = None) -> None:
        self.method = method
        self.level = level
        self.n_neighbors = n_neighbors
        self.cv = cv
        self.seed = seed
        self.blocks = blocks

    # ------------------------------------------------------------------ core
    def _check_params(self) -> None:
        check_choice("method", self.method, METHODS)
        check_number("level", self.level, 0.5, 1.0, high_open=True)
        check_int("n_neighbors", self.n_neighbors, low=1)
        check_int("cv", self.cv, low=2)
        check_int("seed", self.seed, 0, 2**32 - 1)
        if self.blocks is not None:
            check_numbers("blocks", self.blocks, 1, integer=True, empty=False)

    def _features(self, X: Any, reset: bool) -> np.ndarray:
        """``X`` as float rows; records (``reset``) or checks the column names of a DataFrame."""
        Xa = _rows(X, None if reset else self.n_features_in_)
        try:        # scikit-learn's feature-name bookkeeping, on the caller's own X
            validate_data(self, X, reset=reset, skip_check_array=True)
        except ValueError as e:
            raise InputError(" ".join(str(e).split())) from None
        return Xa

    def _fit_core(self, X: np.ndarray, y: np.ndarray | None) -> dict[str, np.ndarray]:
        mean = X.mean(axis=0)
        if self.method == "knn":
            if len(X) <= int(self.n_neighbors):
                raise InputError(f"k-NN scoring needs more than {self.n_neighbors} training rows, got {len(X)}")
            scale = X.std(axis=0)
            scale[scale < 1e-12] = 1.0
            return {"mean": mean, "scale": scale, "train": (X - mean) / scale}
        from sklearn.covariance import LedoitWolf

        labels = np.zeros(len(X), np.int64) if y is None else y
        classes = np.unique(labels)
        centres = np.stack([X[labels == c].mean(axis=0) for c in classes])
        resid = X - centres[np.searchsorted(classes, labels)]
        # scaled by the within-class spread, so that shrinking towards the identity shrinks the
        # within-class correlations (not the variances of features that separate the classes)
        scale = resid.std(axis=0)
        scale[scale < 1e-12] = 1.0
        return {"mean": mean, "scale": scale, "centres": (centres - mean) / scale,
                "precision": LedoitWolf(assume_centered=True).fit(resid / scale).get_precision()}

    def _edges(self, d: int) -> list[tuple[int, int]]:
        widths = [d] if self.blocks is None else [int(b) for b in self.blocks]
        if any(b < 1 for b in widths) or sum(widths) != d:
            raise InputError(f"blocks {list(widths)} must be positive widths summing to the {d} features")
        ends = np.cumsum([0, *widths])
        return [(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]

    def _fit_cores(self, X: np.ndarray, y: np.ndarray | None) -> list[dict[str, np.ndarray]]:
        return [self._fit_core(X[:, a:b], y) for a, b in self._edges(X.shape[1])]

    def _distances(self, cores: list[dict[str, np.ndarray]], X: np.ndarray) -> np.ndarray:
        """``(n, n_blocks)`` distances."""
        return np.stack([self._distance(c, X[:, a:b]) for c, (a, b) in zip(cores, self._edges(X.shape[1]))], axis=1)

    def _distance(self, core: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(X).all(axis=1)
        Z = (np.where(np.isfinite(X), X, 0.0) - core["mean"]) / core["scale"]
        if "train" in core:
            from sklearn.neighbors import NearestNeighbors

            nn = NearestNeighbors(n_neighbors=int(self.n_neighbors)).fit(core["train"])
            d = nn.kneighbors(Z)[0][:, -1]
        else:
            d = np.full(len(Z), np.inf)
            for c in core["centres"]:
                D = Z - c
                d = np.minimum(d, np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, core["precision"], D), 0.0)))
        d[bad] = np.inf  # a row with NaN/Inf features is not like any training row
        return d

    # ------------------------------------------------------------------ estimator API
    def fit(self, X: Any, y: Any = None, groups: Any = None) -> OODScorer:
        """Fit on training rows; ``y`` (class labels) makes Mahalanobis class-conditional.

        ``groups`` keeps rows of one group (e.g. a scan and its augmented copies, or one physical
        sample) in the same calibration fold.
        """
        self._check_params()
        X = self._features(X, reset=True)
        if not np.isfinite(X).all():
            raise InputError("training features contain NaN or Inf")
        y_arr = None if y is None else np.asarray(y)
        g = None if groups is None else np.asarray(groups)
        for a, name in ((y_arr, "y"), (g, "groups")):
            if a is not None and (a.ndim != 1 or len(a) != len(X)):
                raise InputError(f"{name} must be one value per row: {len(X)} rows but {name} has "
                                 f"shape {a.shape}")
        if y_arr is not None:
            y_arr = np.unique(y_arr, return_inverse=True)[1].astype(np.int64)
        if g is not None and len(np.unique(g)) < 2:
            raise InputError("groups: calibrating the threshold holds out whole groups, so it needs "
                             "at least 2 distinct groups, got 1")
        if len(X) < 2 * int(self.cv):
            raise InputError(f"need at least {2 * int(self.cv)} training rows to calibrate, got {len(X)}")
        edges = self._edges(X.shape[1])
        held = np.empty((len(X), len(edges)))
        for te in _folds(len(X), y_arr, g, int(self.cv), int(self.seed)):
            tr = np.setdiff1d(np.arange(len(X)), te)
            held[te] = self._distances(self._fit_cores(X[tr], None if y_arr is None else y_arr[tr]), X[te])
        scale = np.median(held, axis=0)
        self.block_scale_ = np.where(scale > 0, scale, 1.0)
        stat = (held / self.block_scale_).max(axis=1)
        self.threshold_ = conformal_quantile(stat, float(self.level))
        if self.threshold_ == 0:
            raise InputError("the training rows have no spread (held-out distances all 0: identical "
                             "rows, or one row per class), so no threshold can be calibrated")
        if not np.isfinite(self.threshold_) or self.threshold_ <= 0:
            raise InputError(f"too few training rows ({len(X)}) to calibrate a {self.level} threshold")
        self.core_ = self._fit_cores(X, y_arr)
        self.calibration_scores_ = np.sort(stat / self.threshold_)
        self.n_features_in_ = X.shape[1]
        self.offset_ = -self.threshold_
        return self

    def ood_score(self, X: Any) -> np.ndarray:
        """Distance / threshold per row: ``<= 1`` in distribution, larger is further outside (``inf`` for non-finite features)."""
        return self.block_scores(X).max(axis=1)

    def block_scores(self, X: Any) -> np.ndarray:
        """``(n, n_blocks)``: each block's share of :meth:`ood_score` (their maximum is it), so a
        report can say which block of features puts a row outside."""
        check_is_fitted(self, "core_")
        d = self._distances(self.core_, self._features(X, reset=False))
        return d / self.block_scale_ / self.threshold_

    def score_samples(self, X: Any) -> np.ndarray:
        """Minus the statistic (scikit-learn's convention for outlier detectors: lower is more abnormal)."""
        return -self.ood_score(X) * self.threshold_

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples - offset_``: negative outside the training distribution."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 in distribution, -1 outside (scikit-learn's outlier convention)."""
        return np.where(self.ood_score(X) <= 1.0, 1, -1)

    def p_value(self, X: Any) -> np.ndarray:
        """Conformal p-value: the share of held-out training rows scoring at least as far out."""
        s = self.ood_score(X)
        cal = self.calibration_scores_
        return (1.0 + len(cal) - np.searchsorted(cal, s, side="left")) / (len(cal) + 1.0)

    # ------------------------------------------------------------------ persistence
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, arrays)``: JSON-serialisable parameters and float arrays (safetensors-ready)."""
        check_is_fitted(self, "core_")
        params = self.get_params()
        params["blocks"] = None if self.blocks is None else [int(b) for b in self.blocks]
        config = {"kind": "ood_scorer", "version": STATE_VERSION, **params,
                  "threshold": float(self.threshold_), "block_scale": [float(v) for v in self.block_scale_],
                  "n_features": int(self.n_features_in_)}
        arrays = {f"ood.{i}.{k}": np.ascontiguousarray(v, dtype=np.float64)
                  for i, core in enumerate(self.core_) for k, v in core.items()}
        arrays["ood.calibration_scores"] = np.asarray(self.calibration_scores_, np.float64)
        if hasattr(self, "feature_names_in_"):
            config["feature_names"] = [str(n) for n in self.feature_names_in_]
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> OODScorer:
        """Rebuild a fitted scorer from :meth:`to_state` output."""
        if config.get("kind") != "ood_scorer" or int(config.get("version", -1)) != STATE_VERSION:
            raise InputError(f"not an OOD scorer state of version {STATE_VERSION}: {config.get('kind')!r}")
        self = cls(**{k: config[k] for k in ("method", "level", "n_neighbors", "cv", "seed", "blocks")})
        self._check_params()
        need = {"mean", "scale"} | ({"train"} if self.method == "knn" else {"centres", "precision"})
        self.core_ = []
        for i, (a, b) in enumerate(self._edges(int(config["n_features"]))):
            core = {k: np.asarray(arrays[f"ood.{i}.{k}"], np.float64) for k in need if f"ood.{i}.{k}" in arrays}
            if set(core) != need:
                raise InputError(f"OOD scorer state lacks arrays {sorted(need - set(core))} of block {i}")
            w = b - a
            shapes = {"mean": (w,), "scale": (w,), "precision": (w, w)}
            bad = [k for k, v in core.items() if (k in shapes and v.shape != shapes[k])
                   or (k in ("centres", "train") and (v.ndim != 2 or v.shape[1] != w or not len(v)))]
            if bad or not all(np.isfinite(v).all() for v in core.values()):
                raise InputError(f"OOD scorer block {i}: arrays {bad or 'with NaN/Inf'} do not fit "
                                 f"its {w} features")
            self.core_.append(core)
        self.block_scale_ = np.asarray(config["block_scale"], np.float64)
        if len(self.block_scale_) != len(self.core_):
            raise InputError(f"OOD scorer state: {len(self.block_scale_)} block scales for "
                             f"{len(self.core_)} blocks")
        self.threshold_ = float(config["threshold"])
        self.offset_ = -self.threshold_
        self.n_features_in_ = int(config["n_features"])
        if config.get("feature_names") is not None:
            self.feature_names_in_ = np.asarray(config["feature_names"], dtype=object)
            if self.feature_names_in_.shape != (self.n_features_in_,):
                raise InputError(f"OOD scorer state: {self.feature_names_in_.size} feature names "
                                 f"for {self.n_features_in_} features")
        self.calibration_scores_ = np.asarray(arrays.get("ood.calibration_scores", np.zeros(0)), np.float64)
        return self


def verdict(proba: Any, label_names: Sequence[str], ood_score: float,
            conformal: Any = None) -> dict[str, Any]:
    """The per-scan report: ``{"temper", "ood_score", "in_distribution", "prediction_set"}``.

    Parameters
    ----------
    proba : array (k,)
        The scan's class probabilities, in the order of ``label_names``.
    label_names : sequence of str
    ood_score : float
        :meth:`OODScorer.ood_score` of the scan's feature row (``<= 1``: in distribution).
    conformal : ConformalSets, optional
        Fitted prediction sets (:class:`shapekit.temper.conformal.ConformalSets`); without it the
        set is the most probable label alone.

    Returns
    -------
    dict
        ``temper``: the most probable label, or ``"unknown"`` outside the training distribution;
        ``ood_score`` (float, ``inf`` for unusable features); ``in_distribution`` (bool);
        ``prediction_set``: labels, most probable first, holding the true one with the
        calibrated coverage (empty outside the training distribution, where no coverage holds;
        with the ``"lac"`` score it may also be empty inside it, when no label is plausible enough
        at that coverage; an ``"aps"`` set always holds ``temper``).

    Examples
    --------
    >>> verdict([0.2, 0.7, 0.1], ["a", "b", "c"], 0.4)
    {'temper': 'b', 'ood_score': 0.4, 'in_distribution': True, 'prediction_set': ['b']}
    >>> verdict([0.2, 0.7, 0.1], ["a", "b", "c"], 3.2)["temper"]
    'unknown'
    """
    p = np.asarray(proba, dtype=np.float64).ravel()
    if len(p) != len(label_names):
        raise InputError(f"{len(p)} probabilities for {len(label_names)} labels")
    score = float(ood_score)
    inside = bool(score <= 1.0)
    if not inside:
        return {"temper": "unknown", "ood_score": score, "in_distribution": False, "prediction_set": []}
    if conformal is None:
        pset = [str(label_names[int(np.argmax(p))])]
    else:
        pset = conformal.label_sets(p[None], label_names)[0]
    return {"temper": str(label_names[int(np.argmax(p))]), "ood_score": score, "in_distribution": True,
            "prediction_set": pset}
