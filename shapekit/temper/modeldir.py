"""Temper model directories: ``config.json`` + weights (safetensors / XGBoost JSON), no pickle.

Layout (format 2)::

    MODEL_DIR/
      config.json               format, format_version, shapekit version, kind ("toptemp" |
                                "cnn"), label names, tile size, target um/px, preset, feature
                                parameters (the feature pipeline, shapekit.temper.presets),
                                aggregation, classifier (parameters, classes, calibration),
                                feature names, CV table; CNN: the network architecture
      classifier.safetensors    TopTemp: feature scaling, logreg/SVM parameters, importances
      xgboost.json              TopTemp with XGBoost: the booster in XGBoost's JSON format
      cnn.safetensors           CNN: the network's state dict
      outside.safetensors       TopTemp (optional): the outside check's arrays (its parameters:
                                config.json's "outside", :class:`shapekit.temper.outside.OutsideCheck`)

Format 1 (shapekit before the scikit-learn pipeline) is read too and predicts exactly as it did:
its classifier stored ``n_classes`` (the labels are the label names) and ``seed``, and with
Betti curves its columns were ordered per block (they are mapped onto the pipeline's columns).
:func:`load_model` refuses directories that are missing, corrupt, or written by another shapekit
``major.minor`` version or an unknown format version, with a one-line :class:`ModelFormatError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shapekit import __version__
from shapekit._atomic import write_bytes, write_json
from shapekit.errors import InputError, ModelFormatError, brief

FORMAT = "shapekit-temper-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
KINDS = ("toptemp", "cnn")

ARCH_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["width", "depths"], "properties": {
        "in_channels": {"type": "integer", "minimum": 1, "maximum": 16},
        "n_classes": {"type": "integer", "minimum": 0, "maximum": 10000},
        "width": {"type": "integer", "minimum": 1, "maximum": 1024},
        "depths": {"type": "array", "minItems": 1, "maxItems": 8,
                   "items": {"type": "integer", "minimum": 1, "maximum": 64}},
        "padding": {"type": "string"},
        "standardize": {"type": "boolean"}}}
"""JSON Schema of a SmallResNet architecture (``SmallResNet.config()``), with size bounds."""
OUTSIDE_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["kind", "version", "descriptors", "level", "coverage", "score", "seed",
                 "fitted_level", "scorer", "conformal"],
    "properties": {
        "kind": {"const": "outside_check"}, "version": {"type": "integer"},
        "descriptors": {"type": "string", "maxLength": 200},
        "level": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
        "fitted_level": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
        "coverage": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "score": {"enum": ["aps", "lac"]},
        "seed": {"type": "integer", "minimum": 0},
        "structure_share_min": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "scorer": {"type": "object", "required": ["kind", "version", "method", "level", "n_neighbors",
                                                  "cv", "seed", "blocks", "threshold", "block_scale",
                                                  "n_features"],
                   "properties": {
                       "kind": {"const": "ood_scorer"}, "method": {"enum": ["mahalanobis", "knn"]},
                       "level": {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
                       "n_neighbors": {"type": "integer", "minimum": 1, "maximum": 10000},
                       "cv": {"type": "integer", "minimum": 2, "maximum": 1000},
                       "blocks": {"type": ["array", "null"], "minItems": 1, "maxItems": 64,
                                  "items": {"type": "integer", "minimum": 1, "maximum": 100000}},
                       "threshold": {"type": "number", "exclusiveMinimum": 0},
                       "block_scale": {"type": "array", "minItems": 1, "maxItems": 64,
                                       "items": {"type": "number", "exclusiveMinimum": 0}},
                       "n_features": {"type": "integer", "minimum": 1, "maximum": 100000}}},
        "conformal": {"type": ["object", "null"],
                      "required": ["kind", "version", "coverage", "score", "qhat", "n_classes",
                                   "n_calibration"],
                      "properties": {"kind": {"const": "conformal_sets"}, "score": {"enum": ["aps", "lac"]},
                                     "coverage": {"type": "number", "exclusiveMinimum": 0,
                                                  "exclusiveMaximum": 1},
                                     "qhat": {"type": "number"}, "n_classes": {"type": "integer", "minimum": 2},
                                     "n_calibration": {"type": "integer", "minimum": 0}}}}}
"""JSON Schema of a model's outside-the-training-data check (``OutsideCheck.to_state()``)."""
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "shapekit_version", "kind", "label_names"],
    "properties": {
        "format": {"type": "string"},
        "format_version": {"enum": list(READABLE_VERSIONS)},
        "shapekit_version": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "label_names": {"type": "array", "minItems": 2, "maxItems": 10000,
                        "items": {"type": ["string", "number", "boolean"]}},
        "tile_size": {"type": ["integer", "null"], "minimum": 8, "maximum": 65536},
        "target_um_per_px": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "training_um_per_px": {"type": ["array", "null"], "minItems": 2, "maxItems": 2,
                               "items": {"type": "number", "exclusiveMinimum": 0}},
        "aggregation": {"enum": ["features", "proba"]},
        "feature_params": {"type": "object", "properties": {
            "scales": {"type": "array", "minItems": 1, "maxItems": 16,
                       "items": {"type": "integer", "minimum": 1, "maximum": 1024}},
            "smooth": {"type": "number", "minimum": 0, "maximum": 1000},
            "thresholds": {"type": "array", "minItems": 1, "maxItems": 64,
                           "items": {"type": "number"}},
            "quantiles": {"type": "array", "maxItems": 64,
                          "items": {"type": "number", "minimum": 0, "maximum": 1}},
            "betti_points": {"type": "integer", "minimum": 0, "maximum": 4096},
            "min_persistence": {"type": "number", "minimum": 0},
            "restandardize": {"type": "boolean"}}},
        "feature_names": {"type": "array", "items": {"type": "string"}},
        "classifier": {"type": "object", "required": ["params", "n_features"], "properties": {
            "params": {"type": "object", "required": ["model"],
                       "properties": {"model": {"enum": ["svm", "logreg", "xgboost"]}}},
            "classes": {"type": "array", "minItems": 2, "maxItems": 10000,
                        "items": {"type": ["string", "number", "boolean"]}},
            "n_classes": {"type": "integer", "minimum": 2, "maximum": 10000},
            "n_features": {"type": "integer", "minimum": 1},
            "calibration": {"type": ["object", "null"], "properties": {
                "temperature": {"type": "number", "exclusiveMinimum": 0},
                "bias": {"type": "array", "items": {"type": "number"}, "maxItems": 10000}}}}},
        # bounds keep a hostile config from building a gigantic network before the weights
        # are compared with it
        "cnn": {"type": "object", "required": ["arch", "input_scale"], "properties": {
            "input_scale": {"type": "integer", "minimum": 1, "maximum": 64},
            "arch": ARCH_SCHEMA}},
        "outside": OUTSIDE_SCHEMA,
    },
    "allOf": [{"if": {"properties": {"kind": {"const": "toptemp"}}},
               "then": {"required": ["classifier", "feature_params"]}},
              {"if": {"properties": {"kind": {"const": "cnn"}}},
               "then": {"required": ["cnn", "tile_size"],
                        "properties": {"tile_size": {"type": "integer"}}}}],
}
"""JSON Schema of ``config.json`` (formats 1 and 2): the types and bounds of what shapekit reads
before the weights (the feature parameters are checked by the feature pipeline itself)."""


