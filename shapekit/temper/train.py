"""Train a temper model directory from images or a manifest (TopTemp classifiers or the CNN).

TopTemp: scans -> covering tiles -> multi-scale TopTemp features -> the tile -> scan aggregation
chosen by cross-validation on the training set (``aggregation="auto"``; grouped folds when the
manifest has a group column) -> the calibrated classifier refitted on everything -> permutation
feature importances (for ``explain``) -> the model directory. CNN: the same tiles, area-downsampled,
train a :class:`~shapekit.temper.cnn.SmallResNet` with Lightning.

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
from shapekit.temper.features import DEFAULTS

#: the default classifier: SVM wins 5-fold CV on the robust features among the models that meet the
#: robustness goal (XGBoost on tile probabilities scores 0.953 clean but drops 6.0 points at blur
#: sigma 2); see benchmarks/toptemp_uhcs.py and RESULTS.md section 1
DEFAULT_MODEL = "svm"
DEFAULT_TILE_SIZE = 256
MODEL_CHOICES = ("svm", "logreg", "xgboost", "cnn")
#: feature/augmentation presets. "robust" (default): smoothing to a fixed effective resolution,
#: per-scale z-scoring, a minimum persistence and degraded training copies -- uhcs3 5-fold CV
#: 0.942 (SVM), accuracy drops <= 3.8 points under every perturbation of the robustness study;
#: "accurate": plain multi-scale PH, uhcs3 CV 0.969 (SVM) / 0.971 (logreg, tile probabilities)
#: but -48 points under blur sigma 2 and -27 under noise sigma 0.1 (benchmarks/toptemp_uhcs.py).
PRESETS: dict[str, dict[str, Any]] = {
    "robust": {"feature_params": {"scales": [1, 2, 4], "smooth": 1.0,
                                  "thresholds": list(DEFAULTS["thresholds"]),
                                  "quantiles": list(DEFAULTS["quantiles"]), "betti_points": 0,
                                  "min_persistence": 0.25, "restandardize": True},
               "augment": 2, "augment_options": {"max_blur": 3.0, "max_noise": 0.1, "jpeg_prob": 0.3}},
    "accurate": {"feature_params": {"scales": [1, 2, 4], "smooth": 0.0,
                                    "thresholds": list(DEFAULTS["thresholds"]),
                                    "quantiles": list(DEFAULTS["quantiles"]), "betti_points": 0,
                                    "min_persistence": 0.0, "restandardize": False},
                 "augment": 0, "augment_options": {}},
}
DEFAULT_PRESET = "robust"
#: the CNN baseline as cross-validated on uhcs3 (tiles area-downsampled 4x to 64 px on the CPU)
CNN_DEFAULTS: dict[str, Any] = {"width": 8, "input_scale": 4, "epochs": 15}
DEFAULT_FEATURE_PARAMS: dict[str, Any] = PRESETS[DEFAULT_PRESET]["feature_params"]


def permutation_importance(clf: Any, X: np.ndarray, y: np.ndarray, seed: int = 0,
                           max_rows: int = 400) -> np.ndarray:
    """Mean increase of the log-loss when each feature column is shuffled (>= 0, sums to 1).

    Examples
    --------
    >>> from shapekit.temper.classifier import TopTempClassifier
    >>> rng = np.random.default_rng(0); y = np.arange(60) % 2
    >>> X = rng.normal(size=(60, 3)); X[:, 1] += 3 * y
    >>> int(np.argmax(permutation_importance(TopTempClassifier("logreg").fit(X, y), X, y)))
    1
    """
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = rng.choice(len(X), max_rows, replace=False)
        X, y = X[keep], y[keep]
    ll = lambda P: -np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-12, None)))  # noqa: E731
    base = ll(clf.predict_proba(X))
    imp = np.zeros(X.shape[1])
    perm = rng.permutation(len(X))
    for j in range(X.shape[1]):
        Xp = X.copy()
        Xp[:, j] = X[perm, j]
        imp[j] = max(ll(clf.predict_proba(Xp)) - base, 0.0)
    s = imp.sum()
    return imp / s if s > 0 else np.full(X.shape[1], 1.0 / X.shape[1])


def _encode(labels: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    labs = np.asarray([str(x) for x in labels])
    names = sorted(set(labs.tolist()))
    if len(names) < 2:
        raise InputError(f"need at least 2 classes to train, got {names}")
    return np.array([names.index(v) for v in labs], dtype=np.int64), names


def train_on_images(images: Sequence[np.ndarray], labels: Sequence[Any], out: str | os.PathLike[str],
                    *, model: str = DEFAULT_MODEL, tile_size: int | None = DEFAULT_TILE_SIZE,
                    feature_params: dict[str, Any] | None = None, aggregation: str = "auto",
                    groups: Sequence[Any] | None = None, seed: int = 0, cv_folds: int = 5,
                    target_um_per_px: float | None = None, C: float = 10.0,
                    cnn_options: dict[str, Any] | None = None, source: str | None = None,
                    augment: int | None = None, augment_options: dict[str, Any] | None = None,
                    preset: str = DEFAULT_PRESET) -> Any:
    """Train a temper model on in-memory scans and write its directory; return the loaded model.

    Parameters
    ----------
    images : sequence of 2-D float arrays
        Scans in ``[0, 1]``, already at the common pixel size.
    labels : sequence
        One label per scan (any hashable; stored as strings, sorted).
    out : path-like
        Model directory to write.
    model : {"svm", "logreg", "xgboost", "cnn"}
    tile_size : int or None
        Tile side in pixels (None: each scan is one tile).
    feature_params : dict, optional
        :func:`~shapekit.temper.features.tile_features` parameters (TopTemp).
    aggregation : {"auto", "features", "proba"}
        Tile -> scan aggregation; ``"auto"`` picks it by cross-validation.
    groups : sequence, optional
        Physical-sample id per scan: folds never split a group.
    seed : int
    cv_folds : int
    target_um_per_px : float, optional
        Pixel size the scans were brought to (stored; new scans are resampled to it).
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
        Defaults of ``feature_params``, ``augment`` and ``augment_options`` (:data:`PRESETS`);
        explicit arguments override them.

    Returns
    -------
    TemperModel

    Examples
    --------
    See :class:`shapekit.temper.model.TemperModel`.
    """
    from shapekit.temper.modeldir import load_model, write_model_dir

    if model not in MODEL_CHOICES:
        raise InputError(f"model must be one of {MODEL_CHOICES}, got {model!r}")
    if preset not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    if aggregation not in ("auto", "features", "proba"):
        raise InputError(f"aggregation must be auto, features or proba, got {aggregation!r}")
    y, names = _encode(labels)
    if len(images) != len(y):
        raise InputError(f"{len(images)} images but {len(y)} labels")
    g = None if groups is None else np.asarray([str(x) for x in groups])
    config: dict[str, Any] = {"label_names": names, "tile_size": tile_size,
                              "target_um_per_px": target_um_per_px, "n_train": int(len(y)),
                              "seed": int(seed), "source": source}
    if model == "cnn":
        return _train_cnn(images, y, names, out, config, tile_size, cnn_options or {}, seed)
    from shapekit.temper.classifier import TopTempClassifier
    from shapekit.temper.cv import scan_folds, select_by_cv, training_rows
    from shapekit.temper.ingest import features_for_images

    pre = PRESETS[preset]
    params = {**pre["feature_params"], **(feature_params or {})}
    X, scan = features_for_images(images, tile_size, params)
    aug = None
    augment = int(pre["augment"] if augment is None else augment)
    aug_opts = {**pre["augment_options"], **(augment_options or {})}
    if augment:
        from shapekit.temper.robustness import augmented_copies

        copies, a_scan, a_copy = augmented_copies(images, augment, seed=seed + 1, **aug_opts)
        Xa, local = features_for_images(copies, tile_size, params, desc="augment")
        aug = (Xa, a_scan[local], a_copy[local])
    clf_params = {"model": model, "C": float(C), "seed": int(seed)}
    cv_table = None
    agg = "features" if aggregation == "auto" else aggregation
    try:
        folds = scan_folds(y, g, cv_folds, seed)
    except InputError:
        folds = None
    if folds is not None:
        cands = [(clf_params, a) for a in (("features", "proba") if aggregation == "auto" else (agg,))]
        _, agg, cv_table = select_by_cv(X, scan, y, folds, cands, g, aug)
    Xf, yf, gf = training_rows(X, scan, y, np.arange(len(y)), agg, g, aug)
    clf = TopTempClassifier(**clf_params).fit(Xf, yf, gf)
    imp = permutation_importance(clf, Xf, yf, seed)
    cfg_clf, arrays, raw = clf.get_state()
    arrays["importance"] = imp
    from shapekit.temper.features import feature_names

    config.update({"kind": "toptemp", "preset": preset, "feature_params": params, "aggregation": agg,
                   "augment": int(augment), "augment_options": aug_opts if augment else None,
                   "classifier": cfg_clf, "feature_names": feature_names(**params),
                   "cv": {"folds": None if folds is None else len(folds),
                          "grouped": g is not None, "table": cv_table}})
    files: dict[str, Any] = {"classifier.safetensors": arrays}
    if raw is not None:
        files["xgboost.json"] = raw
    write_model_dir(out, config, files)
    return load_model(out)


def _train_cnn(images: Sequence[np.ndarray], y: np.ndarray, names: list[str], out: Any,
               config: dict[str, Any], tile_size: int | None, opts: dict[str, Any], seed: int) -> Any:
    from shapekit.temper.cnn_cv import cnn_tiles_for_images
    from shapekit.temper.cnn_train import fit_tile_cnn
    from shapekit.temper.modeldir import load_model, write_model_dir

    if tile_size is None:
        raise InputError("the CNN needs a tile size")
    input_scale = int(opts.get("input_scale", CNN_DEFAULTS["input_scale"]))
    tiles, scan = cnn_tiles_for_images(images, tile_size, input_scale)
    epochs = int(opts.get("epochs", CNN_DEFAULTS["epochs"]))
    net = fit_tile_cnn(tiles, y[scan], len(names), width=int(opts.get("width", CNN_DEFAULTS["width"])),
                       max_epochs=epochs, batch_size=int(opts.get("batch_size", 64)),
                       aug_noise=float(opts.get("aug_noise", 0.0)), aug_blur=float(opts.get("aug_blur", 0.0)),
                       seed=seed, device=opts.get("device"))
    config.update({"kind": "cnn", "aggregation": "proba",
                   "cnn": {"arch": net.config(), "input_scale": input_scale,
                           "epochs": epochs}})
    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    write_model_dir(out, config, {"cnn.safetensors": arrays})
    return load_model(out)


def train_model(manifest: str | os.PathLike[str], out: str | os.PathLike[str], *,
                model: str = DEFAULT_MODEL, root: str | os.PathLike[str] | None = None,
                seed: int = 0, **kwargs: Any) -> Any:
    """Train from a dataset manifest (labels required; groups used for CV when present).

    Scans are ingested (info bar cropped); when the manifest gives pixel sizes they are resampled
    to their median, which is stored as the model's ``target_um_per_px``.

    Examples
    --------
    >>> train_model("/nonexistent.yaml", "/tmp/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: ...
    """
    from shapekit.io import load_manifest
    from shapekit.temper.ingest import read_manifest_images

    if not Path(manifest).exists():
        raise InputError(f"manifest not found: {manifest}")
    man = load_manifest(manifest, root)
    if man.labels is None:
        raise InputError(f"{manifest}: the manifest has no label column; cannot train")
    ums = man.um_per_px_values
    target = float(np.nanmedian(ums)) if np.isfinite(ums).any() else None
    images = read_manifest_images(man, target)
    return train_on_images(images, man.labels, out, model=model, groups=man.groups, seed=seed,
                           target_um_per_px=target, source=str(manifest), **kwargs)
