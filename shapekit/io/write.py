"""Atomic image writing: float32 TIFF with JSON metadata and the pixel size in resolution tags."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from shapekit._atomic import atomic_path, json_default
from shapekit.errors import InputError


def resolution_tags(um_per_px: Any) -> dict[str, Any]:
    """tifffile's ``write`` arguments that store a positive pixel size as TIFF resolution tags
    (pixels per centimetre); nothing for anything else (None, NaN, 0, a string).

    Examples
    --------
    >>> resolution_tags(0.05)
    {'resolution': (200000.0, 200000.0), 'resolutionunit': 3}
    >>> resolution_tags(None), resolution_tags(float("nan"))
    ({}, {})
    """
    um = um_per_px
    if isinstance(um, (int, float)) and not isinstance(um, bool) and np.isfinite(um) and um > 0:
        px_per_cm = 1e4 / float(um)
        return {"resolution": (px_per_cm, px_per_cm), "resolutionunit": 3}
    return {}


def write_tiff(path: str | os.PathLike[str], image: np.ndarray, metadata: dict[str, Any] | None = None) -> None:
    """Write a 2-D image as a float32 TIFF atomically (temporary file, then rename).

    ``metadata`` is stored as JSON in the ImageDescription tag; a positive ``metadata["um_per_px"]``
    is also written as TIFF resolution tags (pixels per centimetre), so :func:`read_image` reads
    the pixel size back (source ``"resolution"``).

    Parameters
    ----------
    path : path-like
        Destination (``.tif``); its folder is created if needed.
    image : ndarray (h, w)
        Finite values; stored as float32.
    metadata : dict, optional
        JSON-serialisable metadata.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from shapekit.io.readers import read_image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.tif"
    >>> write_tiff(p, np.full((4, 5), 0.25, np.float32), {"um_per_px": 0.05})
    >>> img, meta = read_image(p)
    >>> float(img[0, 0]), round(meta.um_per_px, 6), meta.dtype
    (0.25, 0.05, 'float32')
    """
    import tifffile

    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(f"{path}: write_tiff expects a 2-D image, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: refusing to write an image with NaN/Inf values")
    md = dict(metadata or {})
    description = json.dumps(md, allow_nan=False, default=json_default)
    kwargs = resolution_tags(md.get("um_per_px"))
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, arr, description=description, metadata=None, photometric="minisblack",
                         **kwargs)
