"""TIFF reading through tifffile: pages, palettes, planar layouts, size budget, pixel size."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from shapekit.errors import InputError

# tifffile logs warnings about damaged files; without a handler Python prints them on stderr,
# which would break the CLI's one-line error contract. The InputError carries the diagnosis.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


_UNSUPPORTED_PHOTOMETRIC = {8: "CIELAB", 9: "ICCLAB", 10: "ITULAB", 32844: "LOGL", 32845: "LOGLUV"}


#: TIFF/EXIF Orientation (tag 274) -> the transform that shows the stored rows as viewers do
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].T,
            8: lambda a: np.rot90(a, 1)}


def upright(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` turned as the TIFF/EXIF Orientation value says (1 or an unknown value: as stored).

    Examples
    --------
    >>> upright(np.array([[1, 2], [3, 4]]), 6).tolist()   # stored rotated left: turn it right
    [[3, 1], [4, 2]]
    """
    turn = _UPRIGHT.get(int(orientation))
    return img if turn is None else np.ascontiguousarray(turn(img))


def _image_pages(tf) -> list:  # noqa: ANN001 - a tifffile.TiffFile
    """Full-resolution pages (thumbnails / reduced-resolution subfiles are skipped)."""
    pages = [pg for pg in tf.pages]
    full = [pg for pg in pages if not getattr(pg, "is_reduced", False)]
    return full or pages


def _decode_with_opencv(p: Path, index: int, compression: str) -> np.ndarray:
    """Decode page ``index`` with OpenCV (libtiff: LZW, PackBits, JPEG, Deflate) when tifffile
    has no codec for it (the optional ``imagecodecs`` package is not a shapekit dependency)."""
    import cv2

    from shapekit.io._native import captured_native_stderr, fatal_message

    data = np.fromfile(p, dtype=np.uint8)
    refused = ""
    with captured_native_stderr() as native:
        try:
            if index == 0:
                arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            else:
                ok, mats = cv2.imdecodemulti(data, cv2.IMREAD_UNCHANGED)
                arr = mats[index] if ok and index < len(mats) else None
        except cv2.error as e:  # OpenCV's own sanity limits refuse it
            arr, refused = None, "OpenCV refuses its size or layout"
    problem = fatal_message(native["text"]) or refused
    if problem:
        raise InputError(f"{p}: corrupt TIFF data ({problem})")
    if arr is None or arr.size == 0:
        raise InputError(f"{p}: cannot decode TIFF compression {compression} (corrupt file, or install "
                         f"the optional 'imagecodecs' package)")
    return arr


def read_tiff(p: Path, *, page: int | None, budget: int):  # noqa: ANN201 - (ndarray, ImageMeta)
    """Read one page of a TIFF as float32 grey in [0, 1] with its metadata (see ``read_image``)."""
    import tifffile

    from shapekit.io.readers import ImageMeta, check_header_size, to_grey, to_unit_float
    from shapekit.io.scale import tiff_pixel_size

    try:
        with tifffile.TiffFile(p) as tf:
            pages = _image_pages(tf)
            n_pages = len(pages)
            if n_pages == 0:
                raise InputError(f"{p}: corrupt or truncated TIFF (no readable image page)")
            if page is None:
                if n_pages > 1:
                    raise InputError(f"{p}: multi-page TIFF with {n_pages} pages; choose one "
                                     f"(page=0..{n_pages - 1} in Python; `shapekit ingest FILE --page N "
                                     f"--out DIR` writes that page as its own file)")
                index = 0
            else:
                index = int(page)
                if not 0 <= index < n_pages:
                    raise InputError(f"{p}: page {page} out of range (the file has {n_pages} pages)")
            pg = pages[index]
            h, w = int(pg.imagelength), int(pg.imagewidth)
            depth = int(getattr(pg, "imagedepth", 1) or 1)
            check_header_size(p, h * depth, w, budget)
            if depth > 1:
                raise InputError(f"{p}: volumetric TIFF page ({depth} slices) is not a 2-D micrograph")
            photometric = int(pg.photometric)
            colormap = pg.colormap if photometric == 3 else None
            planar_separate = int(pg.planarconfig) == 2
            bit_depth = int(pg.bitspersample)
            channels = int(pg.samplesperpixel)
            um, um_src = tiff_pixel_size(tf, pg)
            orient_tag = pg.tags.get(274)  # Orientation: an editor may store the pixels turned
            orientation = int(orient_tag.value) if orient_tag is not None else 1
            bgr = False
            try:
                arr = pg.asarray()
            except Exception as e:  # noqa: BLE001 - tifffile lacks a codec: let OpenCV's libtiff try
                if "imagecodecs" not in str(e):
                    raise
                arr = _decode_with_opencv(p, int(pg.index), str(pg.compression))
                bgr, colormap, planar_separate, photometric = arr.ndim == 3, None, False, 1
                if orientation != 1 and arr.shape[:2] in ((h, w), (w, h)):  # OpenCV turned it
                    (h, w), orientation = arr.shape[:2], 1  # upright already (it always does)
    except InputError:
        raise
    except (MemoryError, OverflowError) as e:
        raise InputError(f"{p}: image too large to read ({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - tifffile raises many types for corrupt files
        msg = " ".join(str(e).split())[:160]
        raise InputError(f"{p}: corrupt, truncated or unsupported TIFF ({type(e).__name__}: {msg})") from None

    arr = np.asarray(arr)
    stored_dtype = arr.dtype.name  # "uint16" also for big-endian files
    if planar_separate and arr.ndim == 3 and arr.shape[0] == channels and arr.shape[-1] != channels:
        arr = np.moveaxis(arr, 0, -1)
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    if colormap is not None:
        cmap = np.asarray(colormap)
        if arr.ndim != 2 or cmap.ndim != 2 or cmap.shape[0] != 3:
            raise InputError(f"{p}: palette TIFF with an unexpected layout {arr.shape}")
        idx = np.clip(arr.astype(np.int64), 0, cmap.shape[1] - 1)
        arr = np.moveaxis(cmap[:, idx], 0, -1)  # (h, w, 3), uint16 (or uint8) colours
        img = to_grey(arr, source=str(p))
    elif photometric == 5 and arr.ndim == 3 and arr.shape[2] >= 4:  # SEPARATED: CMYK inks
        cmyk = to_unit_float(arr[..., :4], source=str(p), bit_depth=bit_depth)
        img = to_grey((1.0 - cmyk[..., :3]) * (1.0 - cmyk[..., 3:4]), source=str(p))
    elif photometric in _UNSUPPORTED_PHOTOMETRIC:
        raise InputError(f"{p}: unsupported TIFF colour space ({_UNSUPPORTED_PHOTOMETRIC[photometric]})")
    else:
        img = to_grey(arr, source=str(p), bit_depth=bit_depth, bgr=bgr)
        if photometric == 0:  # MINISWHITE: 0 is white
            img = 1.0 - img
    if img.ndim != 2 or img.shape != (h, w):
        raise InputError(f"{p}: unexpected TIFF layout {arr.shape} for a {h}x{w} image")
    img = upright(img, orientation)
    h, w = img.shape
    meta = ImageMeta(source=str(p), shape=(h, w), bit_depth=bit_depth, dtype=stored_dtype, channels=channels, n_pages=n_pages,
                     um_per_px=um, um_per_px_source=um_src, format="tiff", page=index)
    return np.ascontiguousarray(img, dtype=np.float32), meta
