"""Model selection at the scan level: scikit-learn splitters and GridSearchCV over scans.

Folds split scans, never the tiles of one scan (a sample of
:class:`~shapekit.temper.pooling.ScanClassifier` is a scan).  When the data has physical-sample
groups (a manifest's group column) folds never split a group either: leave-one-group-out when
there are at most ``n_splits`` groups, else ``StratifiedGroupKFold``; without groups,
``StratifiedKFold``.  :func:`select_model` runs ``GridSearchCV`` (accuracy, macro-F1 breaking
ties, the first candidate winning exact ties) and refits the best on every scan.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["scan_splitter", "select_model", "cv_table", "scores", "misclassified"]


def scan_splitter(y: Sequence[Any], groups: Sequence[Any] | None = None, n_splits: int = 5,
                  seed: int = 0) -> Any:
    """The cross-validation splitter for scans with labels ``y`` (and optional ``groups``).

    Examples
    --------
    >>> scan_splitter(np.array([0, 1] * 5))
    StratifiedKFold(n_splits=5, random_state=0, shuffle=True)
    >>> scan_splitter([0, 1, 0, 1], ["a", "a", "b", "b"])
    LeaveOneGroupOut()
    >>> scan_splitter([0, 1] * 4, list("aabbccdd"), n_splits=2)
    StratifiedGroupKFold(n_splits=2, random_state=0, shuffle=True)
    >>> scan_splitter([0, 0, 1, 1, 2, 2], list("abcdef"), n_splits=5)   # 2 scans per class
    StratifiedGroupKFold(n_splits=2, random_state=0, shuffle=True)
    """
    from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    counts = np.unique(np.asarray(y), return_counts=True)[1]
    if groups is not None:
        ng = len(np.unique(np.asarray(groups)))
        if ng < 2:
            raise InputError(f"grouped cross-validation needs at least 2 groups, got {ng}")
        if n_splits >= ng:
            return LeaveOneGroupOut()
        k = min(int(n_splits), int(counts.max()))    # StratifiedGroupKFold's own limit
        if k < 2:
            raise InputError("cross-validation needs at least 2 scans of some class")
        return StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    k = min(int(n_splits), int(counts.min()))
    if k < 2:
        raise InputError("cross-validation needs at least 2 scans of every class")
    return StratifiedKFold(k, shuffle=True, random_state=seed)


def _best_index(cv_results: dict[str, Any]) -> int:
    """Best mean accuracy; macro-F1 breaks ties; the first candidate wins exact ties."""
    acc = np.round(cv_results["mean_test_accuracy"], 12)
    f1 = np.round(cv_results["mean_test_macro_f1"], 12)
    return max(range(len(acc)), key=lambda i: (acc[i], f1[i], -i))


class _Ticking:
    """A scorer that also advances a progress bar: one tick per candidate and fold."""

    def __init__(self, scorer: Any, bar: Any) -> None:
        self.scorer, self.bar = scorer, bar

    def __call__(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> float:
        value = self.scorer(estimator, X, y, **kwargs)
        self.bar.update(1)
        return value


def select_model(scans: Sequence[Any], y: Sequence[Any], param_grid: dict[str, Any] | list,
                 estimator: Any = None, groups: Sequence[Any] | None = None, cv: Any = 5,
                 seed: int = 0, n_jobs: int | None = 1, desc: str | None = "model selection") -> Any:
    """``GridSearchCV`` over scan classifiers, refitted on every scan with the best parameters.

    Parameters
    ----------
    scans : list of ScanTiles
        One sample per scan (see :mod:`shapekit.temper.pooling`).
    y : sequence
        Scan labels.
    param_grid : dict or list of dict
        ``ScanClassifier`` parameters, e.g. ``{"aggregation": ["features", "proba"],
        "estimator__C": [1, 10]}``.
    estimator : ScanClassifier, optional
        Default ``ScanClassifier(TopTempClassifier())``.
    groups : sequence, optional
        Physical sample of each scan (grouped folds, see :func:`scan_splitter`).
    cv : int or splitter or iterable of (train, test)
        An int is ``n_splits`` of :func:`scan_splitter`.
    seed : int
    n_jobs : int or None
        Fits run at once, in threads (the classifiers release the GIL); the result does not
        depend on it. None or -1: every core.
    desc : str or None
        Label of a progress bar over the candidates x folds (None: no bar).

    Returns
    -------
    sklearn.model_selection.GridSearchCV
        Fitted: ``best_estimator_``, ``best_params_``, ``cv_results_`` (see :func:`cv_table`).

    Examples
    --------
    >>> from shapekit.temper.pooling import ScanTiles
    >>> rng = np.random.default_rng(0); y = np.arange(20) % 2
    >>> scans = [ScanTiles(rng.normal(3.0 * c, 1.0, (3, 2))) for c in y]
    >>> gs = select_model(scans, y, {"aggregation": ["features", "proba"]}, cv=4)
    >>> sorted(gs.best_params_), gs.best_estimator_.predict(scans[:2]).tolist()
    (['aggregation'], [0, 1])
    """
    from joblib import parallel_config
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import GridSearchCV, ParameterGrid

    from shapekit._progress import progress
    from shapekit.temper.classifier import TopTempClassifier
    from shapekit.temper.pooling import ScanClassifier

    if isinstance(cv, int):
        cv = scan_splitter(y, groups, cv, seed)
    est = ScanClassifier(TopTempClassifier(random_state=seed)) if estimator is None else estimator
    g = None if groups is None else np.asarray(groups)
    n_fits = len(ParameterGrid(param_grid)) * cv.get_n_splits(list(scans), np.asarray(y), g) \
        if hasattr(cv, "get_n_splits") else None
    bar = progress(iter(()), desc=desc, total=n_fits, disable=True if desc is None else None)
    scoring = {"accuracy": "accuracy", "macro_f1": _Ticking(get_scorer("f1_macro"), bar)}
    gs = GridSearchCV(est, param_grid, scoring=scoring, refit=_best_index, cv=cv, error_score="raise",
                      n_jobs=n_jobs or -1)
    try:
        with parallel_config(backend="threading"):
            return gs.fit(list(scans), np.asarray(y), groups=g)
    finally:
        bar.close()


def cv_table(search: Any) -> list[dict[str, Any]]:
    """One row per candidate of a fitted :func:`select_model`: parameters, mean accuracy, F1.

    Examples
    --------
    >>> class S: cv_results_ = {"params": [{"aggregation": "proba"}], "mean_test_accuracy": [0.9],
    ...                         "mean_test_macro_f1": [0.8888888]}
    >>> cv_table(S())
    [{'params': {'aggregation': 'proba'}, 'accuracy': 0.9, 'macro_f1': 0.8889}]
    """
    r = search.cv_results_
    return [{"params": {k: (v if isinstance(v, (str, int, float, bool)) or v is None else repr(v))
                        for k, v in p.items()},
             "accuracy": round(float(a), 4), "macro_f1": round(float(f), 4)}
            for p, a, f in zip(r["params"], r["mean_test_accuracy"], r["mean_test_macro_f1"])]


def scores(y: Sequence[Any], proba: np.ndarray, labels: Sequence[Any]) -> dict[str, Any]:
    """``{"n", "accuracy", "macro_f1", "labels", "confusion"}`` of ``labels[argmax(proba)]``.

    Examples
    --------
    >>> s = scores(["a", "b", "b"], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ["a", "b"])
    >>> s["accuracy"], s["confusion"]
    (0.6667, [[1, 0], [1, 1]])
    """
    from sklearn.metrics import confusion_matrix, f1_score

    labels = list(labels)
    y = np.asarray(y)
    pred = np.asarray(labels, dtype=object)[np.asarray(proba).argmax(1)]
    yo = y.astype(object)
    return {"n": int(len(y)), "accuracy": round(float((pred == yo).mean()), 4),
            "macro_f1": round(float(f1_score(yo, pred, average="macro", labels=labels,
                                             zero_division=0)), 4),
            "labels": [str(v) for v in labels],
            "confusion": confusion_matrix(yo, pred, labels=labels).tolist()}


def misclassified(images: Sequence[str], y: Sequence[Any], proba: np.ndarray,
                  labels: Sequence[Any]) -> list[dict[str, Any]]:
    """The scans whose most probable label is not their true one, most confident mistake first:
    ``[{"image", "true", "predicted", "probabilities": {label: p}}, ...]``.

    Examples
    --------
    >>> misclassified(["a.tif", "b.tif"], ["x", "y"], np.array([[0.9, 0.1], [0.7, 0.3]]), ["x", "y"])
    [{'image': 'b.tif', 'true': 'y', 'predicted': 'x', 'probabilities': {'x': 0.7, 'y': 0.3}}]
    """
    labels = [str(v) for v in labels]
    P = np.asarray(proba, dtype=np.float64)
    pred = P.argmax(1)
    out = [{"image": str(im), "true": str(t), "predicted": labels[k],
            "probabilities": {lab: round(float(v), 6) for lab, v in zip(labels, p)}}
           for im, t, k, p in zip(images, y, pred, P) if labels[k] != str(t)]
    return sorted(out, key=lambda r: -r["probabilities"][r["predicted"]])
