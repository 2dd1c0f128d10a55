"""Read the pixel size from the scale bar burned into an SEM info bar ("5 µm" over 90 px).

Many SEM files (JPEG exports above all) carry their scale only in the drawn info bar. Within the
band found by :func:`~shapekit.io.infobar.detect_info_bar`:

1. *ink* is every pixel far from the band's background level (either polarity: white-on-black or
   black-on-white), as a coverage in ``[0, 1]``;
2. the *scale bar* is an ink component that is a horizontal line: its longest rows span its whole
   width, it is much wider than the text is high, and those long rows form one thin run (a
   filled bar, a line with end ticks, a bracket). Its length is the ink coverage summed along
   those rows, i.e. the outer extent in pixels with sub-pixel precision on anti-aliased or JPEG
   ends (a line drawn from column 270 to 359 is 90 px long);
3. the *label* is the run of glyphs closest to the bar (to its right or left on the same line,
   or centred above or below it), read by :func:`shapekit.io.ocr.match_label` and, when
   installed, Tesseract (:func:`shapekit.io.ocr.tesseract_read`);
4. ``um_per_px = label value / length``, kept only if it is a plausible SEM pixel size.

Nothing is guessed: with no bar, no label, an unclear glyph, readers that disagree or an
implausible result, ``um_per_px`` is None and ``note`` says why.

The work is bounded by the band (at most 30 % of the image height), its component count and a
Tesseract timeout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.io.infobar import detect_info_bar
from shapekit.io.ocr import match_label, parse_label, tesseract_available, tesseract_read
from shapekit.io.scale import PLAUSIBLE_UM_PER_PX

ENGINES = ("auto", "matcher", "tesseract")
MAX_COMPONENTS = 5000


@dataclass
class ScaleBarReading:
    """What :func:`read_scale_bar` found.

    Attributes
    ----------
    um_per_px : float or None
        Pixel size from the bar (None when anything is unclear).
    length_px : float or None
        Bar length in pixels of the image.
    label : str or None
        Label as read, canonical (``"5 µm"``, ``"500 nm"``).
    value_um : float or None
        Label value in micrometres.
    engine : str or None
        Which reader read the label: ``"matcher"``, ``"tesseract"`` or ``"matcher+tesseract"``.
    bar_box : list of int or None
        ``[row, col, height, width]`` of the bar in the image.
    note : str
        ``"ok"`` or why nothing was read.
    """

    um_per_px: float | None = None
    length_px: float | None = None
    label: str | None = None
    value_um: float | None = None
    engine: str | None = None
    bar_box: list[int] | None = None
    note: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ink(band: np.ndarray) -> tuple[np.ndarray, float]:
    """Ink coverage of a band in [0, 1] (0 = background level) and the background level."""
    v = band.ravel()
    hist, edges = np.histogram(v, bins=64, range=(0.0, 1.0))
    k = int(np.argmax(hist))
    level = float(np.median(v[(v >= edges[k]) & (v <= edges[k + 1])]))
    dist = np.abs(band - level)
    peak = float(np.percentile(dist, 99.9))
    if peak < 0.2:
        return np.zeros_like(band), level
    return np.clip(dist / peak, 0.0, 1.0).astype(np.float32), level


def _line_candidates(ink: np.ndarray, labels: np.ndarray, boxes: list[Any], glyph_h: float) -> list[dict[str, Any]]:
    """Components that are horizontal lines: long full-width rows forming one thin run."""
    out = []
    for i, sl in enumerate(boxes):
        if sl is None:
            continue
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if w < max(12, 2.5 * glyph_h) or w < 2 * h:
            continue
        mask = labels[sl] == i + 1
        long_rows = np.flatnonzero(mask.sum(axis=1) >= 0.9 * w)
        if not long_rows.size or long_rows[-1] - long_rows[0] + 1 != long_rows.size:
            continue  # no full-width row, or two separate ones (a frame, not a bar)
        if long_rows.size > max(2, 0.34 * w):
            continue
        r0, r1 = sl[0].start + long_rows[0], sl[0].start + long_rows[-1] + 1
        c0, c1 = max(sl[1].start - 2, 0), min(sl[1].stop + 2, ink.shape[1])
        # ink per column across the line (one row of margin each side), in units of the line's
        # full thickness: sums to the length with sub-pixel ends, whatever the blur or resampling
        prof = ink[max(r0 - 1, 0):r1 + 1, c0:c1].sum(axis=0)
        full = float(np.median(prof[2 + w // 4: 2 + w - w // 4]))
        length = float(np.clip(prof / max(full, 1e-6), 0, 1).sum())
        out.append({"rows": (r0, r1), "cols": (sl[1].start, sl[1].stop), "box": sl, "length": length})
    return out


def _label_groups(boxes: list[Any], bar: dict[str, Any], glyph_h: float, skip: int) -> list[list[Any]]:
    """Runs of glyph boxes next to the bar (right, left, above, below), nearest first."""
    (br0, br1), (bc0, bc1) = (bar["box"][0].start, bar["box"][0].stop), bar["cols"]
    bcy = 0.5 * (br0 + br1)
    glyphs = [sl for i, sl in enumerate(boxes) if sl is not None and i != skip
              and sl[0].stop - sl[0].start <= 3 * glyph_h and sl[1].stop - sl[1].start <= 4 * glyph_h]
    cands: list[tuple[float, list[Any]]] = []

    def run_from(start: Any, direction: int) -> list[Any]:
        group = [start]
        cy = 0.5 * (start[0].start + start[0].stop)
        while True:
            edge = group[-1][1].stop if direction > 0 else group[-1][1].start
            nxt = [g for g in glyphs if g not in group and abs(0.5 * (g[0].start + g[0].stop) - cy) < 0.8 * glyph_h
                   and 0 <= (g[1].start - edge if direction > 0 else edge - g[1].stop) <= 1.2 * glyph_h]
            if not nxt:
                return sorted(group, key=lambda g: g[1].start)
            group.append(min(nxt, key=lambda g: abs(g[1].start - edge if direction > 0 else edge - g[1].stop)))

    lcy = 0.5 * (bar["rows"][0] + bar["rows"][1])  # the line's own rows (not its end ticks)
    reach = max(0.6 * glyph_h, 0.5 * (br1 - br0))
    same_line = [g for g in glyphs if abs(0.5 * (g[0].start + g[0].stop) - lcy) <= reach]
    right = [g for g in same_line if g[1].start >= bc1]
    left = [g for g in same_line if g[1].stop <= bc0]
    if right:
        g = min(right, key=lambda g: g[1].start)
        cands.append((g[1].start - bc1, run_from(g, +1)))
    if left:
        g = max(left, key=lambda g: g[1].stop)
        cands.append((bc0 - g[1].stop, run_from(g, -1)))
    for side in (-1, 1):  # above, below: glyphs overlapping the bar's columns
        vert = [g for g in glyphs if g[1].start < bc1 and g[1].stop > bc0 and g not in same_line
                and ((g[0].stop <= br0) if side < 0 else (g[0].start >= br1))]
        if vert:
            g = min(vert, key=lambda g: abs(0.5 * (g[0].start + g[0].stop) - bcy))
            line = [h for h in vert if abs(0.5 * (h[0].start + h[0].stop) - 0.5 * (g[0].start + g[0].stop)) < 0.8 * glyph_h]
            dist = (br0 - g[0].stop) if side < 0 else (g[0].start - br1)
            first = min(line, key=lambda h: h[1].start)
            cands.append((float(dist), run_from(first, +1)))
    return [grp for _, grp in sorted(cands, key=lambda c: c[0])]


def _crop(ink: np.ndarray, group: list[Any]) -> np.ndarray:
    r0, r1 = min(g[0].start for g in group), max(g[0].stop for g in group)
    c0, c1 = min(g[1].start for g in group), max(g[1].stop for g in group)
    return np.pad(ink[r0:r1, c0:c1], max(2, (r1 - r0) // 4))


def _read_with(engine: str, crop: np.ndarray) -> tuple[tuple[float, str] | None, str]:
    """``((value um, label) or None, note)`` of one label crop by one reader."""
    if engine == "matcher":
        text, why = match_label(crop)
        parsed = parse_label(text) if text is not None else None
        return parsed, "ok" if parsed else f"matcher: {why if text is None else f'{text!r} is not a length'}"
    text = tesseract_read(crop)
    parsed = parse_label(text)
    return parsed, "ok" if parsed else f"tesseract: {text!r} is not a length"


def _read_labels(ink: np.ndarray, groups: list[list[Any]], engine: str
                 ) -> tuple[tuple[float, str, str] | None, list[str]]:
    """First label among ``groups`` (nearest first) that reads as a length: ``(value, label, engine)``.

    ``auto``: the matcher on each group; the group it reads is confirmed by Tesseract when
    installed (a different reading refuses the label); if the matcher reads none, Tesseract alone.
    """
    notes: list[str] = []
    crops = [_crop(ink, g) for g in groups]
    first = "tesseract" if engine == "tesseract" else "matcher"
    for crop in crops:
        parsed, why = _read_with(first, crop)
        if parsed is None:
            notes.append(why)
            continue
        if engine == "auto" and tesseract_available():
            other, why2 = _read_with("tesseract", crop)
            if other is not None and abs(other[0] - parsed[0]) > 1e-9 * parsed[0]:
                return None, notes + [f"readers disagree on the label (matcher {parsed[1]!r}, "
                                      f"tesseract {other[1]!r})"]
            return (parsed[0], parsed[1], "matcher+tesseract" if other else "matcher"), notes
        return (parsed[0], parsed[1], first), notes
    if engine == "auto" and tesseract_available():
        for crop in crops:
            parsed, why = _read_with("tesseract", crop)
            if parsed is not None:
                return (parsed[0], parsed[1], "tesseract"), notes
            notes.append(why)
    return None, notes


def read_scale_bar(image: np.ndarray, *, bar_rows: int | None = None, engine: str = "auto") -> ScaleBarReading:
    """Pixel size from the scale bar in the info bar at the bottom of ``image``.

    Parameters
    ----------
    image : ndarray (h, w)
        Grey image in ``[0, 1]`` *with* its info bar.
    bar_rows : int, optional
        Height of the info bar (default: :func:`~shapekit.io.infobar.detect_info_bar`).
    engine : {"auto", "matcher", "tesseract"}
        Label reader: the built-in glyph matcher, Tesseract (an error if not installed), or
        ``"auto"``: the matcher, and Tesseract too when installed (they must agree).

    Returns
    -------
    ScaleBarReading
        ``um_per_px`` None (with a ``note``) unless everything was clear.

    Examples
    --------
    >>> from shapekit.io.ocr import render_text
    >>> img = np.random.default_rng(0).random((200, 300)).astype(np.float32)
    >>> img[160:] = 0.0; img[175:179, 40:140] = 1.0                 # a 100 px bar ...
    >>> lab = render_text("2 µm", "DejaVuSans.ttf", 16); img[168:168 + lab.shape[0], 150:150 + lab.shape[1]] = lab
    >>> r = read_scale_bar(img, engine="matcher")                   # ... labelled 2 µm
    >>> r.label, r.length_px, r.um_per_px
    ('2 µm', 100.0, 0.02)
    >>> read_scale_bar(np.random.default_rng(0).random((64, 64))).note
    'no info bar at the bottom of the image'
    """
    if engine not in ENGINES:
        raise InputError(f"scale-bar engine must be one of {ENGINES}, got {engine!r}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"scale-bar reading expects a 2-D grey image, got shape {img.shape}")
    rows = detect_info_bar(img) if bar_rows is None else int(bar_rows)
    if rows <= 0:
        return ScaleBarReading(note="no info bar at the bottom of the image")
    top = img.shape[0] - rows
    ink, _ = _ink(img[top:])
    if not ink.any():
        return ScaleBarReading(note="the info bar has no markings")
    from scipy.ndimage import find_objects, label

    labels, n = label(ink >= 0.5, structure=np.ones((3, 3), bool))
    if n > MAX_COMPONENTS:
        return ScaleBarReading(note=f"the info bar has {n} marks, too many for a drawn bar")
    boxes = find_objects(labels)
    heights = [sl[0].stop - sl[0].start for sl in boxes if sl is not None]
    glyph_h = float(np.median([h for h in heights if h >= 5] or [8]))
    bars = _line_candidates(ink, labels, boxes, glyph_h)
    if not bars:
        return ScaleBarReading(note="no scale-bar line found in the info bar")
    notes = []
    for bar in sorted(bars, key=lambda b: -b["length"]):
        idx = next(i for i, sl in enumerate(boxes) if sl == bar["box"])
        box = [int(top + bar["box"][0].start), int(bar["cols"][0]),
               int(bar["box"][0].stop - bar["box"][0].start), int(bar["cols"][1] - bar["cols"][0])]
        groups = _label_groups(boxes, bar, glyph_h, idx)
        found, why = _read_labels(ink, groups, engine)
        notes += why
        if found is None:
            continue
        value, lab, eng = found
        um = value / bar["length"]
        lo, hi = PLAUSIBLE_UM_PER_PX
        if not lo <= um <= hi:
            notes.append(f"{lab} over {bar['length']:.1f} px gives an implausible {um:.3g} um/px")
            continue
        return ScaleBarReading(um_per_px=float(um), length_px=round(float(bar["length"]), 2), label=lab,
                               value_um=float(value), engine=eng, bar_box=box)
    notes = list(dict.fromkeys(notes))
    return ScaleBarReading(note=("label unreadable (" + "; ".join(notes) + ")") if notes
                           else "no label next to the scale-bar line")