def _compatible(version: str) -> bool:
    return str(version).split(".")[:2] == __version__.split(".")[:2]


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to a safetensors file atomically (contiguous copies, original dtypes)."""
    from safetensors.numpy import save

    data = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    write_bytes(path, save(data))


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file; a missing or corrupt file raises :class:`ModelFormatError`."""
    from safetensors.numpy import load

    if not path.is_file():
        raise ModelFormatError(f"{path.parent}: missing {path.name}")
    try:
        return dict(load(path.read_bytes()))
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file
        raise ModelFormatError(f"{path}: corrupt safetensors file ({type(e).__name__})") from None


#: the weight files a model directory may hold (see the layout above); a model written into a
#: folder removes those it did not write, so no earlier model's weights are left beside it
WEIGHT_FILES = frozenset({"classifier.safetensors", "xgboost.json", "cnn.safetensors",
                          "outside.safetensors"})


def write_model_dir(out: str | os.PathLike[str], config: dict[str, Any],
                    files: dict[str, bytes | dict[str, np.ndarray]]) -> Path:
    """Write a model directory: weight ``files`` first, ``config.json`` last (the commit point),
    then the :data:`WEIGHT_FILES` of an earlier model that this one does not have are removed.

    ``files`` maps file names to raw bytes or to array dicts (saved as safetensors).

    Examples
    --------
    >>> import tempfile
    >>> cfg = {"kind": "toptemp", "label_names": ["a", "b"], "feature_params": {},
    ...        "classifier": {"params": {"model": "svm"}, "n_features": 4}}
    >>> d = write_model_dir(tempfile.mkdtemp() + "/m", cfg, {})
    >>> read_config(d)["format"] == FORMAT
    True
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, dict):
            save_arrays(out / name, content)
        else:
            write_bytes(out / name, content)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "shapekit_version": __version__,
           **config}
    write_json(out / "config.json", cfg)
    for stale in WEIGHT_FILES - set(files):  # an earlier model's weights in the same folder
        (out / stale).unlink(missing_ok=True)
    return out


def read_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``config.json`` of a model directory (format and version); a shipped
    classifier's name stands for its directory (:func:`resolve_model`).

    Raises
    ------
    ModelFormatError
        Missing directory or config, invalid JSON, another format, incompatible version, or a
        field of the wrong type or out of bounds (:data:`CONFIG_SCHEMA`).
    """
    from shapekit.io.jsonfile import check_json, load_json

    d = Path(model_dir)
    if not d.exists():
        d = resolve_model(model_dir)
    if not d.is_dir():
        raise ModelFormatError(f"{d}: not a model directory (a file)")
    p = d / "config.json"
    gan = ModelFormatError(f"{d} is a GAN run directory or generator (shapekit train-gan), not a "
                           "temper classifier (shapekit train-classifier)")   # e.g. classify RUN
    if not p.is_file():
        raise gan if (d / "generator.json").is_file() else \
            ModelFormatError(f"{d}: not a shapekit model directory (no config.json)")
    cfg = load_json(p, {"type": "object"}, what="model config")
    if cfg.get("format") != FORMAT:
        if "run_format" in cfg or (d / "generator.json").is_file():
            raise gan
        raise ModelFormatError(f"{p}: not a shapekit temper model (format {brief(cfg.get('format'))})")
    ver = cfg.get("shapekit_version")
    if cfg.get("format_version") not in READABLE_VERSIONS or not _compatible(str(ver)):
        raise ModelFormatError(f"{d}: written by shapekit {str(ver)[:40]} (format "
                               f"{str(cfg.get('format_version'))[:20]}); this is shapekit "
                               f"{__version__} (format {FORMAT_VERSION}): retrain the model")
    return check_json(cfg, CONFIG_SCHEMA, where=str(p), what="model config")


