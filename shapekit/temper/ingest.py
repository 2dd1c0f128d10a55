"""Scan ingestion for the temper models: read, crop the info bar, bring to the model's pixel size.

Thin glue over :mod:`shapekit.io` (``read_image``, ``crop_info_bar``, ``resample``) so that
``classify`` works on raw microscope files, plus the scan -> tiles -> features step shared by
training, classification, evaluation and robustness.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.temper.aggregate import scan_tiles
from shapekit.temper.features import tiles_features


def load_scan_image(path: str | os.PathLike[str], *, um_per_px: float | None = None,
                    target_um_per_px: float | None = None, crop_bar: bool = True) -> np.ndarray:
    """Read a micrograph as float32 grey ``[0, 1]``, cropped of its info bar and resampled.

    Parameters
    ----------
    path : path-like
        TIFF/PNG/JPEG/BMP file, as saved by the microscope or already cropped.
    um_per_px : float, optional
        Known pixel size (manifest); otherwise the file's metadata is used when present.
    target_um_per_px : float, optional
        Resample to this pixel size when the pixel size is known (a model's common scale).
    crop_bar : bool
        Detect and remove an instrument info bar at the bottom.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    >>> load_scan_image(p, um_per_px=0.1, target_um_per_px=0.2).shape
    (20, 25)
    """
    from shapekit.io import read_image, resample

    img, meta = read_image(path)
    if crop_bar:
        from shapekit.io.infobar import crop_info_bar

        img, _ = crop_info_bar(img)
    scale = um_per_px if um_per_px is not None and np.isfinite(um_per_px) else meta.um_per_px
    if target_um_per_px is not None and scale is not None and np.isfinite(scale) and scale > 0:
        if abs(scale - target_um_per_px) / target_um_per_px > 1e-3:
            img = resample(img, float(scale), float(target_um_per_px))
    return np.ascontiguousarray(img, dtype=np.float32)


def scan_features(image: np.ndarray, tile_size: int | None, feature_params: dict[str, Any],
                  source: str = "image", n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile a scan and featurize its tiles: ``(features (n_tiles, d), coords (n_tiles, 2))``.

    Examples
    --------
    >>> f, c = scan_features(np.random.default_rng(0).random((32, 70)), 32, {"scales": [1]})
    >>> f.shape[0], c.tolist()
    (3, [[0, 0], [0, 19], [0, 38]])
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"{source}: expected a 2-D grey image, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise InputError(f"{source}: image contains NaN or Inf values")
    tiles, coords = scan_tiles(img, tile_size, source)
    return tiles_features(tiles, n_jobs=n_jobs, **feature_params), coords


def features_for_images(images: Sequence[np.ndarray], tile_size: int | None,
                        feature_params: dict[str, Any], names: Sequence[str] | None = None,
                        n_jobs: int = 1, desc: str = "featurize") -> tuple[np.ndarray, np.ndarray]:
    """Tile features of many scans: ``(features (N_tiles, d), scan index per tile (N_tiles,))``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f, g = features_for_images([rng.random((32, 64)), rng.random((32, 32))], 32, {"scales": [1]})
    >>> f.shape[0], g.tolist()
    (3, [0, 0, 1])
    """
    from shapekit._progress import progress

    feats, ids = [], []
    for i, img in enumerate(progress(images, desc=desc, total=len(images))):
        src = str(names[i]) if names is not None else f"image {i}"
        f, _ = scan_features(img, tile_size, feature_params, src, n_jobs)
        feats.append(f)
        ids.append(np.full(len(f), i, dtype=np.int64))
    if not feats:
        raise InputError("no images to featurize")
    return np.concatenate(feats), np.concatenate(ids)


def read_manifest_images(manifest: Any, target_um_per_px: float | None = None) -> list[np.ndarray]:
    """All images of a :class:`shapekit.io.Manifest`, ingested like :func:`load_scan_image`."""
    from shapekit._progress import progress

    ums = manifest.um_per_px_values
    out = []
    for p, um in progress(list(zip(manifest.paths, ums)), desc="read", total=len(manifest)):
        out.append(load_scan_image(Path(p), um_per_px=None if not np.isfinite(um) else float(um),
                                   target_um_per_px=target_um_per_px))
    return out
