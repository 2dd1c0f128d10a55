"""Read SEM micrographs (TIFF, PNG, JPEG, BMP) as float32 grey images in ``[0, 1]``.

The format is decided from the file's first bytes, never from its extension, so a text file
named ``.tif`` is refused cleanly. Image dimensions are read from the header and checked against
a pixel budget *before* any pixel buffer is allocated. Every user-fixable problem (missing file,
directory, empty or truncated file, NaN in a float TIFF, unchosen page of a multi-page file)
raises :class:`shapekit.errors.InputError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.io._headers import raster_header_shape, sniff_format
from shapekit.io._native import captured_native_stderr, fatal_message
from shapekit.io.budget import check_pixel_budget, pixel_budget


#: luminance weights (ITU-R BT.601, as OpenCV's ``cvtColor``) for R, G, B
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)

SUPPORTED_FORMATS = ("tiff", "png", "jpeg", "bmp")
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class ImageMeta:
    """What was read, and from where.

    Attributes
    ----------
    source : str
        The path that was read.
    shape : tuple of int
        ``(height, width)`` of the grey image returned.
    bit_depth : int
        Bits per sample as stored (8, 12, 16, 32, 64 or 1).
    dtype : str
        The stored sample dtype (``"uint8"``, ``"uint16"``, ``"float32"``...).
    channels : int
        Samples per pixel as stored (1 grey, 3 RGB, 4 RGBA; a palette image counts 1).
    n_pages : int
        Number of image pages in the file (1 except for multi-page TIFF).
    um_per_px : float or None
        Pixel size in micrometres found in the file's metadata, else None.
    um_per_px_source : str or None
        Where ``um_per_px`` came from: ``"FEI_HELIOS"``, ``"FEI_SFEG"``, ``"CZ_SEM"``,
        ``"OLYMPUS_SIS"``, ``"resolution"`` (TIFF resolution tags with a unit, or ImageJ units),
        ``"manifest"`` or ``"user"``.
    format : str
        ``"tiff"``, ``"png"``, ``"jpeg"`` or ``"bmp"``.
    page : int
        The page that was read.

    Examples
    --------
    >>> m = ImageMeta(source="a.tif", shape=(4, 6), bit_depth=16, dtype="uint16", channels=1, n_pages=1)
    >>> m.to_dict()["shape"], m.um_per_px is None
    ([4, 6], True)
    """

    source: str
    shape: tuple[int, int]
    bit_depth: int
    dtype: str
    channels: int
    n_pages: int
    um_per_px: float | None = None
    um_per_px_source: str | None = None
    format: str = "tiff"
    page: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (shape as a list)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Raise a one-line :class:`InputError` unless ``path`` is an existing non-empty file.

    Examples
    --------
    >>> check_readable_file("/nonexistent/x.tif")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: file not found: /nonexistent/x.tif
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not an image file")
    if not p.is_file():
        raise InputError(f"{p} is not a regular file")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)")
    return p


def check_image_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """``(path, format)`` of an existing non-empty file whose first bytes are a TIFF, PNG, JPEG
    or BMP header (no pixel read: a cheap check before a model loads); else a one-line
    :class:`InputError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "n.tif"
    >>> _ = p.write_text("x")
    >>> check_image_file(p)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: ...n.tif: not a supported image (TIFF, PNG, JPEG or BMP content expected)
    """
    p = check_readable_file(path)
    fmt = sniff_format(p)
    if fmt is None:
        raise InputError(f"{p}: not a supported image (TIFF, PNG, JPEG or BMP content expected)")
    return p, fmt


def check_header_size(path: Path, height: int, width: int, budget: int) -> None:
    """Refuse a header's claimed size before any pixel buffer is allocated.

    Examples
    --------
    >>> check_header_size(Path("a.png"), 10, 10, 1000)
    """
    if height <= 0 or width <= 0:
        raise InputError(f"{path}: header claims an empty image ({height}x{width})")
    check_pixel_budget((height, width), f"{path}: header claims", max_pixels=budget)


def to_unit_float(arr: np.ndarray, *, source: str = "image", bit_depth: int | None = None) -> np.ndarray:
    """Scale stored samples to float32 in ``[0, 1]``.

    Unsigned integers are divided by their range (``2**bit_depth - 1`` when a smaller bit depth
    such as 12 is declared), signed integers are shifted then divided, booleans become 0/1.
    Floats must be finite: they are kept as they are when already inside ``[0, 1]`` and otherwise
    min-max rescaled to ``[0, 1]`` (a constant float image outside the range becomes zeros).

    Examples
    --------
    >>> to_unit_float(np.array([0, 65535], dtype=np.uint16)).tolist()
    [0.0, 1.0]
    >>> to_unit_float(np.array([-2.0, 2.0])).tolist()
    [0.0, 1.0]
    """
    if arr.size == 0:
        raise InputError(f"{source}: no pixel data (an empty {arr.shape} array; file corrupt)")
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        top = float(np.iinfo(arr.dtype).max)
        if bit_depth and 1 < bit_depth < 8 * arr.dtype.itemsize:
            top = float(2**bit_depth - 1)
        out = arr.astype(np.float32)     # in place from here (the same arithmetic): one copy
        out /= np.float32(top)
        return np.clip(out, 0.0, 1.0, out=out)
    if np.issubdtype(arr.dtype, np.signedinteger):
        info = np.iinfo(arr.dtype)
        return ((arr.astype(np.float64) - info.min) / (float(info.max) - info.min)).astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        a = arr.astype(np.float32, copy=False)
        finite = np.isfinite(a)
        if not finite.all():
            bad = int(a.size - np.count_nonzero(finite))
            raise InputError(f"{source}: {bad} NaN/Inf pixel values in a float image")
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.array(a, dtype=np.float32, copy=True)
        if hi == lo:
            return np.zeros_like(a, dtype=np.float32)
        return ((a - lo) / (hi - lo)).astype(np.float32)
    raise InputError(f"{source}: unsupported sample type {arr.dtype}")


#: how far beyond [0, 1] a float array's values may lie (interpolation overshoot) in
#: :func:`unit_image`
UNIT_SLACK = 0.05


def unit_image(image: Any, source: str = "<array>") -> np.ndarray:
    """An image given as an array, on the ``[0, 1]`` grey scale that files are read to.

    Unsigned integer and boolean pixels are scaled by their type's range, as a file's are
    (``uint8`` 255 -> 1.0); float pixels must already lie in ``[0, 1]`` (up to
    :data:`UNIT_SLACK`) and are returned as they are (no copy). Anything else is refused with one
    line naming ``source``: floats in ``[0, 255]`` would be clipped or read as another contrast,
    signed integers have no range to scale by.

    Examples
    --------
    >>> unit_image(np.array([[0, 255]], np.uint8)).tolist()
    [[0.0, 1.0]]
    >>> unit_image(np.array([[0.0, 255.0]]))
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: <array>: pixel values in [0, 255], outside [0, 1]: scale the image to [0, 1] (8-bit values: / 255), or pass it as a uint8/uint16 array or a file
    """
    a = np.asarray(image)
    if a.ndim != 2:
        raise InputError(f"{source}: expected a 2-D grey image, got an array of shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{source}: an empty {a.shape} image")
    if a.dtype == bool or np.issubdtype(a.dtype, np.unsignedinteger):
        return to_unit_float(a, source=source)
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"{source}: pixels of type {a.dtype} have no grey scale to read: pass "
                         f"floats in [0, 1] or a uint8/uint16 array")
    if not np.isfinite(a).all():
        raise InputError(f"{source}: image contains NaN or Inf values")
    lo, hi = float(a.min()), float(a.max())
    if lo < -UNIT_SLACK or hi > 1 + UNIT_SLACK:
        raise InputError(f"{source}: pixel values in [{lo:.4g}, {hi:.4g}], outside [0, 1]: scale "
                         f"the image to [0, 1] (8-bit values: / 255), or pass it as a uint8/uint16 "
                         f"array or a file")
    return a


def unit_pixels(image: Any, source: str = "<array>") -> np.ndarray:
    """Integer and boolean pixels read as :func:`unit_image` reads them (``uint8`` 255 -> 1.0,
    signed integers refused); float pixels returned as they are, unchecked, for functions that
    measure whatever float scale they are given.

    Examples
    --------
    >>> unit_pixels(np.array([[0, 255]], np.uint8)).tolist(), unit_pixels(np.array([[2.5]])).tolist()
    ([[0.0, 1.0]], [[2.5]])
    """
    a = np.asarray(image)
    return a if np.issubdtype(a.dtype, np.floating) else unit_image(a, source)


def to_grey(arr: np.ndarray, *, bgr: bool = False, source: str = "image",
            bit_depth: int | None = None) -> np.ndarray:
    """Convert a stored ``(h, w)`` or ``(h, w, c)`` array to a float32 grey image in ``[0, 1]``.

    Colour images become luminance (BT.601 weights); an alpha channel (4th, or 2nd of a
    grey+alpha image) is ignored. ``bgr=True`` for OpenCV's channel order.

    Examples
    --------
    >>> rgb = np.zeros((2, 2, 3), np.uint8); rgb[..., 1] = 255
    >>> round(float(to_grey(rgb)[0, 0]), 3)
    0.587
    """
    a = to_unit_float(arr, source=source, bit_depth=bit_depth)
    if a.ndim == 2:
        return a
    if a.ndim != 3:
        raise InputError(f"{source}: cannot interpret an array of shape {arr.shape} as an image")
    c = a.shape[2]
    if c in (1, 2):
        return np.ascontiguousarray(a[..., 0])
    if c in (3, 4):
        rgb = a[..., :3][..., ::-1] if bgr else a[..., :3]
        grey = rgb @ LUMA.astype(np.float32)
        return np.clip(grey, 0.0, 1.0).astype(np.float32)
    raise InputError(f"{source}: unsupported number of channels ({c})")


def read_image(path: str | os.PathLike[str], *, page: int | None = None,
               max_pixels: int | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read a micrograph as a float32 2-D grey image in ``[0, 1]`` plus its metadata.

    Parameters
    ----------
    path : path-like
        A TIFF (8/16/32-bit integer, float, RGB/RGBA, palette, multi-page), PNG, JPEG or BMP file.
        The format is sniffed from the file content.
    page : int, optional
        Page of a multi-page TIFF (0-based). Required when the file has more than one page.
    max_pixels : int, optional
        Refuse images whose header claims more pixels than this, before allocating them. Default
        ``$SHAPEKIT_MAX_PIXELS`` or :data:`~shapekit.io.budget.DEFAULT_MAX_PIXELS`.

    Returns
    -------
    image : ndarray of float32, shape (h, w)
        Grey levels in ``[0, 1]``, row 0 at the top (a JPEG or TIFF turned upright as its
        EXIF/TIFF Orientation tag says, as image viewers show it). Integer samples are divided by their range;
        colour is reduced to luminance ignoring alpha; palette indices are mapped to their colour's
        luminance; float samples are kept when inside ``[0, 1]`` and min-max rescaled otherwise.
    meta : ImageMeta
        Source, stored bit depth/dtype/channels, page count and the pixel size found in the
        file's metadata (FEI, Zeiss, Olympus SIS tags or TIFF resolution tags with a unit).

    Raises
    ------
    InputError
        Missing path, directory, empty/truncated/corrupt/unsupported file, multi-page file without
        ``page``, page out of range, NaN/Inf in a float image, oversized header.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, np.full((4, 6), 65535, np.uint16))
    >>> img, meta = read_image(p)
    >>> img.shape, img.dtype, float(img.max()), meta.bit_depth
    ((4, 6), dtype('float32'), 1.0, 16)
    """
    p, fmt = check_image_file(path)
    budget = pixel_budget(max_pixels)
    if fmt == "tiff":
        from shapekit.io._tiff import read_tiff

        return read_tiff(p, page=page, budget=budget)
    return _read_raster(p, fmt, page=page, budget=budget)


def _read_raster(p: Path, fmt: str, *, page: int | None, budget: int) -> tuple[np.ndarray, ImageMeta]:
    import cv2

    if page not in (None, 0):
        raise InputError(f"{p}: a {fmt.upper()} file has 1 page; page {page} does not exist")
    h, w = raster_header_shape(p, fmt)
    check_header_size(p, h, w, budget)
    data = np.fromfile(p, dtype=np.uint8)
    _check_complete(p, fmt, data)
    refused = ""
    # a JPEG is turned upright as its EXIF Orientation tag says (as every viewer shows it; a
    # camera or editor stores the pixels sideways and sets the tag); IMREAD_UNCHANGED ignores it
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    with captured_native_stderr() as native:
        try:
            arr = cv2.imdecode(data, flags)
        except cv2.error as e:  # OpenCV's own sanity limits (e.g. a header's height) refuse it
            arr, refused = None, "OpenCV refuses its size or layout"
    problem = fatal_message(native["text"]) or refused
    if arr is None or arr.size == 0 or problem:
        raise InputError(f"{p}: corrupt or truncated {fmt.upper()} file ({problem or 'could not decode'})")
    if arr.shape[:2] != (h, w) and not (fmt == "jpeg" and arr.shape[:2] == (w, h)):
        raise InputError(f"{p}: decoded size {arr.shape[:2]} differs from header {h}x{w}; file corrupt")
    channels = 1 if arr.ndim == 2 else int(arr.shape[2])
    bit_depth = 8 * arr.dtype.itemsize
    img = to_grey(arr, bgr=True, source=str(p))
    meta = ImageMeta(source=str(p), shape=(int(img.shape[0]), int(img.shape[1])), bit_depth=bit_depth,
                     dtype=arr.dtype.name, channels=channels, n_pages=1, format=fmt, page=0)
    return img, meta


def _check_complete(p: Path, fmt: str, data: np.ndarray) -> None:
    """Detect truncation that decoders silently paper over (JPEG, PNG)."""
    tail = data[-4096:].tobytes()
    if fmt == "jpeg" and b"\xff\xd9" not in tail:
        raise InputError(f"{p}: truncated JPEG file (no end-of-image marker)")
    if fmt == "png" and b"IEND" not in tail:
        raise InputError(f"{p}: truncated PNG file (no IEND chunk)")


def image_digests(images: Any) -> list[str]:
    """One digest per image of its pixels: 16 hex digits of SHA-256 over the shape and the
    float32 grey levels (the one test of "the same image", pixel for pixel).

    A lossless copy (PNG -> TIFF, a renamed file) reads the same digest as the image it copies; a
    re-compressed, resampled or one-grey-level-changed one does not. Temper models store their
    training scans' digests (``training_fingerprints``); the realism score counts the compared
    images that are reference images.

    Examples
    --------
    >>> a = np.zeros((4, 5), np.float32)
    >>> image_digests([a, a.copy()]) == image_digests([a.astype(np.float64)] * 2)
    True
    >>> len(image_digests([a])[0]), image_digests([a]) == image_digests([a.T])
    (16, False)
    """
    import hashlib

    out = []
    for im in images:
        a = np.ascontiguousarray(im, dtype=np.float32)
        h = hashlib.sha256(np.asarray(a.shape, np.int64).tobytes())
        h.update(a.tobytes())
        out.append(h.hexdigest()[:16])
    return out

