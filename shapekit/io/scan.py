"""The ingestion pipeline: read -> sanity checks -> info-bar crop -> physical scale -> resample."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.io.infobar import detect_info_bar
from shapekit.io.readers import ImageMeta, read_image
from shapekit.io.scale import resample

MIN_SIDE = 16
"""Smallest height/width (after the info-bar crop) accepted as a micrograph."""

CONFLICT_RATIO = 1.1
"""A scale bar that reads a pixel size more than this factor from the file's metadata is
reported (the UHCS originals' Olympus tags and scale bars agree within 1.2 %)."""


@dataclass
class Scan:
    """A cleaned micrograph ready for analysis.

    Attributes
    ----------
    image : ndarray of float32, shape (h, w)
        Grey levels in ``[0, 1]``; info bar removed (unless kept); resampled if asked.
    meta : ImageMeta
        What the file held (shape before cleaning, bit depth, pixel size from its metadata).
    info_bar_rows : int
        Rows removed at the bottom (0 when none or ``keep_info_bar``), in source pixels.
    um_per_px : float or None
        Pixel size of ``image`` in micrometres (the target after resampling), None if unknown.
    um_per_px_source : str or None
        Where the source pixel size came from (``"user"``, a TIFF tag family, ``"scale_bar"``,
        ``"manifest"``).
    source_um_per_px : float or None
        Pixel size of the file before resampling.
    scale_bar : dict or None
        The scale-bar reading (:meth:`shapekit.io.scalebar.ScaleBarReading.to_dict`: ``um_per_px``,
        ``length_px``, ``label``, ``engine``, ``note``...) when one was attempted, else None.
    notes : list of str
        What the user should know: a scale bar that contradicts the file's metadata.

    Examples
    --------
    >>> meta = ImageMeta(source="a.png", shape=(32, 32), bit_depth=8, dtype="uint8", channels=1,
    ...                  n_pages=1, format="png")
    >>> Scan(np.zeros((32, 32), np.float32), meta, 0, None).to_dict()["shape"]
    [32, 32]
    """

    image: np.ndarray
    meta: ImageMeta
    info_bar_rows: int
    um_per_px: float | None
    um_per_px_source: str | None = None
    source_um_per_px: float | None = None
    scale_bar: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON sidecar written by ``shapekit ingest``."""
        return {"source": self.meta.source, "shape": [int(self.image.shape[0]), int(self.image.shape[1])],
                "source_shape": list(self.meta.shape), "info_bar_rows": int(self.info_bar_rows),
                "um_per_px": self.um_per_px, "um_per_px_source": self.um_per_px_source,
                "source_um_per_px": self.source_um_per_px, "scale_bar": self.scale_bar,
                "notes": list(self.notes),
                "bit_depth": self.meta.bit_depth,
                "dtype": self.meta.dtype, "channels": self.meta.channels, "n_pages": self.meta.n_pages,
                "page": self.meta.page, "format": self.meta.format}


def check_usable(image: np.ndarray, source: str = "image", min_side: int = MIN_SIDE) -> None:
    """Refuse images that cannot be a micrograph: too small (e.g. 1 x N) or constant.

    Examples
    --------
    >>> check_usable(np.zeros((1, 50)), "x.png")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: x.png: image is 1x50 pixels, too small for a micrograph (at least 16x16)
    """
    h, w = image.shape
    if min(h, w) < min_side:
        raise InputError(f"{source}: image is {h}x{w} pixels, too small for a micrograph "
                         f"(at least {min_side}x{min_side})")
    lo, hi = float(image.min()), float(image.max())
    if hi - lo <= 0.0:
        raise InputError(f"{source}: constant image (every pixel is {lo:.4g}); nothing to analyse")


def load_scan(path: str | os.PathLike[str], *, um_per_px: float | None = None,
              target_um_per_px: float | None = None, keep_info_bar: bool = False,
              page: int | None = None, um_per_px_source: str = "user",
              max_pixels: int | None = None, min_side: int = MIN_SIDE,
              scale_bar: str | None = "auto") -> Scan:
    """Read and clean one micrograph: the pipeline behind ``shapekit ingest`` and ``classify``.

    Parameters
    ----------
    path : path-like
        Image file (see :func:`~shapekit.io.read_image`).
    um_per_px : float, optional
        Known pixel size of the file in micrometres. Precedence: a value given by the user
        (``um_per_px_source="user"``) > the file's metadata (FEI/Zeiss/Olympus tags, TIFF
        resolution) > the scale bar in the info bar (``"scale_bar"``) > a value from a manifest
        (``um_per_px_source="manifest"``) > unknown (None).
    target_um_per_px : float, optional
        Resample to this pixel size (anti-aliased). Requires a known source pixel size.
    keep_info_bar : bool
        Keep the bottom info bar instead of detecting and cropping it.
    page : int, optional
        Page of a multi-page TIFF.
    um_per_px_source : str
        Label recorded for an explicit ``um_per_px`` (``"user"`` or ``"manifest"``).
    max_pixels : int, optional
        Pixel budget for the header check and the resampled image (see ``read_image``).
    min_side : int
        Smallest accepted height/width after cropping.
    scale_bar : {"auto", "matcher", "tesseract"} or None
        When neither the user nor the file gives the pixel size and an info bar is found, read
        its scale bar with this engine (:func:`shapekit.io.scalebar.read_scale_bar`); None: never.
        When the file's metadata gives it, the bar is still read (``"auto"``: by the matcher
        alone) to check it: a bar more than :data:`CONFLICT_RATIO` off adds a note to
        ``Scan.notes`` (the metadata's value is kept).

    Returns
    -------
    Scan

    Raises
    ------
    InputError
        Everything ``read_image`` refuses, plus images smaller than ``min_side``, constant
        images, bad pixel sizes, and resampling without a known source scale.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> rng = np.random.default_rng(0)
    >>> img = (rng.random((120, 100)) * 255).astype(np.uint8); img[100:] = 0; img[105:110, 5:50] = 255
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.tif"; tifffile.imwrite(p, img)
    >>> scan = load_scan(p, um_per_px=0.1, target_um_per_px=0.2)
    >>> scan.info_bar_rows, scan.image.shape, scan.um_per_px
    (20, (50, 50), 0.2)
    """
    image, meta = read_image(path, page=page, max_pixels=max_pixels)
    src = str(path)
    if um_per_px is not None and um_per_px_source == "manifest" and meta.um_per_px is not None:
        um_per_px = None  # the file's own metadata beats the manifest's column
    if um_per_px is not None:
        try:
            value = float(um_per_px)
        except (TypeError, ValueError):
            raise InputError(f"{src}: pixel size must be a number, got {um_per_px!r}") from None
        if not np.isfinite(value) or value <= 0:
            raise InputError(f"{src}: pixel size must be a positive number of micrometres, got {um_per_px!r}")
        scale, scale_src = value, um_per_px_source
    else:
        scale, scale_src = meta.um_per_px, meta.um_per_px_source
    if min(image.shape) < min_side:
        check_usable(image, src, min_side)
    read_bar = scale_bar is not None and scale_src not in ("user",)
    rows = detect_info_bar(image) if (not keep_info_bar or read_bar) else 0
    bar_reading, notes = None, []
    if read_bar and rows:
        from shapekit.io.scalebar import read_scale_bar

        tagged = meta.um_per_px is not None  # only a check: the matcher alone, ~25 ms
        engine = "matcher" if tagged and scale_bar == "auto" else str(scale_bar)
        reading = read_scale_bar(image, bar_rows=rows, engine=engine)
        bar_reading = reading.to_dict()
        if tagged:
            notes = _conflict_note(float(meta.um_per_px), str(meta.um_per_px_source), reading)
        elif reading.um_per_px is not None:  # the scale bar beats a manifest's column
            scale, scale_src = reading.um_per_px, "scale_bar"
    if keep_info_bar:
        rows = 0
    elif rows:
        image = image[: image.shape[0] - rows]
    check_usable(image, src, min_side)
    if meta.bit_depth > 8 and str(meta.dtype).startswith("uint"):
        notes = notes + narrow_range_note(image, str(meta.dtype))
    out_scale = scale
    if target_um_per_px is not None:
        if scale is None:
            raise InputError(f"{src}: cannot resample to {target_um_per_px} um/px without a known source "
                             f"scale (no pixel size in the file; give it, e.g. --source-um-per-px)")
        image = resample(image, scale, target_um_per_px, source=src, max_pixels=max_pixels)
        out_scale = float(target_um_per_px)
        check_usable(image, src, min_side)
    return Scan(image=np.ascontiguousarray(image, dtype=np.float32), meta=meta, info_bar_rows=int(rows),
                um_per_px=None if out_scale is None else float(out_scale), um_per_px_source=scale_src,
                source_um_per_px=None if scale is None else float(scale), scale_bar=bar_reading,
                notes=notes)


def narrow_range_note(image: Any, dtype: str | None = None) -> list[str]:
    """A hint when a scan's grey levels fill little of its file's range: such a scan is unlike any
    full-range training scan until its contrast is stretched. ``dtype`` is the file's sample type:
    a ``uint16`` file gets the likely cause (a 12-bit detector in a 16-bit file) and its factor;
    an 8-bit file, a float file or an array (None) only that its contrast is low.
    :func:`load_scan` adds it for integer files of more than 8 bits; a temper model's outside check
    adds it when a scan fails on its grey levels.

    Examples
    --------
    >>> narrow_range_note(np.linspace(0, 4095 / 65535, 100), "uint16")[0][:55]
    "the grey levels fill 6 % of the file's range (0.00-0.06"
    >>> "65535/4095" in narrow_range_note(np.linspace(0.4, 0.5, 100), "uint8")[0]
    False
    >>> narrow_range_note(np.linspace(0, 1, 100))
    []
    """
    lo, hi = (float(v) for v in np.percentile(image, [0.1, 99.9]))
    if hi - lo >= 0.25:
        return []
    where = "the file's range" if dtype else "the range"
    head = f"the grey levels fill {100 * (hi - lo):.0f} % of {where} ({lo:.2f}-{hi:.2f} of 0-1"
    if dtype == "uint16":
        return [f"{head}; a 12-bit detector in a 16-bit file?): if so, stretch its contrast to the full "
                f"range (e.g. scale by 65535/4095) before classifying it"]
    return [f"{head}: a dim, washed-out or flat scan): stretch its contrast to the full range, or "
            f"image it again with more contrast, before classifying it"]


def _conflict_note(um: float, source: str, reading: Any) -> list[str]:
    """A note when the scale bar's pixel size is more than :data:`CONFLICT_RATIO` from the metadata's.

    Examples
    --------
    >>> from shapekit.io.scalebar import ScaleBarReading
    >>> _conflict_note(0.05, "FEI_HELIOS", ScaleBarReading(0.051, 98.0, "5 µm", 5.0))
    []
    >>> _conflict_note(0.05, "FEI_HELIOS", ScaleBarReading(0.1613, 124.0, "20 µm", 20.0))[0][:64]
    "pixel size conflict: the file's FEI_HELIOS tag says 0.05 um/px, "
    """
    bar = reading.um_per_px
    if bar is None or 1 / CONFLICT_RATIO <= bar / um <= CONFLICT_RATIO:
        return []
    what = "TIFF resolution tags say" if source == "resolution" else f"{source} tag says"
    return [f"pixel size conflict: the file's {what} {um:.4g} um/px, its scale bar "
            f"('{reading.label}' over {reading.length_px:g} px) {bar:.4g} um/px, {max(bar / um, um / bar):.2g}x "
            f"{'coarser' if bar > um else 'finer'}; the metadata's is used (give the right one: "
            f"--um-per-px in classify, --source-um-per-px in ingest)"]