def resolve_model(model: str | os.PathLike[str]) -> Path:
    """The directory of a model given as a directory or as the name of a shipped classifier
    (:mod:`shapekit.registry`); a directory of that name wins over a shipped model.

    Examples
    --------
    >>> resolve_model("uhcs3").name
    'uhcs3'
    >>> resolve_model("/nonexistent/m")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: model directory not found: /nonexistent/m (nor a shipped classifier: ...)
    """
    from shapekit.registry import NAME_RE, available, pretrained_root

    d = Path(model)
    if d.exists():
        return d
    names = [c["name"] for c in available("classifier")]
    if NAME_RE.match(str(model)) and str(model) in names:
        return pretrained_root() / str(model)
    if any(c["name"] == str(model) for c in available()):  # a shipped generator
        raise ModelFormatError(f"{model} is a shipped generator, not a temper classifier; "
                               f"shipped classifiers: {', '.join(names) or 'none'}")
    raise ModelFormatError(f"model directory not found: {d} (nor a shipped classifier: "
                           f"{', '.join(names) or 'none'})")


def model_identity(ref: str | os.PathLike[str]) -> str:
    """One name per model however it was given: a shipped classifier's name for its name or its
    directory, else the absolute resolved path of an existing directory, else ``ref`` as is (so
    ``uhcs3``, ``.../pretrained/uhcs3`` and a relative path from another folder compare equal).

    Examples
    --------
    >>> from shapekit.registry import pretrained_root
    >>> model_identity("uhcs3"), model_identity(pretrained_root() / ".." / "pretrained" / "uhcs3")
    ('uhcs3', 'uhcs3')
    >>> model_identity("no/such/model")
    'no/such/model'
    """
    from shapekit.registry import available, pretrained_root

    p = Path(ref)
    names = [c["name"] for c in available("classifier")]
    if not p.exists():
        return str(ref)
    real = p.resolve()
    for name in names:
        if real == (pretrained_root() / name).resolve():
            return name
    return str(real)


