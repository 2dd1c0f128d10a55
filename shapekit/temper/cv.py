"""Cross-validation of temper models at the scan level (tiles never straddle folds).

Folds are built over scans: stratified k-fold, or grouped (leave-groups-out, ``GroupKFold``) when
the manifest has a group column, so that tiles or images of one physical sample never sit on both
sides of a split. :func:`cv_topotemp` returns scan-level out-of-fold probabilities for one
classifier and one tile -> scan aggregation; :func:`select_by_cv` picks the best combination.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.temper.aggregate import AGGREGATIONS, average_log_proba, pool_by_group
from shapekit.temper.classifier import TopTempClassifier


def scan_folds(y: np.ndarray, groups: np.ndarray | None = None, n_splits: int = 5,
               seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test scan indices: stratified k-fold, or grouped folds when ``groups`` is given.

    With groups, ``n_splits`` is capped at the number of groups (``n_splits >= n_groups`` gives
    leave-one-group-out).

    Examples
    --------
    >>> f = scan_folds(np.array([0, 1] * 5), n_splits=5)
    >>> len(f), sorted(np.concatenate([te for _, te in f]).tolist()) == list(range(10))
    (5, True)
    >>> g = scan_folds(np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "b"]))
    >>> [te.tolist() for _, te in g]
    [[0, 1], [2, 3]]
    """
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedKFold

    y = np.asarray(y)
    idx = np.arange(len(y))
    if groups is not None:
        groups = np.asarray(groups)
        ng = len(np.unique(groups))
        if ng < 2:
            raise InputError(f"grouped cross-validation needs at least 2 groups, got {ng}")
        if n_splits >= ng:
            folds = list(LeaveOneGroupOut().split(idx, y, groups))
        else:
            folds = list(GroupKFold(n_splits).split(idx, y, groups))
        return sorted(folds, key=lambda f: f[1][0])
    k = min(n_splits, int(np.bincount(np.unique(y, return_inverse=True)[1]).min()))
    if k < 2:
        raise InputError("cross-validation needs at least 2 scans of every class")
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y))


