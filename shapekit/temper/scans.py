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


def unknown_scale_note(target_um_per_px: float) -> str:
    """The note of a scan classified without a pixel size by a model that has one (the one wording,
    used by the reader, the outside check and the server).

    Examples
    --------
    >>> unknown_scale_note(0.1)[:40]
    'pixel size unknown: the scan was classif'
    """
    return (f"pixel size unknown: the scan was classified at its own scale, not brought to the "
            f"model's {target_um_per_px:g} um/px; give its pixel size (--um-per-px) if the verdict "
            "matters")


def read_scan(path: str | os.PathLike[str], *, um_per_px: float | None = None,
              target_um_per_px: float | None = None, crop_bar: bool = True,
              um_per_px_source: str | None = None,
              max_pixels: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a micrograph for a temper model: ``(image, info)``.

    The image is float32 grey ``[0, 1]``, cropped of its info bar and resampled to
    ``target_um_per_px`` when its pixel size is known (from ``um_per_px`` or the file: metadata,
    then the scale bar, see :func:`shapekit.io.scan.load_scan`); when it is unknown the scan is used
    at its own scale and ``info["notes"]`` says so.

    Parameters
    ----------
    path : path-like
        TIFF/PNG/JPEG/BMP file, as saved by the microscope or already cropped.
    um_per_px : float, optional
        Known pixel size of the file.
    target_um_per_px : float, optional
        The model's common pixel size (None: classify at the scan's own scale).
    crop_bar : bool
        Detect and remove an instrument info bar at the bottom.
    um_per_px_source : str, optional
        Label of an explicit ``um_per_px``: ``"user"`` (beats the file's metadata, the default)
        or ``"manifest"`` (the file's metadata and scale bar beat it).
    max_pixels : int, optional
        Pixel budget of the file (:func:`shapekit.io.scan.load_scan`'s default when None).

    Returns
    -------
    image : ndarray (h, w) float32
    info : dict
        ``um_per_px`` (of the returned image, None if unknown), ``um_per_px_source``
        (``"user"``, a metadata family, ``"scale_bar"``, ``"manifest"`` or None),
        ``source_um_per_px``, ``info_bar_rows``, ``source_shape``, ``resampled`` (bool),
        ``dtype`` (the file's sample type, e.g. ``"uint8"``), ``notes`` (list of str).

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    >>> img, info = read_scan(p, um_per_px=0.1, target_um_per_px=0.2)
    >>> img.shape, info["um_per_px"], info["um_per_px_source"], info["resampled"]
    ((20, 25), 0.2, 'user', True)
    >>> read_scan(p)[1]["um_per_px"] is None
    True
    """
    from shapekit.io.scan import load_scan

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    scan = load_scan(path, um_per_px=um_per_px, keep_info_bar=not crop_bar,
                     um_per_px_source=um_per_px_source or "user", **kw)
    return scan_for_model(scan, target_um_per_px, source=str(path))


def scan_for_model(scan: Any, target_um_per_px: float | None, *, source: str = "image"
                   ) -> tuple[np.ndarray, dict[str, Any]]:
    """A loaded :class:`shapekit.io.scan.Scan` as a temper model classifies it: ``(image, info)``
    as :func:`read_scan` returns them (the one place that resamples to the model's pixel size and
    writes the reader's notes; the server uses it too)."""
    from shapekit.io import resample

    img, notes, resampled = scan.image, list(scan.notes), False  # a scale bar against the metadata
    um = scan.um_per_px
    if target_um_per_px is not None:
        if um is None:
            notes.append(unknown_scale_note(target_um_per_px))
        elif abs(um - target_um_per_px) / target_um_per_px > 1e-3:
            img = resample(img, float(um), float(target_um_per_px), source=source)
            um, resampled = float(target_um_per_px), True
    bar = scan.scale_bar or {}
    if scan.um_per_px is None and bar.get("note"):
        notes.append(f"scale bar not read: {bar['note']}")
    info = {"um_per_px": um, "um_per_px_source": scan.um_per_px_source if um is not None else None,
            "source_um_per_px": scan.source_um_per_px, "info_bar_rows": int(scan.info_bar_rows),
            "source_shape": [int(v) for v in scan.meta.shape[:2]], "resampled": resampled,
            "dtype": str(scan.meta.dtype), "notes": notes}
    return np.ascontiguousarray(img, dtype=np.float32), info


def load_scan_image(path: str | os.PathLike[str], *, um_per_px: float | None = None,
                    target_um_per_px: float | None = None, crop_bar: bool = True) -> np.ndarray:
    """The image of :func:`read_scan` (``um_per_px`` is a manifest's value: the file's own
    metadata and scale bar beat it); a warning is issued when the pixel size is unknown.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    >>> load_scan_image(p, um_per_px=0.1, target_um_per_px=0.2).shape
    (20, 25)
    """
    import warnings

    img, info = read_scan(path, um_per_px=um_per_px, target_um_per_px=target_um_per_px,
                          crop_bar=crop_bar,
                          um_per_px_source="manifest" if um_per_px is not None else "user")
    for note in info["notes"]:
        if note.startswith("pixel size unknown"):
            warnings.warn(f"{path}: {note}", ShapekitWarning, stacklevel=2)
    return img


def checked_scan(image: np.ndarray, tile_size: int | None, source: str) -> np.ndarray:
    """``image`` as float32, refused (one line naming ``source``) unless it is a finite 2-D
    image of at least one tile."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"{source}: expected a 2-D grey image, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise InputError(f"{source}: image contains NaN or Inf values")
    if tile_size is not None and min(img.shape) < tile_size:  # the model's tiles are fixed
        raise InputError(f"{source}: image of {img.shape[0]}x{img.shape[1]} pixels is smaller than "
                         f"one {tile_size}x{tile_size} tile: a model with {tile_size}-px tiles needs "
                         f"scans of at least {tile_size} px a side")
    return img


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

    img = checked_scan(image, tile_size, source)
    if tile_size is None:
        return img[None], np.zeros((1, 2), dtype=np.int64)
    try:
        t = tile_image(img, tile_size, pad="cover")
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    return t.tiles, t.coords


#: covering tiles featurised at once by :func:`tile_features`: the pipeline holds about five
#: float32 copies of the tiles it works on, so a chunk keeps that to ~80 MB of 256-px tiles
#: whatever the scan's size (all 768 tiles of an 8192 x 6144 scan at once took ~0.9 GB)
FEATURE_CHUNK = 64


def tile_features(image: np.ndarray, tile_size: int | None, pipe: Any, source: str = "image",
                  chunk: int | None = None, fit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n, d)`` of a scan's covering tiles (:func:`scan_tiles`) and their coordinates,
    featurised ``chunk`` tiles at a time: every tile's features depend on that tile alone, so
    they are the same as all tiles' at once, in a memory bounded whatever the scan's size.
    ``pipe`` is a fitted stateless feature pipeline (``fit=True``: a fresh one, whose
    ``fit_transform`` featurises each chunk); ``chunk`` defaults to :data:`FEATURE_CHUNK`.

    Examples
    --------
    >>> from shapekit.temper.presets import toptemp_features
    >>> img = np.random.default_rng(0).random((70, 100)).astype(np.float32)
    >>> pipe = toptemp_features({"scales": [1]})
    >>> X, c = tile_features(img, 32, pipe, chunk=2, fit=True)
    >>> X.shape, len(c), bool(np.array_equal(X, pipe.fit_transform(scan_tiles(img, 32)[0])))
    ((12, 108), 12, True)
    """
    from shapekit.io import iter_tiles

    chunk = FEATURE_CHUNK if chunk is None else chunk
    if isinstance(chunk, bool) or int(chunk) < 1:
        raise InputError(f"chunk must be a positive integer, got {chunk!r}")
    if tile_size is None:
        tiles, coords = scan_tiles(image, None, source)
        return (pipe.fit_transform if fit else pipe.transform)(tiles), coords
    img = checked_scan(image, tile_size, source)
    blocks, coords = [], []
    try:
        for t in iter_tiles(img, tile_size, pad="cover", batch=int(chunk)):
            blocks.append(np.asarray((pipe.fit_transform if fit else pipe.transform)(t.tiles)))
            coords.append(t.coords)
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    return np.concatenate(blocks), np.concatenate(coords)


def scan_features(images: Sequence[np.ndarray], tile_size: int | None, features: Any = None,
                  names: Sequence[str] | None = None, desc: str = "featurize",
                  n_jobs: int | None = 1) -> list[np.ndarray]:
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
    desc : str
        Label of the progress bar.
    n_jobs : int or None
        Scans featurised at once, in threads (persistent homology releases the GIL); the
        features do not depend on it. None or -1: every core.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = scan_features([rng.random((32, 70)), rng.random((32, 32))], 32, {"scales": [1]})
    >>> [x.shape for x in f]
    [(3, 108), (1, 108)]
    >>> g = scan_features([rng.random((32, 70)), rng.random((32, 32))], 32, {"scales": [1]}, n_jobs=2)
    >>> [x.shape for x in g]
    [(3, 108), (1, 108)]
    """
    from joblib import Parallel, delayed
    from sklearn.base import clone

    from shapekit._progress import progress
    from shapekit.temper.presets import toptemp_features

    pipe = features if hasattr(features, "fit_transform") else toptemp_features(features)

    def one(i: int, img: np.ndarray) -> np.ndarray:
        src = str(names[i]) if names is not None else f"image {i}"
        return tile_features(img, tile_size, clone(pipe), src, fit=True)[0]

    if not len(images):
        raise InputError("no images to featurize")
    jobs = Parallel(n_jobs or -1, prefer="threads",
                    return_as="generator")(delayed(one)(i, img) for i, img in enumerate(images))
    return list(progress(jobs, desc=desc, total=len(images)))


def read_manifest_images(manifest: Any, target_um_per_px: float | None = None) -> list[np.ndarray]:
    """All images of a :class:`shapekit.io.Manifest`, ingested like :func:`load_scan_image`."""
    from shapekit._progress import progress

    ums = manifest.um_per_px_values
    out = []
    for p, um in progress(list(zip(manifest.paths, ums)), desc="read", total=len(manifest)):
        out.append(load_scan_image(Path(p), um_per_px=None if not np.isfinite(um) else float(um),
                                   target_um_per_px=target_um_per_px))
    return out
