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

    Runs :func:`shapekit.io.scan.load_scan` (which refuses constant or tiny files: nothing to
    analyse), then resamples to ``target_um_per_px`` when the pixel size is known (from
    ``um_per_px`` or the file); when it is unknown, a warning is issued and the scan is used as is.

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
    import warnings

    from shapekit.io import resample
    from shapekit.io.scan import load_scan

    scan = load_scan(path, um_per_px=um_per_px, keep_info_bar=not crop_bar,
                     um_per_px_source="manifest" if um_per_px is not None else "user")
    img = scan.image
    if target_um_per_px is not None:
        if scan.um_per_px is None:
            warnings.warn(f"{path}: pixel size unknown; classified at its own scale, not resampled "
                          f"to the model's {target_um_per_px} um/px", stacklevel=2)
        elif abs(scan.um_per_px - target_um_per_px) / target_um_per_px > 1e-3:
            img = resample(img, float(scan.um_per_px), float(target_um_per_px))
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
