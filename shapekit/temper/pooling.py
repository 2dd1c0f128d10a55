"""From tiles to scans: a scan-level scikit-learn classifier over the features of its tiles.

A sample is a scan: :class:`ScanTiles` holds the feature rows of its covering tiles, the tile
features of its randomly degraded training copies (used when fitting only) and its physical
sample group.  :class:`ScanClassifier` pools tiles into a verdict in one of two ways, the
``aggregation`` parameter (chosen by ``GridSearchCV`` in :mod:`shapekit.temper.selection`):

* ``"features"``: the row classifier sees one row per scan, the mean of its tiles' features;
* ``"proba"``: it sees every tile, and a scan's probabilities are the normalised geometric mean
  of its tiles' (a product-of-experts vote, :func:`average_log_proba`).

Because a list of scans is indexable, scikit-learn's model selection (``GridSearchCV``,
``cross_val_predict``) splits scans, never tiles of one scan.  A 2-D array is read as scans of
one tile each, so the estimator also passes scikit-learn's estimator checks.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from shapekit._params import check_choice
from shapekit.errors import InputError, brief

__all__ = ["AGGREGATIONS", "ScanTiles", "ScanClassifier", "average_log_proba"]

AGGREGATIONS = ("proba", "features")


@dataclass(frozen=True, eq=False)
class ScanTiles:
    """The tile features of one scan (one sample of :class:`ScanClassifier`).

    Attributes
    ----------
    tiles : ndarray (n_tiles, d)
        Feature rows of the scan's tiles.
    augmented : tuple of ndarray (m_c, d)
        Tile features of degraded copies of the scan: extra training rows, never predicted on.
    group : hashable or None
        Physical sample: training rows of one group share a calibration fold (None: the scan).

    Examples
    --------
    >>> s = ScanTiles(np.zeros((3, 2)), augmented=(np.ones((3, 2)),), group="spot1")
    >>> len(s), s.n_features
    (3, 2)
    """

    tiles: np.ndarray
    augmented: tuple[np.ndarray, ...] = ()
    group: Any = None

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def n_features(self) -> int:
        """Features per tile."""
        return int(np.shape(self.tiles)[1])


def average_log_proba(tile_proba: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Normalised geometric mean of the tile probabilities ``(n_tiles, k)`` of one scan.

    Examples
    --------
    >>> average_log_proba(np.array([[0.9, 0.1], [0.6, 0.4]])).round(3).tolist()
    [0.786, 0.214]
    """
    logp = np.log(np.clip(tile_proba, eps, 1.0)).mean(axis=0)
    p = np.exp(logp - logp.max())
    return p / p.sum()


