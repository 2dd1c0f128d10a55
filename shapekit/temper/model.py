"""A loaded temper model: scans (paths or arrays) in, temper and calibrated probabilities out.

Built by :func:`shapekit.temper.modeldir.load_model` or by training
(:func:`shapekit.temper.train.train_model`); both model kinds (TopTemp and CNN) share this object.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError

class TemperModel:
    """Classify scans with a trained TopTemp or CNN temper model.

    Parameters
    ----------
    config : dict
        The model directory's ``config.json`` content.
    label_names : list of str
        Class names, index = class id.
    classifier : TopTempClassifier, optional
        TopTemp models: the calibrated classifier on (pooled or tile) features.
    network : SmallResNet, optional
        CNN models: the trained network.
    importance : ndarray, optional
        TopTemp models: per-feature importance (used by :mod:`shapekit.temper.explain`).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from shapekit.temper.train import train_on_images
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.random((64, 64)).astype("float32") ** (1 + 2 * (i % 2)) for i in range(8)]
    >>> m = train_on_images(imgs, ["a", "b"] * 4, tempfile.mkdtemp(), model="logreg",
    ...                     tile_size=64, feature_params={"scales": [1, 2]}, cv_folds=2, augment=0)
    >>> r = m.classify([imgs[0]])[0]
    >>> sorted(r), r["tiles"], m.label_names
    (['image', 'probabilities', 'temper', 'tiles'], 1, ['a', 'b'])
    """

    def __init__(self, config: dict[str, Any], label_names: Sequence[str], classifier: Any = None,
                 network: Any = None, importance: np.ndarray | None = None) -> None:
        self.config = config
        self.label_names = list(label_names)
        self.classifier = classifier
        self.network = network
        self.importance = importance
        self.kind = config["kind"]
        self.tile_size = config.get("tile_size")
        self.target_um_per_px = config.get("target_um_per_px")
        self.feature_params = config.get("feature_params", {})
        self.aggregation = config.get("aggregation", "proba")
        self.n_jobs = 1

    # ------------------------------------------------------------------ inputs
    def load(self, item: Any, um_per_px: float | None = None) -> tuple[str, np.ndarray]:
        """``(name, image)`` for a path (ingested: info bar cropped, resampled) or an array."""
        from shapekit.temper.ingest import load_scan_image

        if isinstance(item, (str, os.PathLike)):
            return str(item), load_scan_image(Path(item), um_per_px=um_per_px,
                                              target_um_per_px=self.target_um_per_px)
        arr = np.asarray(item)
        if arr.ndim != 2:
            raise InputError(f"expected a 2-D grey image or a path, got an array of shape {arr.shape}")
        return "<array>", arr.astype(np.float32)

    # ------------------------------------------------------------- prediction
    def tile_features(self, image: np.ndarray, source: str = "image") -> tuple[np.ndarray, np.ndarray]:
        """TopTemp features of the scan's tiles and their coordinates."""
        from shapekit.temper.ingest import scan_features

        return scan_features(image, self.tile_size, self.feature_params, source, self.n_jobs)

    def scan_proba(self, image: np.ndarray, source: str = "image") -> tuple[np.ndarray, int]:
        """Calibrated class probabilities ``(k,)`` of one scan array and its number of tiles."""
        from shapekit.temper.aggregate import average_log_proba

        if self.kind == "cnn":
            from shapekit.temper.cnn_cv import cnn_tiles
            from shapekit.temper.cnn_train import predict_tile_proba

            tiles, _ = cnn_tiles(image, self.tile_size, self.config["cnn"]["input_scale"], source)
            tp = predict_tile_proba(self.network, tiles)
            return average_log_proba(tp, np.zeros(len(tp), np.int64), 1)[0], len(tiles)
        feats, _ = self.tile_features(image, source)
        if self.aggregation == "features":
            return self.classifier.predict_proba(feats.mean(0, keepdims=True))[0], len(feats)
        tp = self.classifier.predict_proba(feats)
        return average_log_proba(tp, np.zeros(len(tp), np.int64), 1)[0], len(feats)

    def predict_proba(self, images: Sequence[Any]) -> np.ndarray:
        """Probabilities ``(n, k)`` of scans given as arrays or paths."""
        out = []
        for item in images:
            name, img = self.load(item)
            out.append(self.scan_proba(img, name)[0])
        return np.asarray(out).reshape(len(out), len(self.label_names))

    def predict(self, images: Sequence[Any]) -> np.ndarray:
        """Class indices of scans given as arrays or paths."""
        return self.predict_proba(images).argmax(1)

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

    def __repr__(self) -> str:
        what = self.config.get("classifier", {}).get("params", {}).get("model", "cnn")
        return (f"TemperModel(kind={self.kind!r}, model={what!r}, labels={self.label_names}, "
                f"tile_size={self.tile_size})")
