"""A temper model: scans (paths or arrays) in, temper and calibrated probabilities out.

Built by training (:func:`shapekit.temper.train.train_on_images`,
:func:`~shapekit.temper.train.train_model`) or by :func:`shapekit.temper.modeldir.load_model`;
``.save(out)`` writes its model directory.  Both model kinds (TopTemp and CNN) share this object.
A TopTemp model is the feature pipeline of its parameters (:mod:`shapekit.temper.presets`)
followed by a :class:`~shapekit.temper.pooling.ScanClassifier`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["TemperModel", "VERDICT_KEYS"]

#: the keys of every verdict :meth:`TemperModel.classify` returns
VERDICT_KEYS = ("image", "temper", "probabilities", "tiles", "ood_score", "in_distribution",
                "prediction_set", "ood", "scan", "notes")

#: the note of a scan whose pixels are one of the model's training scans' (``training_fingerprints``)
TRAINING_SCAN_NOTE = ("one of this model's training scans (identical pixels): its verdict is not a "
                      "test of the model")


class TemperModel:
    """Classify scans with a trained TopTemp or CNN temper model.

    Parameters
    ----------
    config : dict
        The model directory's ``config.json`` content.
    label_names : list of str
        Class names, in the order of the probability columns.
    classifier : ScanClassifier, optional
        TopTemp models: the fitted scan classifier on tile features.
    network : SmallResNet, optional
        CNN models: the trained network.
    importance : ndarray, optional
        TopTemp models: importance of every classifier column (for :mod:`shapekit.temper.explain`).
    columns : ndarray of int, optional
        Format-1 models with Betti curves: the pipeline columns the classifier's columns are.
    outside : OutsideCheck, optional
        TopTemp models: the "outside the training data" check fitted at training
        (:class:`~shapekit.temper.outside.OutsideCheck`); None for models without one.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.temper.train import train_on_images
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.random((64, 64)).astype("float32") ** (1 + 2 * (i % 2)) for i in range(8)]
    >>> m = train_on_images(imgs, ["a", "b"] * 4, model="logreg", tile_size=64,
    ...                     feature_params={"scales": [1, 2]}, cv_folds=2, augment=0)
    >>> r = m.classify([imgs[0]])[0]
    >>> r["tiles"], m.label_names, r["temper"] in ("a", "b", "unknown")
    (1, ['a', 'b'], True)
    >>> sorted(k for k in r if k in VERDICT_KEYS) == sorted(VERDICT_KEYS)
    True
    """

    def __init__(self, config: dict[str, Any], label_names: Sequence[str], classifier: Any = None,
                 network: Any = None, importance: np.ndarray | None = None,
                 columns: np.ndarray | None = None, outside: Any = None) -> None:
        self.config = config
        self.label_names = list(label_names)
        self.classifier = classifier
        self.network = network
        self.importance = importance
        self.columns = columns
        self.outside = outside
        self.kind = config["kind"]
        self.tile_size = config.get("tile_size")
        self.target_um_per_px = config.get("target_um_per_px")
        self.feature_params = config.get("feature_params", {})
        self.aggregation = config.get("aggregation", "proba")
        self._features: Any = None

    @property
    def features(self) -> Any:
        """TopTemp models: the (stateless, fitted) feature pipeline of the tiles."""
        if self.kind != "toptemp":
            raise InputError("only TopTemp models have a feature pipeline")
        if self._features is None:
            from shapekit.temper.presets import fitted_features

            self._features = fitted_features(self.feature_params)
        return self._features

    def column_blocks(self) -> list[Any]:
        """The diagram :class:`~shapekit.topology.diagrams.Block` of every classifier column."""
        from shapekit.topology.vectorizers import feature_blocks

        blocks = feature_blocks(self.features)
        return blocks if self.columns is None else [blocks[j] for j in self.columns]

    # ------------------------------------------------------------------ inputs
    def load(self, item: Any, um_per_px: float | None = None) -> tuple[str, np.ndarray]:
        """``(name, image)`` for a path (ingested: info bar cropped, resampled) or an array."""
        name, img, _ = self.read(item, um_per_px)
        return name, img

    def read(self, item: Any, um_per_px: float | None = None) -> tuple[str, np.ndarray, dict[str, Any]]:
        """``(name, image, scan info)`` of a path (:func:`~shapekit.temper.scans.read_scan`: info
        bar cropped, resampled to the model's pixel size; ``um_per_px`` beats the file's) or of a
        2-D array (taken as already at the model's pixel size, when it has one): floats in
        ``[0, 1]``, or unsigned integers scaled by their type's range as a file's are
        (:func:`~shapekit.io.readers.unit_image`; an 8-bit scan as floats in ``[0, 255]`` is
        refused)."""
        from shapekit.io.readers import unit_image
        from shapekit.temper.scans import read_scan

        if isinstance(item, (str, os.PathLike)):
            img, info = read_scan(Path(item), um_per_px=um_per_px,
                                  target_um_per_px=self.target_um_per_px)
            return str(item), img, info
        arr = unit_image(item)       # uint8/uint16 scaled as a file's; floats in [0, 1]
        um = self.target_um_per_px if um_per_px is None else float(um_per_px)
        info = {"um_per_px": um, "um_per_px_source": None if um is None else "user",
                "source_um_per_px": um, "info_bar_rows": 0, "source_shape": list(arr.shape),
                "resampled": False, "notes": []}
        return "<array>", arr.astype(np.float32), info

    # ------------------------------------------------------------- prediction
    def tile_features(self, image: np.ndarray, source: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """TopTemp features of the scan's covering tiles (classifier columns) and their coordinates,
        featurised a chunk of tiles at a time (:func:`~shapekit.temper.scans.tile_features`)."""
        from shapekit.temper.scans import tile_features

        X, coords = tile_features(image, self.tile_size, self.features, source)
        return (X if self.columns is None else X[:, self.columns]), coords

    def scan_proba(self, image: np.ndarray, source: str = "image") -> tuple[np.ndarray, int]:
        """Calibrated class probabilities ``(k,)`` of one scan array and its number of tiles."""
        if self.kind == "cnn":
            from shapekit.temper.cnn_cv import cnn_tiles
            from shapekit.temper.cnn_train import predict_tile_proba
            from shapekit.temper.pooling import average_log_proba

            tiles, _ = cnn_tiles(image, self.tile_size, self.config["cnn"]["input_scale"], source)
            return average_log_proba(predict_tile_proba(self.network, tiles)), len(tiles)
        from shapekit.temper.pooling import ScanTiles

        feats, _ = self.tile_features(image, source)
        return self.classifier.predict_proba([ScanTiles(feats)])[0], len(feats)

    def predict_proba(self, images: Sequence[Any]) -> np.ndarray:
        """Probabilities ``(n, k)`` of scans given as arrays or paths (columns: ``label_names``)."""
        out = []
        for item in images:
            name, img = self.load(item)
            out.append(self.scan_proba(img, name)[0])
        return np.asarray(out).reshape(len(out), len(self.label_names))

    def predict(self, images: Sequence[Any]) -> np.ndarray:
        """Temper labels of scans given as arrays or paths."""
        return np.asarray(self.label_names)[self.predict_proba(images).argmax(1)]

    def assess(self, image: np.ndarray, source: str = "image",
               info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything the model says of one scan array.

        Returns
        -------
        dict
            ``temper`` (a label, or ``"unknown"`` outside the training data), ``probabilities``
            (label -> p), ``tiles``, ``ood_score`` / ``in_distribution`` / ``prediction_set``
            (None for models without an outside check), ``ood`` (the check's parts:
            ``topology`` and ``image`` scores), ``scan`` (``info``), ``notes``, and ``tile_map``
            (``{"tile_size", "labels", "tiles": [{"row", "col", "temper", "p"}]}``,
            coordinates in ``image``).
        """
        info = dict(info or {"um_per_px": None, "notes": []})
        notes = list(info.get("notes") or [])
        if self.kind == "cnn":
            from shapekit.temper.cnn_cv import cnn_tiles
            from shapekit.temper.cnn_train import predict_tile_proba
            from shapekit.temper.pooling import average_log_proba

            tiles, coords = cnn_tiles(image, self.tile_size, self.config["cnn"]["input_scale"], source)
            tile_p = predict_tile_proba(self.network, tiles)
            p, feats = average_log_proba(tile_p), None
        else:
            feats, coords = self.tile_features(image, source)
            p, tile_p = self.classifier.predict_scan(feats)
        labels = self.label_names
        res: dict[str, Any] = {"temper": labels[int(np.argmax(p))],
                               "probabilities": {lab: round(float(v), 6) for lab, v in zip(labels, p)},
                               "tiles": int(len(coords)), "ood_score": None, "in_distribution": None,
                               "prediction_set": None, "ood": None}
        if self.outside is not None and feats is not None:
            check = self.outside.assess(p, labels, feats, image, info.get("um_per_px"),
                                        self.target_um_per_px, source_um_per_px=info.get("source_um_per_px"),
                                        training_um_per_px=self.config.get("training_um_per_px"),
                                        dtype=info.get("dtype"))
            res.update({k: check[k] for k in ("temper", "ood_score", "in_distribution",
                                              "prediction_set", "ood")})
            notes += [n for n in check["notes"] if n not in notes]  # the reader may have said it
        else:
            why = ("CNN models have none" if self.kind == "cnn" else self.config.get("outside_skipped")
                   or "trained before shapekit had one: retrain it")
            notes.append(f"this model has no outside-the-training-data check ({why})")
        th, tw = (self.tile_size, self.tile_size) if self.tile_size else image.shape
        res["tile_map"] = {
            "tile_size": [int(min(th, image.shape[0])), int(min(tw, image.shape[1]))], "labels": labels,
            "tiles": [{"row": int(r), "col": int(c), "temper": labels[int(np.argmax(tp))],
                       "p": [round(float(v), 4) for v in tp]} for (r, c), tp in zip(coords, tile_p)]}
        if self.training_scans([image]) == [True]:
            notes.append(TRAINING_SCAN_NOTE)
        res["scan"] = {k: v for k, v in info.items() if k != "notes"}
        res["notes"] = notes
        return res

    def training_scans(self, images: Sequence[np.ndarray]) -> list[bool] | None:
        """Which of ``images`` (arrays as the model reads scans) are scans it was trained on, by
        the digests of their pixels stored at training (``training_fingerprints``,
        :func:`shapekit.io.image_digests`); None for a model saved without them."""
        stored = self.config.get("training_fingerprints")
        if stored is None:
            return None
        from shapekit.io import image_digests

        known = set(stored)
        return [f in known for f in image_digests(images)]

    def assess_path(self, path: str | os.PathLike[str], um_per_px: float | None = None) -> dict[str, Any]:
        """:meth:`assess` of a scan file (read by :meth:`read`), with ``"image"`` set to its path."""
        name, img, info = self.read(path, um_per_px)
        return {"image": name, **self.assess(img, name, info)}

    def classify(self, images_or_paths: Any, um_per_px: float | None = None) -> list[dict[str, Any]]:
        """Temper verdicts, one dict per scan with the keys :data:`VERDICT_KEYS`.

        ``{"image", "temper", "probabilities", "tiles", "ood_score", "in_distribution",
        "prediction_set", "ood", "scan", "notes"}``: ``temper`` is
        ``"unknown"`` when the scan lies outside the training data (``in_distribution`` false;
        ``probabilities`` still say which temper it resembles most). A single path or 2-D array is
        accepted too; ``um_per_px`` is the pixel size of every scan, beating the files' own.
        """
        items = images_or_paths
        if isinstance(items, (str, os.PathLike)) or (isinstance(items, np.ndarray) and items.ndim == 2):
            items = [items]
        out = []
        for item in items:
            name, img, info = self.read(item, um_per_px)
            res = self.assess(img, name, info)
            res.pop("tile_map")
            out.append({"image": name, **res})
        return out

    def feature_extractor(self) -> Any:
        """CNN models: ``nn.Module`` mapping ``(N, 1, H, W)`` float tensors to ``(N, d)``."""
        if self.kind != "cnn":
            raise InputError("feature_extractor() needs a CNN model (train with --model cnn)")
        from shapekit.temper.cnn import FeatureExtractor

        return FeatureExtractor(self.network)

    # ------------------------------------------------------------------ output
    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write the model directory ``out`` (see :mod:`shapekit.temper.modeldir`); return it."""
        from shapekit.temper.modeldir import write_model_dir

        if self.kind == "cnn":
            arrays = {k: v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}
            return write_model_dir(out, self.config, {"cnn.safetensors": arrays})
        if self.columns is not None:
            raise InputError("a format-1 model with Betti curves cannot be re-saved: retrain it")
        state, arrays, raw = self.classifier.get_state()
        if self.importance is not None:
            arrays["importance"] = np.asarray(self.importance, dtype=np.float64)
        files: dict[str, Any] = {"classifier.safetensors": arrays}
        if raw is not None:
            files["xgboost.json"] = raw
        config = {**self.config, **state}
        config.pop("outside", None)
        if self.outside is not None:
            config["outside"], files["outside.safetensors"] = self.outside.to_state()
        return write_model_dir(out, config, files)

    def __repr__(self) -> str:
        what = self.config.get("classifier", {}).get("params", {}).get("model", "cnn")
        return (f"TemperModel(kind={self.kind!r}, model={what!r}, labels={self.label_names}, "
                f"tile_size={self.tile_size})")