class ScanClassifier(ClassifierMixin, BaseEstimator):
    """Classify scans from their tiles: pool (features or probabilities) around a row classifier.

    Parameters
    ----------
    estimator : classifier or None
        The row classifier (default :class:`~shapekit.temper.classifier.TopTempClassifier`);
        its ``fit`` takes ``groups`` (calibration folds never split a scan or a group).
    aggregation : {"proba", "features"}
        See the module docstring.

    Attributes
    ----------
    estimator_ : classifier
        The fitted row classifier.
    classes_ : ndarray

    Examples
    --------
    >>> from shapekit.temper.classifier import TopTempClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.array(["a", "b"] * 10)
    >>> scans = [ScanTiles(rng.normal(3.0 * (lab == "b"), 1.0, (4, 2))) for lab in y]
    >>> clf = ScanClassifier(TopTempClassifier("logreg"), "features").fit(scans, y)
    >>> clf.predict(scans[:4]).tolist()
    ['a', 'b', 'a', 'b']
    """

    def __init__(self, estimator: Any = None, aggregation: str = "proba") -> None:
        self.estimator = estimator
        self.aggregation = aggregation

    def _scans(self, X: Any, reset: bool) -> list[ScanTiles]:
        if isinstance(X, np.ndarray) or not isinstance(X, Sequence) or \
                (len(X) and not isinstance(X[0], (ScanTiles, np.ndarray))):
            X2 = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
            return [ScanTiles(row[None, :]) for row in X2]
        scans = [s if isinstance(s, ScanTiles) else ScanTiles(np.asarray(s)) for s in X]
        if not scans:
            raise InputError("no scans")
        d = scans[0].n_features
        for i, s in enumerate(scans):
            if np.ndim(s.tiles) != 2 or s.n_features != d or not len(s):
                raise InputError(f"scan {i}: tile features of shape {np.shape(s.tiles)}, "
                                 f"expected (n_tiles >= 1, {d})")
        if reset:
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise InputError(f"scans have {d} features per tile, {type(self).__name__} is "
                             f"expecting {self.n_features_in_}")
        return scans

    def training_rows(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The row classifier's training data: ``(rows, labels, calibration groups)``.

        Clean scans first (in order), then copy 0 of every scan that has one, copy 1, ...;
        ``"features"``: one row per scan and copy (the mean of its tiles), ``"proba"``: every
        tile.  A copy shares its scan's group (its position when the scan has none), so
        out-of-fold calibration never sees a copy of a held-out scan.
        """
        scans = self._scans(X, reset=False) if hasattr(self, "n_features_in_") else \
            self._scans(X, reset=True)
        y = np.asarray(y)
        self._check_params()
        n_copies = max((len(s.augmented) for s in scans), default=0)
        parts = [[(i, s.tiles) for i, s in enumerate(scans)]]
        parts += [[(i, s.augmented[c]) for i, s in enumerate(scans) if c < len(s.augmented)]
                  for c in range(n_copies)]
        rows, labels, groups = [], [], []
        for part in parts:
            for i, t in part:
                t = np.asarray(t, dtype=np.float64)
                r = t.mean(axis=0, keepdims=True) if self.aggregation == "features" else t
                rows.append(r)
                labels.append(np.repeat(y[i:i + 1], len(r)))
                g = scans[i].group
                groups.append(np.full(len(r), i if g is None else g,
                                      dtype=object if g is not None else np.int64))
        return np.concatenate(rows), np.concatenate(labels), np.concatenate(groups)

    def _check_params(self) -> None:
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        est = self.estimator
        if est is not None and (isinstance(est, type) or not all(
                callable(getattr(est, m, None)) for m in ("fit", "predict_proba"))):
            raise InputError(f"estimator={brief(est)} must be None or a classifier with "
                             f"fit and predict_proba (e.g. TopTempClassifier('svm'))")

    def fit(self, X: Any, y: Any) -> ScanClassifier:
        """Fit the row classifier on the tiles (and degraded copies) of the scans ``X``."""
        from shapekit.temper.classifier import TopTempClassifier

        self._check_params()
        scans = self._scans(X, reset=True)
        y = column_or_1d(y, warn=True)
        if len(y) != len(scans):
            raise InputError(f"{len(scans)} scans but {len(y)} labels")
        check_classification_targets(y)
        R, yr, gr = self.training_rows(scans, y)
        base = TopTempClassifier() if self.estimator is None else self.estimator
        if any(s.group is not None for s in scans):
            gr = np.unique(gr.astype(str), return_inverse=True)[1]
        self.estimator_ = clone(base).fit(R, yr, groups=gr)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Scan probabilities ``(n_scans, n_classes)``, columns in ``classes_`` order."""
        check_is_fitted(self, "estimator_")
        scans = self._scans(X, reset=False)
        if self.aggregation == "features":
            return self.estimator_.predict_proba(np.stack([s.tiles.mean(axis=0) for s in scans]))
        P = self.estimator_.predict_proba(np.concatenate([s.tiles for s in scans]))
        ends = np.cumsum([len(s) for s in scans])
        return np.stack([average_log_proba(P[e - len(s):e]) for s, e in zip(scans, ends)])

    def oof_proba(self, X: Any) -> np.ndarray | None:
        """Out-of-fold probabilities ``(n_scans, k)`` of the training scans ``X``, or None.

        They pool the row classifier's calibration-fold probabilities
        (:meth:`~shapekit.temper.classifier.TopTempClassifier.oof_proba`) of each scan's clean
        rows as :meth:`predict_proba` pools a new scan's: every scan is scored by a classifier
        fitted without it (nor its group), as conformal calibration needs. ``X`` must be the
        scans the classifier was fitted on, in the same order.
        """
        check_is_fitted(self, "estimator_")
        oof = getattr(self.estimator_, "oof_proba", lambda: None)()
        if oof is None:
            return None
        scans = self._scans(X, reset=False)
        sizes = [1 if self.aggregation == "features" else len(s) for s in scans]
        ends = np.cumsum(sizes)
        if len(oof) < ends[-1]:
            raise InputError(f"{len(scans)} scans, but the classifier was fitted on fewer rows")
        if self.aggregation == "features":
            return oof[:len(scans)]
        return np.stack([average_log_proba(oof[e - n:e]) for n, e in zip(sizes, ends)])

    def predict_scan(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scan probabilities (k,), tile probabilities (n_tiles, k))`` of one scan's tile rows.

        The scan's are :meth:`predict_proba`'s; a tile's are the row classifier's on that tile
        alone (with ``"features"`` aggregation the row classifier was fitted on scan means, so
        a tile's verdict is an indication, not what the scan's verdict pools).

        Examples
        --------
        >>> from shapekit.temper.classifier import TopTempClassifier
        >>> rng = np.random.default_rng(0); y = np.array(["a", "b"] * 10)
        >>> scans = [ScanTiles(rng.normal(3.0 * (lab == "b"), 1.0, (4, 2))) for lab in y]
        >>> clf = ScanClassifier(TopTempClassifier("logreg")).fit(scans, y)
        >>> p, tp = clf.predict_scan(scans[1].tiles)
        >>> bool(np.allclose(p, clf.predict_proba(scans[1:2])[0])), tp.shape
        (True, (4, 2))
        """
        check_is_fitted(self, "estimator_")
        scan = self._scans([ScanTiles(np.asarray(tiles))], reset=False)[0]
        tile_p = self.estimator_.predict_proba(scan.tiles)
        if self.aggregation == "features":
            return self.estimator_.predict_proba(scan.tiles.mean(axis=0, keepdims=True))[0], tile_p
        return average_log_proba(tile_p), tile_p

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each scan."""
        p = self.predict_proba(X)
        return self.classes_[p.argmax(axis=1)]

    # ---------------------------------------------------------- serialisation
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray], bytes | None]:
        """``({"aggregation", "classifier"}, arrays, xgboost_json)`` of a fitted
        :class:`~shapekit.temper.classifier.TopTempClassifier` core, no pickle."""
        check_is_fitted(self, "estimator_")
        cfg, arrays, raw = self.estimator_.get_state()
        return {"aggregation": self.aggregation, "classifier": cfg}, arrays, raw

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray],
                   xgb_raw: bytes | None = None, classes: Any = None) -> ScanClassifier:
        """Rebuild a fitted scan classifier from :meth:`get_state` output."""
        from shapekit.temper.classifier import TopTempClassifier

        row = TopTempClassifier.from_state(state["classifier"], arrays, xgb_raw, classes)
        obj = cls(TopTempClassifier(**row.get_params()), state["aggregation"])
        if obj.aggregation not in AGGREGATIONS:
            from shapekit.errors import ModelFormatError

            raise ModelFormatError(f"unknown aggregation {obj.aggregation!r}")
        obj.estimator_, obj.classes_, obj.n_features_in_ = row, row.classes_, row.n_features_in_
        return obj
