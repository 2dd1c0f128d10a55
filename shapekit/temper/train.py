"""Train a temper model from images or a manifest (TopTemp classifiers or the CNN).

TopTemp: scans -> covering tiles -> the preset's feature pipeline
(:mod:`shapekit.temper.presets`) -> :class:`~shapekit.temper.pooling.ScanTiles` (with the tile
features of degraded training copies) -> ``GridSearchCV`` over the tile -> scan aggregation
(:mod:`shapekit.temper.selection`; grouped folds when the manifest has a group column) -> the
calibrated :class:`~shapekit.temper.pooling.ScanClassifier` refitted on every scan ->
permutation feature importances (for ``explain``) -> a :class:`~shapekit.temper.model.TemperModel`
(``.save(out)`` writes its model directory).  CNN: the same tiles, area-downsampled, train a
:class:`~shapekit.temper.cnn.SmallResNet` with Lightning.  Which preset and model are the
defaults, and why, is measured in RESULTS.md section 1.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
.. [2] L. Breiman, "Random Forests", Machine Learning 45, 2001 (permutation importance).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.temper.presets import DEFAULT_PRESET, PRESETS
from shapekit.temper.presets import feature_params as preset_params

__all__ = ["DEFAULT_MODEL", "DEFAULT_TILE_SIZE", "MODEL_CHOICES", "CNN_DEFAULTS",
           "permutation_importance", "train_on_images", "train_model"]

DEFAULT_MODEL = "svm"
DEFAULT_TILE_SIZE = 256
MODEL_CHOICES = ("svm", "logreg", "xgboost", "cnn")
#: the CNN baseline as cross-validated on uhcs3 (tiles area-downsampled 4x to 64 px on the CPU)
CNN_DEFAULTS: dict[str, Any] = {"width": 8, "input_scale": 4, "epochs": 15}


def permutation_importance(clf: Any, X: np.ndarray, y: np.ndarray, seed: int = 0,
                           max_rows: int = 400, groups: Sequence[Any] | None = None,
                           n_repeats: int = 3) -> np.ndarray:
    """Mean increase of the log-loss when a column (or a group of columns) is shuffled [2]_,
    clipped at 0, summing to 1.

    Without ``groups`` every column is shuffled alone (scikit-learn's
    :func:`~sklearn.inspection.permutation_importance`). With ``groups`` (one key per column,
    e.g. the diagram :class:`~shapekit.topology.Block` it comes from) the columns of a group are
    shuffled together, with one row permutation: correlated columns no longer mask each other,
    and there are as many model calls as groups instead of columns. A group's importance is
    then shared equally by its columns (only group sums are meaningful).

    Examples
    --------
    >>> from shapekit.temper.classifier import TopTempClassifier
    >>> rng = np.random.default_rng(0); y = np.arange(60) % 2
    >>> X = rng.normal(size=(60, 3)); X[:, 1] += 3 * y
    >>> clf = TopTempClassifier("logreg").fit(X, y)
    >>> int(np.argmax(permutation_importance(clf, X, y)))
    1
    >>> permutation_importance(clf, X, y, groups=["a", "b", "a"]).round(2).tolist()
    [0.0, 1.0, 0.0]
    """
    if groups is None:
        from sklearn.inspection import permutation_importance as sk_importance

        r = sk_importance(clf, X, y, scoring="neg_log_loss", n_repeats=n_repeats, random_state=seed,
                          max_samples=min(len(X), int(max_rows)))
        imp = np.maximum(r.importances_mean, 0.0)
    else:
        from sklearn.metrics import get_scorer

        from shapekit._progress import progress

        keys = list(groups)
        if len(keys) != X.shape[1]:
            raise InputError(f"{len(keys)} group keys for {X.shape[1]} columns")
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(X), min(len(X), int(max_rows)), replace=False) \
            if len(X) > max_rows else np.arange(len(X))
        Xs, ys = np.asarray(X, dtype=np.float64)[rows], np.asarray(y)[rows]
        score = get_scorer("neg_log_loss")
        base = score(clf, Xs, ys)
        uniq = list(dict.fromkeys(keys))
        imp = np.zeros(X.shape[1])
        for key in progress(uniq, desc="importance", total=len(uniq)):
            cols = np.array([j for j, k in enumerate(keys) if k == key])
            drops = []
            for _ in range(int(n_repeats)):
                Xp = Xs.copy()
                Xp[:, cols] = Xs[rng.permutation(len(Xs))][:, cols]
                drops.append(base - score(clf, Xp, ys))
            imp[cols] = max(float(np.mean(drops)), 0.0) / len(cols)
    s = imp.sum()
    return imp / s if s > 0 else np.full(X.shape[1], 1.0 / X.shape[1])


def train_on_images(images: Sequence[np.ndarray], labels: Sequence[Any], *,
                    model: str = DEFAULT_MODEL, tile_size: int | None = DEFAULT_TILE_SIZE,
                    feature_params: dict[str, Any] | None = None, aggregation: str = "auto",
                    groups: Sequence[Any] | None = None, seed: int = 0, cv_folds: int = 5,
                    target_um_per_px: float | None = None, C: float = 10.0,
                    cnn_options: dict[str, Any] | None = None, source: str | None = None,
                    augment: int | None = None, augment_options: dict[str, Any] | None = None,
                    preset: str = DEFAULT_PRESET, n_jobs: int | None = 1,
                    outside: dict[str, Any] | None = None,
                    training_um_per_px: Sequence[float] | None = None) -> Any:
    """Train a temper model on in-memory scans; ``.save(out)`` writes its model directory.

    Parameters
    ----------
    images : sequence of 2-D arrays
        Scans in ``[0, 1]`` (or ``uint8``/``uint16``, scaled by their range as
        :meth:`~shapekit.temper.model.TemperModel.classify` scales them), already at the common
        pixel size.
    labels : sequence
        One label per scan (any hashable; stored as strings, sorted).
    model : {"svm", "logreg", "xgboost", "cnn"}
    tile_size : int or None
        Tile side in pixels (None: each scan is one tile).
    feature_params : dict, optional
        Overrides of the preset's feature parameters (:func:`~shapekit.temper.presets.feature_params`).
    aggregation : {"auto", "features", "proba"}
        Tile -> scan aggregation; ``"auto"`` picks it by cross-validation.
    groups : sequence, optional
        Physical-sample id per scan: folds never split a group.
    seed : int
    cv_folds : int
    target_um_per_px : float, optional
        Pixel size the scans were brought to (stored; new scans are resampled to it).
    training_um_per_px : (float, float), optional
        Smallest and largest pixel size of the training scans before resampling (stored; the
        outside check flags scans more than :data:`~shapekit.temper.outside.SCALE_MARGIN` times
        beyond it).
    C : float
        SVM / logreg regularisation.
    cnn_options : dict, optional
        ``width``, ``epochs``, ``input_scale``, ``batch_size``, ``aug_noise``, ``aug_blur``,
        ``device`` (defaults :data:`CNN_DEFAULTS`; CUDA when present).
    source : str, optional
        Where the training data came from (stored in the config).
    augment : int, optional
        TopTemp: add this many randomly degraded copies of every training scan (blur, noise,
        JPEG; :func:`~shapekit.temper.robustness.augmented_copies`) to the training set.
    augment_options : dict, optional
        ``max_blur``, ``max_noise``, ``jpeg_prob`` of the degradations.
    preset : {"robust", "accurate"}
        Defaults of ``feature_params``, ``augment`` and ``augment_options``
        (:data:`~shapekit.temper.presets.PRESETS`); explicit arguments override them.
    n_jobs : int or None
        Threads for featurisation, model selection and the outside check, or torch's threads
        for the CNN (None or -1: every core); a TopTemp model does not depend on it.
    outside : dict, optional
        Parameters of the "outside the training data" check
        (:class:`~shapekit.temper.outside.OutsideCheck`: ``level``, ``coverage``, ``score``);
        TopTemp models trained on at least 10 scans of at least 64 px a side get one.

    Returns
    -------
    TemperModel

    Examples
    --------
    See :class:`shapekit.temper.model.TemperModel`.
    """
    import time

    t0, c0 = time.perf_counter(), time.process_time()
    model_obj = _train(images, labels, model=model, tile_size=tile_size, feature_params=feature_params,
                       aggregation=aggregation, groups=groups, seed=seed, cv_folds=cv_folds,
                       target_um_per_px=target_um_per_px, C=C, cnn_options=cnn_options,
                       source=source, augment=augment, augment_options=augment_options,
                       preset=preset, n_jobs=n_jobs, outside=outside)
    if training_um_per_px is not None:
        lo, hi = (float(v) for v in training_um_per_px)
        if not 0 < lo <= hi:
            raise InputError(f"training_um_per_px must be 0 < lo <= hi, got {training_um_per_px}")
        model_obj.config["training_um_per_px"] = [lo, hi]
    model_obj.config["training"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                    "cpu_s": round(time.process_time() - c0, 1),
                                    "n_jobs": _threads(n_jobs)}
    return model_obj


def _threads(n_jobs: int | None) -> int:
    """The number of threads ``n_jobs`` means (None or -1: the cores this process may use)."""
    import os

    if n_jobs is not None and n_jobs > 0:
        return int(n_jobs)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _train(images: Sequence[np.ndarray], labels: Sequence[Any], *, model: str,
           tile_size: int | None, feature_params: dict[str, Any] | None, aggregation: str,
           groups: Sequence[Any] | None, seed: int, cv_folds: int, target_um_per_px: float | None,
           C: float, cnn_options: dict[str, Any] | None, source: str | None, augment: int | None,
           augment_options: dict[str, Any] | None, preset: str, n_jobs: int | None,
           outside: dict[str, Any] | None) -> Any:
    from shapekit.temper.model import TemperModel

    if model not in MODEL_CHOICES:
        raise InputError(f"model must be one of {MODEL_CHOICES}, got {model!r}")
    if preset not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    if aggregation not in ("auto", "features", "proba"):
        raise InputError(f"aggregation must be auto, features or proba, got {aggregation!r}")
    labs = np.asarray([str(x) for x in labels])
    names = sorted(set(labs.tolist()))
    if len(names) < 2:
        raise InputError(f"need at least 2 classes to train, got {names}")
    if len(images) != len(labs):
        raise InputError(f"{len(images)} images but {len(labs)} labels")
    from shapekit.io import image_digests
    from shapekit.io.readers import unit_image

    images = [unit_image(im, f"image {i}") for i, im in enumerate(images)]  # as classify reads them
    g = None if groups is None else np.asarray([str(x) for x in groups])
    config: dict[str, Any] = {"label_names": names, "tile_size": tile_size,
                              "target_um_per_px": target_um_per_px, "n_train": int(len(labs)),
                              "seed": int(seed), "source": source,
                              "training_fingerprints": sorted(set(image_digests(images)))}
    if model == "cnn":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(_threads(n_jobs))
        try:
            return _train_cnn(images, labs, names, config, tile_size, cnn_options or {}, seed)
        finally:
            torch.set_num_threads(threads)
    return TemperModel(config, names, **_train_toptemp(
        labs, g, config, model=model, tile_size=tile_size, aggregation=aggregation,
        params=preset_params(preset, **(feature_params or {})), seed=seed, cv_folds=cv_folds, C=C,
        augment=int(PRESETS[preset]["augment"] if augment is None else augment),
        aug_opts={**PRESETS[preset]["augment_options"], **(augment_options or {})}, preset=preset,
        n_jobs=n_jobs, outside=outside, images=images))


def _train_toptemp(labs: np.ndarray, g: np.ndarray | None, config: dict[str, Any], *,
                   images: Sequence[np.ndarray], model: str, tile_size: int | None,
                   aggregation: str, params: dict[str, Any], seed: int, cv_folds: int, C: float,
                   augment: int, aug_opts: dict[str, Any], preset: str, n_jobs: int | None,
                   outside: dict[str, Any] | None) -> dict[str, Any]:
    from shapekit.temper.classifier import TopTempClassifier
    from shapekit.temper.pooling import ScanClassifier, ScanTiles
    from shapekit.temper.presets import fitted_features, toptemp_features
    from shapekit.temper.scans import scan_features
    from shapekit.temper.selection import cv_table, scan_splitter, select_model
    from shapekit.topology.vectorizers import feature_blocks

    features = toptemp_features(params)
    X = scan_features(images, tile_size, features, n_jobs=n_jobs)
    copies: list[list[np.ndarray]] = [[] for _ in images]
    if augment:
        from shapekit.temper.robustness import augmented_copies

        imgs_a, a_scan, _ = augmented_copies(images, augment, seed=seed + 1, **aug_opts)
        for i, xa in zip(a_scan, scan_features(imgs_a, tile_size, features, desc="augment",
                                               n_jobs=n_jobs)):
            copies[i].append(xa)
    scans = [ScanTiles(x, tuple(c), None if g is None else g[i])
             for i, (x, c) in enumerate(zip(X, copies))]
    est = ScanClassifier(TopTempClassifier(model, C=float(C), random_state=int(seed)))
    aggs = ["features", "proba"] if aggregation == "auto" else [aggregation]
    table, n_folds = None, None
    try:
        splitter = scan_splitter(labs, g, cv_folds, seed)
    except InputError:      # too few scans per class (or groups) to cross-validate
        splitter = None
    if splitter is not None:
        search = select_model(scans, labs, {"aggregation": aggs}, est, g, splitter, seed,
                              n_jobs=n_jobs)
        clf = search.best_estimator_
        n_folds = int(search.n_splits_)
        if n_folds < int(cv_folds) and g is None:
            import warnings

            from shapekit.errors import ShapekitWarning

            smallest = int(np.unique(labs, return_counts=True)[1].min())
            warnings.warn(f"cross-validation used {n_folds} folds, not {cv_folds}: the smallest "
                          f"class has {smallest} scans", ShapekitWarning, stacklevel=2)
        table = [{"aggregation": r["params"]["aggregation"], **r} for r in cv_table(search)]
    else:
        clf = est.set_params(aggregation=aggs[0]).fit(scans, labs)
    Xf, yf, _ = clf.training_rows(scans, labs)
    importance = permutation_importance(clf.estimator_, Xf, yf, seed,
                                        groups=feature_blocks(fitted_features(params)))
    from shapekit.temper.outside import OutsideCheck

    check = None
    try:
        check = OutsideCheck(**{"seed": seed, **(outside or {})}).fit(
            X, images, labs, g, clf.oof_proba(scans), n_jobs=n_jobs)
    except InputError as e:      # too few or too small scans: the model says so in its verdicts
        config["outside_skipped"] = str(e)
        import warnings

        from shapekit.errors import ShapekitWarning

        warnings.warn(f"this model has no outside-the-training-data check, so it never answers "
                      f"'unknown' ({e})", ShapekitWarning, stacklevel=2)
    config.update({"kind": "toptemp", "preset": preset, "feature_params": params,
                   **clf.get_state()[0], "augment": augment,
                   "augment_options": aug_opts if augment else None,
                   "feature_names": [str(n) for n in fitted_features(params).get_feature_names_out()],
                   "cv": {"folds": n_folds, "grouped": g is not None,
                          "splitter": None if splitter is None else type(splitter).__name__,
                          "table": table}})
    return {"classifier": clf, "importance": importance, "outside": check}


def _train_cnn(images: Sequence[np.ndarray], labs: np.ndarray, names: list[str],
               config: dict[str, Any], tile_size: int | None, opts: dict[str, Any], seed: int) -> Any:
    from shapekit.temper.cnn_cv import cnn_tiles_for_images
    from shapekit.temper.cnn_train import fit_tile_cnn
    from shapekit.temper.model import TemperModel

    if tile_size is None:
        raise InputError("the CNN needs a tile size")
    y = np.array([names.index(v) for v in labs], dtype=np.int64)
    input_scale = int(opts.get("input_scale", CNN_DEFAULTS["input_scale"]))
    tiles, scan = cnn_tiles_for_images(images, tile_size, input_scale)
    epochs = int(opts.get("epochs", CNN_DEFAULTS["epochs"]))
    net = fit_tile_cnn(tiles, y[scan], len(names), width=int(opts.get("width", CNN_DEFAULTS["width"])),
                       max_epochs=epochs, batch_size=int(opts.get("batch_size", 64)),
                       aug_noise=float(opts.get("aug_noise", 0.0)), aug_blur=float(opts.get("aug_blur", 0.0)),
                       seed=seed, device=opts.get("device"))
    config.update({"kind": "cnn", "aggregation": "proba",
                   "cnn": {"arch": net.config(), "input_scale": input_scale, "epochs": epochs}})
    return TemperModel(config, names, network=net.eval())


def _check_tile_fits(images: Sequence[np.ndarray], paths: Sequence[Any], tile_size: int | None,
                     one_tile: bool = True) -> None:
    """Refuse, naming the first file, scans smaller than one tile (before any training), with the
    largest tile size that they all allow.

    Examples
    --------
    >>> _check_tile_fits([np.zeros((90, 120)), np.zeros((300, 300))], ["a.png", "b.png"], 128)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: a.png: image of 90x120 pixels is smaller than one 128x128 tile (the only such scan of 2): train with a smaller tile size (--tile-size, at most 90 for these scans; 0: each scan is one tile)
    """
    if not tile_size:
        return
    small = [i for i, im in enumerate(images) if min(np.shape(im)[:2]) < tile_size]
    if not small:
        return
    h, w = np.shape(images[small[0]])[:2]
    which = "the only such scan" if len(small) == 1 else f"{len(small)} such scans"
    fits = min(min(np.shape(im)[:2]) for im in images)
    raise InputError(f"{paths[small[0]]}: image of {h}x{w} pixels is smaller than one {tile_size}x"
                     f"{tile_size} tile ({which} of {len(images)}): train with a smaller tile size "
                     f"(--tile-size, at most {fits} for these scans"
                     + ("; 0: each scan is one tile)" if one_tile else ")"))


def train_model(manifest: str | os.PathLike[str], *, model: str = DEFAULT_MODEL,
                root: str | os.PathLike[str] | None = None, seed: int = 0, **kwargs: Any) -> Any:
    """Train from a dataset manifest (labels required; groups used for CV when present).

    Scans are ingested (info bar cropped); when the manifest gives pixel sizes they are resampled
    to their median, which is stored as the model's ``target_um_per_px``, with their range
    (``training_um_per_px``: scans at a magnification far outside it are flagged).

    Examples
    --------
    >>> train_model("/nonexistent.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: ...
    """
    from shapekit.io import load_manifest
    from shapekit.temper.scans import read_manifest_images

    if not Path(manifest).exists():
        raise InputError(f"manifest not found: {manifest}")
    man = load_manifest(manifest, root)
    if man.labels is None:
        raise InputError(f"{manifest}: the manifest has no label column; cannot train")
    ums = man.um_per_px_values
    known = ums[np.isfinite(ums)]
    target = float(np.median(known)) if known.size else None
    images = read_manifest_images(man, target)
    _check_tile_fits(images, man.paths, kwargs.get("tile_size", DEFAULT_TILE_SIZE),
                     one_tile=model != "cnn")   # the CNN needs a tile size
    rng_um = None if target is None else (float(known.min()), float(known.max()))
    return train_on_images(images, man.labels, model=model, groups=man.groups, seed=seed,
                           target_um_per_px=target, source=str(manifest), training_um_per_px=rng_um, **kwargs)