def load_model(model_dir: str | os.PathLike[str]) -> Any:
    """Load a temper model directory (or a shipped classifier by name, :func:`resolve_model`) as a
    :class:`~shapekit.temper.model.TemperModel`.

    The returned object has ``.classify(images_or_paths)`` (list of verdicts
    ``{"image", "temper", "probabilities", "tiles", "ood_score", "in_distribution",
    "prediction_set", ...}``), ``.predict_proba(images)``,
    ``.label_names`` and, for CNN models, ``.feature_extractor()`` (an ``nn.Module`` mapping
    ``(N, 1, H, W)`` float tensors to ``(N, d)`` embeddings).

    Examples
    --------
    >>> import tempfile
    >>> load_model(tempfile.mkdtemp() + "/nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: model directory not found: ...
    """
    from shapekit.temper.model import TemperModel

    d = resolve_model(model_dir)
    cfg = read_config(d)
    try:
        labels = [str(x) for x in cfg["label_names"]]
        if cfg["kind"] == "toptemp":
            clf, arrays, columns = _load_toptemp(d, cfg, labels)
            return TemperModel(cfg, labels, classifier=clf, importance=arrays.get("importance"),
                               columns=columns, outside=_load_outside(d, cfg))
        import torch

        from shapekit.temper.cnn import SmallResNet

        arch = cfg["cnn"]["arch"]
        net = SmallResNet(**{**arch, "depths": tuple(arch["depths"])})
        state = {k: torch.from_numpy(np.array(v)) for k, v in load_arrays(d / "cnn.safetensors").items()}
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ModelFormatError(f"{d}: cnn.safetensors does not match the config "
                                   f"({str(e).splitlines()[0]})") from None
        return TemperModel(cfg, labels, network=net.eval())
    except KeyError as e:
        raise ModelFormatError(f"{d}/config.json: missing key {e}") from None


def _load_toptemp(d: Path, cfg: dict[str, Any], labels: list[str]
                  ) -> tuple[Any, dict[str, np.ndarray], np.ndarray | None]:
    """The scan classifier, the arrays and (format 1 with Betti curves) the column map."""
    from shapekit.temper.pooling import ScanClassifier
    from shapekit.temper.presets import fitted_features

    arrays = load_arrays(d / "classifier.safetensors")
    raw = None
    if cfg["classifier"]["params"]["model"] == "xgboost":
        xp = d / "xgboost.json"
        if not xp.is_file():
            raise ModelFormatError(f"{d}: missing xgboost.json")
        from shapekit.io.jsonfile import load_json

        load_json(xp, {"type": "object", "required": ["learner"]}, what="XGBoost model")
        raw = xp.read_bytes()
    legacy = cfg["format_version"] == 1
    state = {"aggregation": cfg.get("aggregation", "proba"), "classifier": cfg["classifier"]}
    clf = ScanClassifier.from_state(state, arrays, raw, classes=labels if legacy else None)
    if [str(c) for c in clf.classes_] != labels:
        raise ModelFormatError(f"{d}: classifier classes {clf.classes_.tolist()} do not match "
                               f"the label names {labels}")
    columns = None
    try:
        names = [str(n) for n in fitted_features(cfg["feature_params"]).get_feature_names_out()]
    except InputError as e:
        raise ModelFormatError(f"{d}: invalid feature parameters ({e})") from None
    stored = [str(n) for n in cfg.get("feature_names", names)]
    if stored != names:
        if not legacy or sorted(stored) != sorted(names):
            raise ModelFormatError(f"{d}: the stored feature names do not match its feature "
                                   f"parameters")
        where = {n: j for j, n in enumerate(names)}
        columns = np.array([where[n] for n in stored], dtype=np.int64)
    if clf.n_features_in_ != len(names):
        raise ModelFormatError(f"{d}: the classifier expects {clf.n_features_in_} features, the "
                               f"feature parameters give {len(names)}")
    return clf, arrays, columns


def _load_outside(d: Path, cfg: dict[str, Any]) -> Any:
    """The model's outside-the-training-data check, or None when it was trained without one."""
    state = cfg.get("outside")
    if state is None:
        return None
    from shapekit.temper.outside import OutsideCheck

    arrays = load_arrays(d / "outside.safetensors")
    try:
        check = OutsideCheck.from_state(state, arrays)
        n_topo = len(cfg.get("feature_names") or [])
        if n_topo and check.n_topology_features != n_topo:
            raise InputError(f"its scorer expects {check.n_topology_features} TopTemp features, the "
                             f"model has {n_topo}")
        if check.conformal_ is not None and check.conformal_.n_classes_ != len(cfg["label_names"]):
            raise InputError(f"its prediction sets have {check.conformal_.n_classes_} classes for "
                             f"{len(cfg['label_names'])} labels")
        return check
    except (InputError, KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFormatError):
            raise
        raise ModelFormatError(f"{d}: invalid outside-the-training-data check ({e})") from None
