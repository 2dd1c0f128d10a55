"""The CNN baseline at the scan level: tiles in, scan probabilities out, on the TopTemp folds.

Tiles are cut like TopTemp's (covering tiles, :func:`~shapekit.temper.scans.scan_tiles`) and
area-downsampled by ``input_scale`` to keep the network cheap on a CPU; a scan's probabilities
are the normalised geometric mean of its tiles'.

References
----------
He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.temper.pooling import average_log_proba
from shapekit.temper.scans import scan_tiles


def cnn_tiles(image: np.ndarray, tile_size: int, input_scale: int = 2,
              source: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """Covering tiles of ``image``, area-downsampled by ``input_scale``: ``(tiles, coords)``.

    Examples
    --------
    >>> t, c = cnn_tiles(np.zeros((100, 130), np.float32), 64, 2)
    >>> t.shape
    (6, 32, 32)
    """
    import cv2

    from shapekit.io import iter_tiles
    from shapekit.io.tiles import count_tiles
    from shapekit.temper.scans import FEATURE_CHUNK, checked_scan

    if input_scale <= 1:
        tiles, coords = scan_tiles(image, tile_size, source)
        return tiles.astype(np.float32), coords
    img, s = checked_scan(image, tile_size, source), tile_size // input_scale
    out = np.empty((count_tiles(img.shape, tile_size, pad="cover"), s, s), dtype=np.float32)
    coords, k = [], 0   # cut and downsampled a chunk at a time: never all full-size tiles at once
    for t in iter_tiles(img, tile_size, pad="cover", batch=FEATURE_CHUNK):
        for x in t.tiles:
            out[k] = cv2.resize(x, (s, s), interpolation=cv2.INTER_AREA)
            k += 1
        coords.append(t.coords)
    return out, np.concatenate(coords)


def cnn_tiles_for_images(images: Sequence[np.ndarray], tile_size: int,
                         input_scale: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of many scans and the scan index of each: ``(tiles, scan_ids)``."""
    out, ids = [], []
    for i, im in enumerate(images):
        t, _ = cnn_tiles(im, tile_size, input_scale, f"image {i}")
        out.append(t)
        ids.append(np.full(len(t), i, dtype=np.int64))
    return np.concatenate(out), np.concatenate(ids)


def cv_cnn(images: Sequence[np.ndarray], y: np.ndarray,
           folds: Sequence[tuple[np.ndarray, np.ndarray]], tile_size: int = 256,
           input_scale: int = 2, epochs: int = 12, width: int = 16, seed: int = 0,
           **fit_kwargs: Any) -> np.ndarray:
    """Scan-level out-of-fold probabilities of the CNN baseline on the given folds.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.random((32, 32)).astype("float32") * (1 + i % 2) / 2 for i in range(8)]
    >>> y = np.arange(8) % 2
    >>> from sklearn.model_selection import StratifiedKFold
    >>> folds = list(StratifiedKFold(2).split(imgs, y))
    >>> cv_cnn(imgs, y, folds, tile_size=32, epochs=1, width=4).shape
    (8, 2)
    """
    from shapekit.temper.cnn_train import fit_tile_cnn, predict_tile_proba

    y = np.asarray(y, dtype=np.int64)
    k = int(y.max()) + 1
    tiles, scan = cnn_tiles_for_images(images, tile_size, input_scale)
    oof = np.full((len(y), k), np.nan)
    for f, (train, test) in enumerate(folds):
        tr = np.isin(scan, train)
        net = fit_tile_cnn(tiles[tr], y[scan[tr]], k, width=width, max_epochs=epochs,
                           seed=seed + f, **fit_kwargs)
        te = np.isin(scan, test)
        tp, ts = predict_tile_proba(net, tiles[te]), scan[te]
        for s in test:
            oof[s] = average_log_proba(tp[ts == s])
    return oof
