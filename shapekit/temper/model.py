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

__all__ = ["TemperModel"]


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

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.temper.train import train_on_images
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.random((64, 64)).astype("float32") ** (1 + 2 * (i % 2)) for i in range(8)]
    >>> m = train_on_images(imgs, ["a", "b"] * 4, model="logreg", tile_size=64,
    ...                     feature_params={"scales": [1, 2]}, cv_folds=2, augment=0)
    >>> r = m.classify([imgs[0]])[0]
    >>> sorted(r), r["tiles"], m.label_names
    (['image', 'probabilities', 'temper', 'tiles'], 1, ['a', 'b'])
    """

    def __init__(self, config: dict[str, Any], label_names: Sequence[str], classifier: Any = None,
                 network: Any = None, importance: np.ndarray | None = None,
                 columns: np.ndarray | None = None) -> None:
        self.config = config
        self.label_names = list(label_names)
        self.classifier = classifier
        self.network = network
        self.importance = importance
        self.columns = columns
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
        from shapekit.temper.scans import load_scan_image

        if isinstance(item, (str, os.PathLike)):
            return str(item), load_scan_image(Path(item), um_per_px=um_per_px,
                                              target_um_per_px=self.target_um_per_px)
        arr = np.asarray(item)
        if arr.ndim != 2:
            raise InputError(f"expected a 2-D grey image or a path, got an array of shape {arr.shape}")
        return "<array>", arr.astype(np.float32)

    # ------------------------------------------------------------- prediction
    def tile_features(self, image: np.ndarray, source: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """TopTemp features of the scan's covering tiles (classifier columns) and their coordinates."""
        from shapekit.temper.scans import scan_tiles

        tiles, coords = scan_tiles(image, self.tile_size, source)
        X = self.features.transform(tiles)
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

    def classify(self, images_or_paths: Any) -> list[dict[str, Any]]:
        """Temper verdicts: ``[{"image", "temper", "probabilities": {label: p}, "tiles": n}, ...]``.

        A single path or 2-D array is accepted too.
        """
        items = images_or_paths
        if isinstance(items, (str, os.PathLike)) or (isinstance(items, np.ndarray) and items.ndim == 2):
            items = [items]
        out = []
        for item in items:
            name, img = self.load(item)
            p, n = self.scan_proba(img, name)
            out.append({"image": name, "temper": self.label_names[int(np.argmax(p))],
                        "probabilities": {lab: round(float(v), 6) for lab, v in zip(self.label_names, p)},
                        "tiles": int(n)})
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
        return write_model_dir(out, {**self.config, **state}, files)

    def __repr__(self) -> str:
        what = self.config.get("classifier", {}).get("params", {}).get("model", "cnn")
        return (f"TemperModel(kind={self.kind!r}, model={what!r}, labels={self.label_names}, "
                f"tile_size={self.tile_size})")
