"""Scans for the temper models: read (info bar cropped, at the model's pixel size), tile, featurise.

Thin glue over :mod:`shapekit.io` (``load_scan``, ``resample``, ``tile_image``) so that
``classify`` works on raw microscope files, plus the scan -> covering tiles -> features step
shared by training, classification, evaluation and robustness.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError, ShapekitWarning


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
                          f"to the model's {target_um_per_px} um/px", ShapekitWarning, stacklevel=2)
        elif abs(scan.um_per_px - target_um_per_px) / target_um_per_px > 1e-3:
            img = resample(img, float(scan.um_per_px), float(target_um_per_px), source=str(path))
    return np.ascontiguousarray(img, dtype=np.float32)


def scan_tiles(image: np.ndarray, tile_size: int | None, source: str = "image"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Covering tiles of a scan (:func:`shapekit.io.tile_image` with ``pad="cover"``):
    ``(tiles (n, size, size) float32, coords (n, 2))``; ``tile_size=None``: the scan itself.

    Examples
    --------
    >>> t, c = scan_tiles(np.zeros((475, 645), np.float32), 256)
    >>> t.shape, c[-1].tolist()
    ((6, 256, 256), [219, 389])
    """
    from shapekit.io import tile_image

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"{source}: expected a 2-D grey image, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise InputError(f"{source}: image contains NaN or Inf values")
    if tile_size is None:
        return img[None], np.zeros((1, 2), dtype=np.int64)
    try:
        t = tile_image(img, tile_size, pad="cover")
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    return t.tiles, t.coords


def scan_features(images: Sequence[np.ndarray], tile_size: int | None, features: Any = None,
                  names: Sequence[str] | None = None, desc: str = "featurize") -> list[np.ndarray]:
    """Tile features of every scan: one ``(n_tiles, d)`` matrix per scan.

    Parameters
    ----------
    images : sequence of 2-D arrays
    tile_size : int or None
        Side of the covering tiles (:func:`scan_tiles`); None: each scan is one tile.
    features : sklearn Pipeline or dict, optional
        A stateless feature pipeline (:func:`~shapekit.temper.presets.toptemp_features`) or its
        feature parameters (default: the robust preset); a fresh clone featurises each scan.
    names : sequence of str, optional
        Scan names for error messages.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = scan_features([rng.random((32, 70)), rng.random((32, 32))], 32, {"scales": [1]})
    >>> [x.shape for x in f]
    [(3, 108), (1, 108)]
    """
    from sklearn.base import clone

    from shapekit._progress import progress
    from shapekit.temper.presets import toptemp_features

    pipe = features if hasattr(features, "fit_transform") else toptemp_features(features)
    out = []
    for i, img in enumerate(progress(images, desc=desc, total=len(images))):
        src = str(names[i]) if names is not None else f"image {i}"
        tiles, _ = scan_tiles(img, tile_size, src)
        out.append(clone(pipe).fit_transform(tiles))
    if not out:
        raise InputError("no images to featurize")
    return out


def read_manifest_images(manifest: Any, target_um_per_px: float | None = None) -> list[np.ndarray]:
    """All images of a :class:`shapekit.io.Manifest`, ingested like :func:`load_scan_image`."""
    from shapekit._progress import progress

    ums = manifest.um_per_px_values
    out = []
    for p, um in progress(list(zip(manifest.paths, ums)), desc="read", total=len(manifest)):
        out.append(load_scan_image(Path(p), um_per_px=None if not np.isfinite(um) else float(um),
                                   target_um_per_px=target_um_per_px))
    return out
