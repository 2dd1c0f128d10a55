"""Calibrated temper classifiers on TopTemp feature matrices: XGBoost, logistic regression, RBF SVM.

:class:`TopTempClassifier` is a scikit-learn classifier (any label values, ``classes_``,
``predict_proba``; it passes ``sklearn.utils.estimator_checks``): it standardises the features,
fits one of three cores, and calibrates its raw scores with
:class:`~shapekit.temper.probabilities.TemperatureScaler` fitted on out-of-fold scores (grouped
folds when ``groups`` are given to ``fit``).  Every learned quantity is a plain array, a JSON
value or XGBoost's own JSON model: :meth:`TopTempClassifier.get_state` /
:meth:`TopTempClassifier.from_state` round-trip a model without pickle.  The SVM's one-vs-one
decision function is evaluated here from its support vectors (libsvm's formula), so no sklearn
object needs to be restored.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
.. [2] T. Chen, C. Guestrin, "XGBoost: A Scalable Tree Boosting System", KDD 2016.
.. [3] C.-C. Chang, C.-J. Lin, "LIBSVM: A library for support vector machines", ACM TIST 2011.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from shapekit._params import check_bool, check_int, check_number
from shapekit.errors import InputError, ModelFormatError
from shapekit.temper.probabilities import TemperatureScaler, softmax

MODELS = ("xgboost", "logreg", "svm")


def _finite_rows(X: np.ndarray) -> np.ndarray:
    """``X`` if every value is finite, else a one-line :class:`InputError` naming the first row."""
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0, 0])
        raise InputError(f"feature row {bad} contains NaN or Inf")
    return X


def svm_ovo_decision(X: np.ndarray, sv: np.ndarray, dual_coef: np.ndarray, intercept: np.ndarray,
                     n_support: np.ndarray, gamma: float) -> np.ndarray:
    """One-vs-one decision values of a fitted RBF SVM, columns ordered (0,1), (0,2), ..., (k-2,k-1).

    Positive values vote for the first class of the pair (libsvm's convention; equals sklearn's
    ``SVC(decision_function_shape="ovo").decision_function`` for k > 2).

    Examples
    --------
    >>> from sklearn.svm import SVC
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(30, 2)); y = np.arange(30) % 3
    >>> m = SVC(decision_function_shape="ovo").fit(X, y)
    >>> d = svm_ovo_decision(X, m.support_vectors_, m.dual_coef_, m.intercept_, m.n_support_,
    ...                      m._gamma)
    >>> bool(np.allclose(d, m.decision_function(X)))
    True
    """
    sq = (X ** 2).sum(1)[:, None] + (sv ** 2).sum(1)[None, :] - 2.0 * X @ sv.T
    K = np.exp(-gamma * np.maximum(sq, 0.0))
    starts = np.concatenate([[0], np.cumsum(n_support)])
    k = len(n_support)
    cols, p = [], 0
    for i in range(k):
        for j in range(i + 1, k):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            d = K[:, si] @ dual_coef[j - 1, si] + K[:, sj] @ dual_coef[i, sj] + intercept[p]
            cols.append(d)
            p += 1
    return np.stack(cols, axis=1)


def ovo_to_scores(dec: np.ndarray, k: int) -> np.ndarray:
    """One-vs-one decision values -> per-class scores (votes plus squashed confidence sums).

    For two classes this is ``[d, -d] / 2`` style symmetric scores. Same transform as sklearn's
    ``decision_function_shape="ovr"``.

    Examples
    --------
    >>> ovo_to_scores(np.array([[2.0, 1.0, -1.0]]), 3).argmax(1).tolist()
    [0]
    """
    n = len(dec)
    votes = np.zeros((n, k))
    conf = np.zeros((n, k))
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            d = dec[:, p]
            votes[:, i] += d > 0
            votes[:, j] += d <= 0
            conf[:, i] += d
            conf[:, j] -= d
            p += 1
    if k == 2:
        return conf / 2.0
    scaled = conf / (3 * (np.abs(conf) + 1))
    return votes + scaled


class TopTempClassifier(ClassifierMixin, BaseEstimator):
    """Standardise -> XGBoost / logistic regression / RBF SVM -> temperature-scaled probabilities.

    Parameters
    ----------
    model : {"svm", "logreg", "xgboost"}
        The core classifier.
    C : float
        Inverse regularisation of logreg and SVM.
    n_estimators, max_depth, learning_rate, max_bin : int, int, float, int
        XGBoost parameters (histogram tree method; 100 rounds at 0.15 with 64 bins scored within
        one scan of 300 rounds at 0.05 with 256 bins on uhcs3, in a fifth of the time:
        RESULTS.md section 1).
    calibrate : bool
        Fit a :class:`TemperatureScaler` on out-of-fold scores (``cv`` folds, grouped when
        ``groups`` are passed to :meth:`fit`).
    cv : int
        Folds for the out-of-fold scores.
    random_state : int or None
        Seeds XGBoost and the calibration folds (None: fresh randomness each fit). A
        ``RandomState`` instance is refused: the parameters are saved as JSON.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted (any values: strings, ints, ...); columns of :meth:`predict_proba`.
    n_features_in_ : int
    mean_, scale_ : ndarray
        Feature standardisation.
    calibrator_ : TemperatureScaler or None
    oof_scores_ : ndarray or None
        Out-of-fold raw scores of the training rows (the calibration's; not saved).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (40, 3)), rng.normal(2, 1, (40, 3))]; y = ["a"] * 40 + ["b"] * 40
    >>> clf = TopTempClassifier("logreg").fit(X, y)
    >>> clf.predict(np.array([[0., 0, 0], [2, 2, 2]])).tolist(), clf.classes_.tolist()
    (['a', 'b'], ['a', 'b'])
    >>> clf2 = TopTempClassifier.from_state(*clf.get_state())
    >>> bool(np.allclose(clf2.predict_proba(X), clf.predict_proba(X)))
    True
    """

    def __init__(self, model: str = "svm", C: float = 10.0, n_estimators: int = 100,
                 max_depth: int = 3, learning_rate: float = 0.15, max_bin: int = 64,
                 calibrate: bool = True, cv: int = 5, random_state: int = 0) -> None:
        self.model = model
        self.C = C
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.max_bin = max_bin
        self.calibrate = calibrate
        self.cv = cv
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any, groups: Any = None) -> TopTempClassifier:
        """Fit on ``(n, d)`` features and labels of at least two classes.

        ``groups`` (one id per row, optional): rows of one group stay on one side of every
        calibration fold (e.g. the tiles of a scan, or the scans of one physical sample).
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        _finite_rows(X)
        check_classification_targets(y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InputError(f"only 1 class ({self.classes_.tolist()[0]!r}) in the labels: "
                             f"need at least 2 classes to fit")
        self.mean_ = X.mean(0)
        self.scale_ = X.std(0)
        self.scale_[self.scale_ < 1e-12] = 1.0
        Xs = (X - self.mean_) / self.scale_
        self.core_ = self._fit_core(Xs, yi)
        self.calibrator_ = None
        self.oof_scores_ = None
        if self.calibrate:
            oof = self._oof_scores(Xs, yi, groups)
            if oof is not None:
                self.calibrator_ = TemperatureScaler().fit(oof, yi)
                self.oof_scores_ = oof
        return self

    def _check_params(self) -> None:
        """Raise :class:`InputError` on a bad parameter, before any work (every parameter, used
        by the chosen core or not, as scikit-learn does)."""
        if self.model not in MODELS:
            raise InputError(f"model must be one of {MODELS}, got {self.model!r}")
        rs = self.random_state
        if rs is not None and (isinstance(rs, bool) or not isinstance(rs, numbers.Integral)):
            raise InputError(f"random_state must be an int or None (the model's parameters are "
                             f"saved as JSON), got {type(rs).__name__}")
        check_int("random_state", rs, 0, 2**32 - 1, none=True)
        check_number("C", self.C, low=0, low_open=True, finite=False)
        check_int("n_estimators", self.n_estimators, low=1)
        check_int("max_depth", self.max_depth, low=0)         # XGBoost: 0 = no depth limit
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_int("max_bin", self.max_bin, low=2)
        check_bool("calibrate", self.calibrate)
        check_int("cv", self.cv, low=2)

    def oof_proba(self) -> np.ndarray | None:
        """Calibrated out-of-fold probabilities of the training rows (from the calibration folds:
        each row scored by a core fitted without its fold), or None when not calibrated.

        Examples
        --------
        >>> rng = np.random.default_rng(0); y = np.arange(60) % 2
        >>> X = rng.normal(size=(60, 2)); X[:, 0] += 4 * y
        >>> P = TopTempClassifier("logreg").fit(X, y).oof_proba()
        >>> P.shape, float((P.argmax(1) == y).mean()) > 0.9
        ((60, 2), True)
        """
        check_is_fitted(self, "core_")
        oof = getattr(self, "oof_scores_", None)
        return None if oof is None else self.calibrator_.predict_proba(oof)

    def _oof_scores(self, Xs: np.ndarray, y: np.ndarray, groups: Any = None) -> np.ndarray | None:
        """Out-of-fold raw scores of standardised features (None when a class is too small)."""
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != len(y):
                raise InputError(f"{len(groups)} groups for {len(y)} rows")
            n_splits = min(int(self.cv), len(np.unique(groups)))
            if n_splits < 2:
                return None
            splits = GroupKFold(n_splits).split(Xs, y, groups)
        else:
            n_splits = min(int(self.cv), int(np.bincount(y).min()))
            if n_splits < 2:
                return None
            splits = StratifiedKFold(n_splits, shuffle=True,
                                     random_state=self.random_state).split(Xs, y)
        oof = np.zeros((len(y), len(self.classes_)))
        for tr, te in splits:
            if len(np.unique(y[tr])) != len(self.classes_):
                return None
            core = self._fit_core(Xs[tr], y[tr])
            oof[te] = self._scores(core, Xs[te])
        return oof

    def _fit_core(self, Xs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        k = len(self.classes_)
        if self.model == "logreg":
            from sklearn.linear_model import LogisticRegression

            m = LogisticRegression(C=float(self.C), max_iter=5000).fit(Xs, y)
            return {"coef": m.coef_.astype(np.float64), "intercept": m.intercept_.astype(np.float64)}
        if self.model == "svm":
            from sklearn.svm import SVC

            m = SVC(C=float(self.C), kernel="rbf", gamma="scale").fit(Xs, y)
            gamma = 1.0 / (Xs.shape[1] * Xs.var()) if Xs.var() > 0 else 1.0
            dual = m.dual_coef_.astype(np.float64)
            icpt = m.intercept_.astype(np.float64)
            if k == 2:  # sklearn flips the sign of binary libsvm models; undo for the ovo formula
                dual, icpt = -dual, -icpt
            return {"sv": m.support_vectors_.astype(np.float64), "dual_coef": dual,
                    "intercept": icpt, "n_support": m.n_support_.astype(np.int64),
                    "gamma": np.array([gamma])}
        import xgboost as xgb

        m = xgb.XGBClassifier(n_estimators=int(self.n_estimators), max_depth=int(self.max_depth),
                              learning_rate=float(self.learning_rate), subsample=0.8,
                              colsample_bytree=0.5, n_jobs=1, random_state=None if self.random_state is None else int(self.random_state),
                              tree_method="hist", max_bin=int(self.max_bin))
        m.fit(Xs, y)
        return {"booster": m.get_booster()}

    def _scores(self, core: dict[str, Any], Xs: np.ndarray) -> np.ndarray:
        if self.model == "logreg":
            z = Xs @ core["coef"].T + core["intercept"]
            return np.c_[np.zeros(len(z)), z] if core["coef"].shape[0] == 1 else z
        if self.model == "svm":
            dec = svm_ovo_decision(Xs, core["sv"], core["dual_coef"], core["intercept"],
                                   core["n_support"], float(core["gamma"][0]))
            return ovo_to_scores(dec, len(self.classes_))
        import xgboost as xgb

        z = core["booster"].predict(xgb.DMatrix(Xs), output_margin=True)
        z = np.asarray(z, dtype=np.float64)
        return np.c_[np.zeros(len(z)), z] if z.ndim == 1 else z

    # --------------------------------------------------------------- prediction
    def raw_scores(self, X: Any) -> np.ndarray:
        """Uncalibrated per-class scores ``(n, n_classes)`` of the core classifier."""
        check_is_fitted(self, "core_")
        X = _finite_rows(validate_data(self, X, reset=False, dtype=np.float64,
                                       ensure_all_finite=False))
        return self._scores(self.core_, (X - self.mean_) / self.scale_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities ``(n, n_classes)``, columns in ``classes_`` order."""
        s = self.raw_scores(X)
        return self.calibrator_.predict_proba(s) if self.calibrator_ is not None else softmax(s)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each row."""
        p = self.predict_proba(X)
        return self.classes_[p.argmax(1)]

    # ---------------------------------------------------------- serialisation
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray], bytes | None]:
        """``(json_config, arrays, xgboost_json_bytes_or_None)``: everything, no pickle."""
        check_is_fitted(self, "core_")
        cfg = {"params": self.get_params(), "classes": self.classes_.tolist(),
               "n_features": int(self.n_features_in_),
               "calibration": self.calibrator_.to_dict() if self.calibrator_ is not None else None}
        arrays = {"mean": self.mean_, "scale": self.scale_}
        raw = None
        if self.model == "xgboost":
            raw = bytes(self.core_["booster"].save_raw("json"))
        else:
            arrays.update({f"core.{k}": np.asarray(v) for k, v in self.core_.items()})
        return cfg, arrays, raw

    @classmethod
    def from_state(cls, cfg: dict[str, Any], arrays: dict[str, np.ndarray],
                   xgb_raw: bytes | None = None, classes: Any = None) -> TopTempClassifier:
        """Rebuild a fitted classifier from :meth:`get_state` output.

        ``classes`` replaces the stored labels (states written before labels were stored hold
        ``n_classes`` only: their labels are the model directory's label names).
        """
        try:
            params = dict(cfg["params"])
            if "seed" in params:                     # format-1 model directories
                params["random_state"] = params.pop("seed")
            obj = cls(**params)
            labels = cfg["classes"] if classes is None and "classes" in cfg else classes
            obj.classes_ = np.asarray(range(int(cfg["n_classes"])) if labels is None else labels)
            obj.n_features_in_ = int(cfg["n_features"])
            obj.mean_, obj.scale_ = np.asarray(arrays["mean"]), np.asarray(arrays["scale"])
            if obj.model == "xgboost":
                import xgboost as xgb

                if xgb_raw is None:
                    raise KeyError("xgboost model JSON")
                booster = xgb.Booster()
                booster.load_model(bytearray(xgb_raw))
                obj.core_ = {"booster": booster}
            else:
                obj.core_ = {k[5:]: np.asarray(v) for k, v in arrays.items() if k.startswith("core.")}
                need = {"logreg": {"coef", "intercept"},
                        "svm": {"sv", "dual_coef", "intercept", "n_support", "gamma"}}[obj.model]
                if not need <= set(obj.core_):
                    raise KeyError(sorted(need - set(obj.core_)))
            cal = cfg.get("calibration")
            obj.calibrator_ = TemperatureScaler.from_dict(cal) if cal else None
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ModelFormatError):
                raise
            raise ModelFormatError(f"invalid classifier state: missing or bad {e}") from None
        if len(obj.mean_) != obj.n_features_in_:
            raise ModelFormatError(f"classifier state has {len(obj.mean_)} feature means for "
                                   f"{obj.n_features_in_} features")
        if obj.calibrator_ is not None and len(obj.calibrator_.bias_) != len(obj.classes_):
            raise ModelFormatError(f"classifier state has {len(obj.calibrator_.bias_)} calibration "
                                   f"biases for {len(obj.classes_)} classes")
        return obj