def training_rows(tile_X: np.ndarray, tile_scan: np.ndarray, y: np.ndarray, train: np.ndarray,
                  aggregation: str, groups: np.ndarray | None = None,
                  aug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training matrix, labels and calibration groups for the scans in ``train``.

    ``aggregation="features"``: one row per scan (mean of its tile features); ``"proba"``: one row
    per tile. ``aug = (X, scan, copy)`` adds tiles of perturbed copies of the scans (training
    augmentation); rows of one scan, original or copy, share a calibration group (the scan's group,
    or the scan itself), so out-of-fold calibration never sees a copy of a held-out scan.

    Examples
    --------
    >>> X = np.arange(8.0).reshape(4, 2); sc = np.array([0, 0, 1, 1]); y = np.array([0, 1])
    >>> Xt, yt, gt = training_rows(X, sc, y, np.array([0, 1]), "features")
    >>> Xt.tolist(), yt.tolist(), gt.tolist()
    ([[1.0, 2.0], [5.0, 6.0]], [0, 1], [0, 1])
    """
    train = np.asarray(train)
    gid = (lambda sc: sc) if groups is None else (lambda sc: groups[sc])
    parts = [(tile_X, tile_scan, np.zeros(len(tile_scan), np.int64))]
    if aug is not None:
        parts.append((aug[0], aug[1], np.asarray(aug[2], np.int64) + 1))
    Xs, ys, gs = [], [], []
    for X, sc, cp in parts:
        keep = np.isin(sc, train)
        X, sc, cp = X[keep], sc[keep], cp[keep]
        if aggregation == "features":
            keys, inv = np.unique(np.c_[cp, sc], axis=0, return_inverse=True)
            X = pool_by_group(X, inv.ravel(), len(keys))
            sc = keys[:, 1]
        Xs.append(X)
        ys.append(y[sc])
        gs.append(gid(sc))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs)


def fit_predict_scans(tile_X: np.ndarray, tile_scan: np.ndarray, y: np.ndarray,
                      train: np.ndarray, test: np.ndarray, clf_params: dict[str, Any],
                      aggregation: str, groups: np.ndarray | None = None,
                      test_X: np.ndarray | None = None, test_scan: np.ndarray | None = None,
                      aug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Fit on the tiles of the ``train`` scans, return probabilities of the ``test`` scans.

    ``test_X``/``test_scan`` (same scan numbering) replace the test tiles, e.g. by features of
    perturbed scans in a robustness study (train clean, test perturbed); ``aug`` adds perturbed
    training copies (see :func:`training_rows`).
    """
    if aggregation not in AGGREGATIONS:
        raise InputError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if test_X is None:
        test_X, test_scan = tile_X, tile_scan
    Xt, yt, gt = training_rows(tile_X, tile_scan, y, train, aggregation, groups, aug)
    clf = TopTempClassifier(**clf_params).fit(Xt, yt, gt)
    if aggregation == "features":
        return clf.predict_proba(pool_by_group(test_X, test_scan, len(y))[test])
    te_tiles = np.isin(test_scan, test)
    remap = {s: i for i, s in enumerate(test)}
    ids = np.array([remap[s] for s in test_scan[te_tiles]], dtype=np.int64)
    return average_log_proba(clf.predict_proba(test_X[te_tiles]), ids, len(test))


def cv_topotemp(tile_X: np.ndarray, tile_scan: np.ndarray, y: np.ndarray,
                folds: Sequence[tuple[np.ndarray, np.ndarray]], clf_params: dict[str, Any],
                aggregation: str = "features", groups: np.ndarray | None = None,
                aug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Scan-level out-of-fold probabilities ``(n_scans, k)`` of a TopTemp classifier.

    Parameters
    ----------
    tile_X : ndarray (n_tiles, d)
        Tile features.
    tile_scan : ndarray of int (n_tiles,)
        Scan index of each tile.
    y : ndarray of int (n_scans,)
        Scan labels ``0..k-1``.
    folds : list of (train, test) scan indices
        From :func:`scan_folds`.
    clf_params : dict
        :class:`TopTempClassifier` parameters.
    aggregation : {"features", "proba"}
        Pool tile features per scan before classifying, or average tile probabilities.
    groups : ndarray, optional
        Group per scan (for grouped calibration folds).
    aug : (X, scan, copy), optional
        Tile features of perturbed training copies (see :func:`training_rows`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(20) % 2; X = rng.normal(size=(40, 3)); sc = np.repeat(np.arange(20), 2)
    >>> X[:, 0] += 3 * y[sc]
    >>> p = cv_topotemp(X, sc, y, scan_folds(y, n_splits=4), {"model": "logreg"})
    >>> p.shape, float((p.argmax(1) == y).mean()) >= 0.9
    ((20, 2), True)
    """
    y = np.asarray(y, dtype=np.int64)
    k = int(y.max()) + 1
    oof = np.full((len(y), k), np.nan)
    for train, test in folds:
        oof[test] = fit_predict_scans(tile_X, tile_scan, y, np.asarray(train), np.asarray(test),
                                      clf_params, aggregation, groups, aug=aug)
    return oof


def scores(y: np.ndarray, proba: np.ndarray, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"n", "accuracy", "macro_f1", "labels", "confusion"}`` of predictions ``argmax(proba)``.

    Examples
    --------
    >>> s = scores(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    >>> s["accuracy"], s["confusion"]
    (0.6667, [[1, 0], [1, 1]])
    """
    from sklearn.metrics import confusion_matrix, f1_score

    y = np.asarray(y, dtype=np.int64)
    k = proba.shape[1]
    pred = np.asarray(proba).argmax(1)
    return {"n": int(len(y)), "accuracy": round(float((pred == y).mean()), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro", labels=list(range(k)),
                                             zero_division=0)), 4),
            "labels": list(labels) if labels is not None else [str(i) for i in range(k)],
            "confusion": confusion_matrix(y, pred, labels=list(range(k))).tolist()}


def select_by_cv(tile_X: np.ndarray, tile_scan: np.ndarray, y: np.ndarray,
                 folds: Sequence[tuple[np.ndarray, np.ndarray]],
                 candidates: Iterable[tuple[dict[str, Any], str]],
                 groups: np.ndarray | None = None,
                 aug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                 ) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """Best ``(clf_params, aggregation)`` by CV accuracy (macro-F1 breaks ties) and the full table.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(20) % 2; X = rng.normal(size=(20, 2)); X[:, 0] += 3 * y
    >>> p, a, t = select_by_cv(X, np.arange(20), y, scan_folds(y, n_splits=4),
    ...                        [({"model": "logreg"}, "features"), ({"model": "logreg"}, "proba")])
    >>> len(t), a in ("features", "proba")
    (2, True)
    """
    table = []
    for params, agg in candidates:
        s = scores(y, cv_topotemp(tile_X, tile_scan, y, folds, params, agg, groups, aug))
        table.append({"params": dict(params), "aggregation": agg, "accuracy": s["accuracy"],
                      "macro_f1": s["macro_f1"]})
    if not table:
        raise InputError("no candidate models to compare")
    best = max(table, key=lambda r: (r["accuracy"], r["macro_f1"]))
    return best["params"], best["aggregation"], table
