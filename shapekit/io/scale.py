"""Physical pixel size: from instrument TIFF tags, and anti-aliased resampling to a common scale."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.io.budget import check_pixel_budget

#: micrometres per unit for the length units found in SEM metadata
_UNIT_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0,
            "nm": 1e-3, "pm": 1e-6, "cm": 1e4, "in": 25400.0, "inch": 25400.0}
#: TIFF ResolutionUnit codes -> micrometres per unit (2 inch, 3 cm; 4 mm and 5 um as extended)
_RESUNIT_UM = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}
#: pixel sizes implied by resolution tags outside this range are print/screen defaults (72 dpi
#: is 353 um/px), not a microscope's calibration, and are ignored
PLAUSIBLE_UM_PER_PX = (1e-5, 10.0)


def _positive(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _fei(tf: Any, page: Any) -> tuple[float | None, str | None]:
    md = tf.fei_metadata if getattr(tf, "is_fei", False) else None
    if not md:
        return None, None
    src = "FEI_HELIOS" if 34682 in page.tags else "FEI_SFEG"
    for section in ("Scan", "EScan", "Image"):
        sec = md.get(section)
        if isinstance(sec, dict):
            v = _positive(sec.get("PixelWidth"))
            if v is not None:
                return v * 1e6, src  # metres -> um
    return None, None


def _zeiss(tf: Any) -> tuple[float | None, str | None]:
    md = tf.sem_metadata if getattr(tf, "is_sem", False) else None
    if not md:
        return None, None
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = md.get(key)
        if isinstance(entry, tuple) and len(entry) >= 2:
            v = _positive(entry[1])
            unit = str(entry[2]).strip() if len(entry) >= 3 else "nm"
            if v is not None and unit in _UNIT_UM:
                return v * _UNIT_UM[unit], "CZ_SEM"
    return None, None


def _sis(tf: Any) -> tuple[float | None, str | None]:
    try:
        md = tf.sis_metadata
    except Exception:  # noqa: BLE001 - a malformed optional tag must not fail the read
        return None, None
    if isinstance(md, dict):
        v = _positive(md.get("pixelsizex"))
        if v is not None:
            return v * 1e6, "OLYMPUS_SIS"
    return None, None


def _resolution(tf: Any, page: Any) -> tuple[float | None, str | None]:
    tags = page.tags
    if "XResolution" not in tags:
        return None, None
    xres = tags["XResolution"].value
    px_per_unit = _positive(xres[0] / xres[1]) if isinstance(xres, tuple) and xres[1] else _positive(xres)
    if px_per_unit is None:
        return None, None
    um_per_unit = None
    unit_tag = tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2
    if unit in _RESUNIT_UM:
        um_per_unit = _RESUNIT_UM[unit]
    else:  # unit NONE: ImageJ stores the unit in its description
        ij = tf.imagej_metadata if getattr(tf, "is_imagej", False) else None
        if ij and str(ij.get("unit", "")).strip() in _UNIT_UM:
            um_per_unit = _UNIT_UM[str(ij["unit"]).strip()]
    if um_per_unit is None:
        return None, None
    um = um_per_unit / px_per_unit
    lo, hi = PLAUSIBLE_UM_PER_PX
    return (um, "resolution") if lo <= um <= hi else (None, None)


def tiff_pixel_size(tf: Any, page: Any) -> tuple[float | None, str | None]:
    """Pixel size (um/px) and its source from an open ``tifffile.TiffFile``.

    Looks, in order, at FEI/Thermo ``FEI_HELIOS``/``FEI_SFEG`` (``[Scan] PixelWidth`` in metres),
    Zeiss ``CZ_SEM`` (tag 34118, ``AP_IMAGE_PIXEL_SIZE``/``AP_PIXEL_SIZE`` with a unit), Olympus
    ``OlympusSIS`` (``pixelsizex`` in metres) and finally the TIFF ``XResolution`` /
    ``ResolutionUnit`` tags (inch, cm, mm, um; or unit NONE with an ImageJ ``unit=micron``).
    Resolution-derived sizes outside :data:`PLAUSIBLE_UM_PER_PX` (e.g. 72 dpi defaults) are
    ignored. Returns ``(None, None)`` when nothing usable is found.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.tif"
    >>> tifffile.imwrite(p, np.zeros((4, 4), np.uint8), resolution=(2e4, 2e4), resolutionunit=3)
    >>> with tifffile.TiffFile(p) as tf:
    ...     um, src = tiff_pixel_size(tf, tf.pages[0])
    >>> round(um, 6), src
    (0.5, 'resolution')
    """
    for finder in (lambda: _fei(tf, page), lambda: _zeiss(tf), lambda: _sis(tf),
                   lambda: _resolution(tf, page)):
        try:
            um, src = finder()
        except Exception:  # noqa: BLE001 - malformed vendor metadata is ignored, not fatal
            um, src = None, None
        if um is not None:
            return float(um), src
    return None, None


def resample(image: np.ndarray, um_per_px: float, target_um_per_px: float, *,
             source: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Resample ``image`` from ``um_per_px`` to ``target_um_per_px`` (anti-aliased).

    Downsampling uses area averaging (OpenCV ``INTER_AREA``, a box filter over each output pixel's
    footprint, so no aliasing); upsampling uses bicubic interpolation. The output is clipped to
    ``[0, 1]`` and has shape ``round(h * s), round(w * s)`` with ``s = um_per_px / target``.

    Parameters
    ----------
    image : ndarray (h, w)
        Grey image in ``[0, 1]``, or unsigned integers (scaled by their type's range,
        :func:`~shapekit.io.readers.unit_image`); floats beyond ``[0, 1]`` are refused rather
        than clipped.
    um_per_px, target_um_per_px : float
        Current and wanted pixel sizes in micrometres (positive, finite).
    source : str
        Names the image in error messages (its file).
    max_pixels : int, optional
        Pixel budget of the output (see :func:`shapekit.io.budget.pixel_budget`), checked before
        anything is allocated: nm typed as um asks for a million times more pixels.

    Raises
    ------
    InputError
        A non-positive pixel size, a non-2-D image, one off the ``[0, 1]`` grey scale, or an
        output over the pixel budget.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((100, 80)).astype(np.float32)
    >>> resample(img, 0.1, 0.2).shape
    (50, 40)
    >>> resample(img, 5.0, 0.005, source="a.png", max_pixels=10**8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: a.png: resampling 100x80 px from 5 to 0.005 um/px: 100000x80000 = 8000000000 pixels, over the limit of 100000000 pixels (...)
    """
    src, dst = _positive(um_per_px), _positive(target_um_per_px)
    if src is None:
        raise InputError(f"source pixel size must be a positive number, got {um_per_px!r}")
    if dst is None:
        raise InputError(f"target pixel size must be a positive number, got {target_um_per_px!r}")
    from shapekit.io.readers import unit_image

    img = np.asarray(unit_image(image, source), dtype=np.float32)   # uint8 scaled, not clipped
    s = src / dst
    h, w = img.shape
    what = f"{source}: resampling {h}x{w} px from {src:g} to {dst:g} um/px"
    if not math.isfinite(h * s * w * s) or h * s * w * s > 2.0**62:
        raise InputError(f"{what}: the output size overflows (factor {s:.3g})")
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    check_pixel_budget((nh, nw), what, max_pixels=max_pixels)
    if (nh, nw) == (h, w):
        return img.copy()
    import cv2

    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    out = cv2.resize(img, (nw, nh), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
