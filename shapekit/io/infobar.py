"""Detect and remove the instrument information bar burned into the bottom of SEM images.

SEM software (FEI/Thermo, Zeiss, JEOL, Hitachi, Olympus SIS...) appends a band below the scan with
the acceleration voltage, magnification, detector and a scale bar: a flat background (black with
light text, or white/grey with dark text) that is *computer-drawn*, so most of each of its rows sits
exactly on one grey level. A micrograph row never does: shot noise and structure spread its
levels. The detector therefore works on row statistics, from the bottom up, without assuming a
height or a polarity:

1. the bar level ``b`` is the most common grey level of the bottom 8 rows (so a thin border line
   of another colour along the bottom edge does not decide it);
2. a row is *bar-like* when at least ``min_flat`` of its pixels lie within ``tol`` of ``b``, few
   of its pixels have intermediate levels, and few are *texture* (long horizontal runs off the
   bar level whose pixels differ from their neighbours: micrograph, not drawing);
3. walking up from the bottom, the band extends over bar-like rows, tolerating ``max_gap``
   consecutive rows that clearly look like micrograph (almost nothing at ``b``, or much texture)
   and up to 10 % of the image height of *ambiguous* rows (dense text lines of filled glyphs,
   JPEG-damaged or resampled text), as long as bar-like rows follow above them;
4. it is accepted only if it is at least ``min_rows`` high, at most ``max_fraction`` of the
   image, holds *markings* (text or scale bar: pixels far from ``b``), is two-tone (few pixels of
   intermediate level: this rejects saturated black/white micrograph regions, which also sit on
   one level but are surrounded by a continuum of greys), has blank margin rows (within a JPEG-
   tolerant ``blank_tol`` of ``b``), and meets the
   micrograph at an abrupt change (the rows just above it are not bar-like);
5. thin drawn frame lines directly above the band (rows of almost constant level) are included.

6. a *blurred* bar (the whole image smoothed, e.g. a Gaussian of 2-4 px: its text turns into
   soft blobs and intermediate greys, which 2-4 reject, so that 1-5 find nothing or only the
   rows below the text) is looked for too, by :func:`_blurred_band`: bottom rows largely at the
   bar level, a straight edge across the whole width above which no pixel is at that level, soft
   markings in the band; its edge is placed where the mean crosses half way from the bar level to
   the micrograph's, as a blurred step's is. The larger of the two bands is removed.

A band of constant level with no markings (e.g. a black vacuum region) is *not* cropped.

Row statistics are computed lazily from the bottom up, so a large scan without a bar costs only
its last rows. This is an engineering heuristic, not a published method; it was tuned on the UHCS
originals (38-row black SIS bar: found exactly; blurred with a Gaussian of sigma 2-4, as float
or 8-bit: 38-39 rows, where 1-5 alone found none), checked not to crop any of the 450 ``uhcs3``
images or the 23 superalloy images (sharp, or blurred with sigma 2, 3 or 5), and on synthetic bars
of other heights and polarities.

References
----------
.. [1] DeCost, Francis, Holm, "UHCS micrograph database", Integr. Mater. Manuf. Innov. 6, 197
   (2017), and Hecht, DeCost, Holm et al., NIST hdl 11256/940: the UHCS micrographs whose
   instrument bar this removes (the published 3-class subset was cropped by hand).
"""

from __future__ import annotations

import numpy as np

from shapekit.errors import InputError


def _as_grey(image: np.ndarray, max_fraction: float | None = None) -> np.ndarray:
    """2-D float32 view; finiteness is checked on the rows analysed (the bottom ``max_fraction``)."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"info-bar detection expects a 2-D grey image, got shape {img.shape}")
    img = img.astype(np.float32, copy=False)
    if max_fraction is not None:
        start = img.shape[0] - max(int(max_fraction * img.shape[0]), 1)
        if not np.isfinite(img[max(start, 0):]).all():
            raise InputError("info-bar detection: image contains NaN/Inf")
    return img


def _bar_level(rows: np.ndarray, tol: float) -> float:
    """Most common level of ``rows`` (histogram mode refined to the mean of its neighbourhood)."""
    v = rows.ravel()
    bins = max(8, int(round(1.0 / max(tol, 1e-3))))
    hist, edges = np.histogram(v, bins=bins, range=(0.0, 1.0))
    k = int(np.argmax(hist))
    near = v[(v >= edges[k] - tol) & (v <= edges[k + 1] + tol)]
    return float(np.median(near)) if near.size else float((edges[k] + edges[k + 1]) / 2)


def _mid(dist: np.ndarray, tol: float, ink_contrast: float, reach: int = 2) -> np.ndarray:
    """Pixels of intermediate level that are not the soft edge of a marking.

    Anti-aliasing, blur and JPEG ringing give every stroke of drawn text a rim of intermediate
    greys within a couple of pixels; those are excused. Intermediate greys away from any marking
    are micrograph, not drawing.
    """
    from scipy.ndimage import maximum_filter

    near_ink = maximum_filter(dist >= ink_contrast, size=2 * reach + 1, mode="nearest")
    return (dist > tol) & (dist < ink_contrast) & ~near_ink


def _texture(rows: np.ndarray, dist: np.ndarray, tol: float, run: int = 9) -> np.ndarray:
    """Per row, the fraction of pixels that look like micrograph texture rather than drawing."""
    from scipy.ndimage import binary_erosion

    off = dist > tol
    long_run = binary_erosion(off, structure=np.ones((1, run), dtype=bool), border_value=1)
    dx = np.zeros_like(off)
    dx[:, 1:] = np.abs(np.diff(rows, axis=1)) > tol
    return (long_run & dx).mean(axis=1)


def detect_info_bar(image: np.ndarray, *, max_fraction: float = 0.3, min_rows: int = 4,
                    tol: float = 0.02, min_flat: float = 0.35, max_gap: int = 3,
                    min_ink: float = 0.002, ink_contrast: float = 0.25, max_mid: float = 0.2,
                    min_blank_rows: int = 2, blank_tol: float = 0.05,
                    max_texture: float = 0.12) -> int:
    """Number of rows of an instrument info bar at the bottom of ``image`` (0 when none).

    Parameters
    ----------
    image : ndarray (h, w)
        Grey image in ``[0, 1]``.
    max_fraction : float
        Largest bar height as a fraction of the image height.
    min_rows : int
        Smallest bar height accepted.
    tol : float
        Grey-level tolerance around the bar's background level (0.02 is 5 levels of 255).
    min_flat : float
        Fraction of a row's pixels that must sit at the bar level for the row to be bar-like.
    max_gap : int
        Consecutive clearly-micrograph rows tolerated inside the bar (separators); ambiguous rows
        (dense text) may run up to ``max(max_gap, 10 % of the height)``.
    min_ink : float
        Fraction of the band's pixels that must be markings (text, scale bar) for it to count as
        an info bar; a flat band without markings is left alone.
    ink_contrast : float
        Grey-level distance from the bar level that makes a pixel a marking.
    max_mid : float
        Largest fraction of band pixels with intermediate levels (neither background nor
        marking). Drawn bars are two-tone (plus anti-aliasing); a saturated micrograph region
        is not, and is rejected by this test.
    min_blank_rows : int
        Rows of the band that must be blank (>= 90 % of their pixels within ``blank_tol`` of the
        bar level), as a drawn bar's margins are.
    blank_tol : float
        Grey-level tolerance of a blank row: looser than ``tol`` because JPEG ringing spreads
        from dense text into the margin rows of a small (e.g. downscaled) bar.
    max_texture : float
        Largest fraction of a bar row that may be *texture*: pixels off the bar level, inside a
        long horizontal run off it, and differing from their neighbour (drawn text and lines are
        short strokes or flat fills; a micrograph beside a saturated region is neither).

    Returns
    -------
    int
        Rows to remove at the bottom.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.random((120, 160)).astype(np.float32)
    >>> detect_info_bar(img)
    0
    >>> img[100:] = 0.0; img[106:112, 10:60] = 1.0     # a black bar with a white "scale bar"
    >>> detect_info_bar(img)
    20
    """
    img = _as_grey(image, max_fraction)
    h, w = img.shape
    limit = int(max_fraction * h)
    if h < 2 * min_rows or w < 8 or limit < min_rows:
        return 0
    level = _bar_level(img[h - min(8, limit):], tol)  # 8 rows: a thin border line is outvoted
    rows = _drawn_band(img, level, limit, min_rows, tol, min_flat, max_gap, min_ink, ink_contrast,
                       max_mid, min_blank_rows, blank_tol, max_texture)
    return max(rows, _blurred_band(img, level, limit, min_rows, tol, min_flat, max_gap))


def _drawn_band(img: np.ndarray, level: float, limit: int, min_rows: int, tol: float,
                min_flat: float, max_gap: int, min_ink: float, ink_contrast: float,
                max_mid: float, min_blank_rows: int, blank_tol: float, max_texture: float) -> int:
    """Steps 2-5 of the module's description (see :func:`detect_info_bar` for the parameters)."""
    h = img.shape[0]
    stats = _BottomUpStats(img, level, tol, ink_contrast, limit)

    def bar_like(k: int) -> bool:  # k: row index counted from the bottom (0 = last row)
        flat, mid, tex = stats.get(k)
        return flat >= min_flat and mid <= 1.5 * max_mid and tex <= max_texture

    def micrograph_like(k: int) -> bool:  # clearly not drawn (between the two: ambiguous)
        flat, mid, tex = stats.get(k)
        return flat < 0.5 * min_flat or mid > 3 * max_mid or tex > 2 * max_texture

    if not any(bar_like(j) for j in range(min(max_gap + 1, limit))):
        return 0
    # walk up; ambiguous rows (dense or JPEG-damaged text lines) may fill a longer gap than rows
    # that clearly belong to a micrograph
    soft_gap = max(max_gap, int(round(0.1 * h)))
    rows, gap, hard, k = 0, 0, 0, 0
    while k < limit:
        if bar_like(k):
            rows, gap, hard = k + 1, 0, 0
        else:
            gap += 1
            hard = hard + 1 if micrograph_like(k) else 0
            if hard > max_gap or gap > soft_gap:
                break
        k += 1
    else:
        return 0  # bar-like all the way up to the search limit: not a bar at the bottom
    if rows < min_rows:
        return 0
    band = img[h - rows:]
    dist = np.abs(band - level)
    ink = float((dist >= ink_contrast).mean())
    mid = float(_mid(dist, tol, ink_contrast).mean())
    blank = int(np.count_nonzero((dist <= blank_tol).mean(axis=1) >= 0.9))
    if ink < min_ink or mid > max_mid or blank < min_blank_rows:
        return 0
    # abrupt change: the rows just above the band must look like a micrograph, not like the bar
    above = [bar_like(j) for j in range(rows, min(limit, rows + 4 * max_gap))]
    if above and float(np.mean(above)) > 0.5:
        return 0
    # thin drawn frame lines (nearly constant rows) directly above the band belong to it
    scene = float(img[: h - rows: max(1, (h - rows) // 256)].mean())
    extra = 0
    while extra < 3 and rows + extra < h - 1:
        row = img[h - rows - extra - 1]
        if float(np.std(row)) <= tol and abs(float(row.mean()) - scene) > 0.1:
            extra += 1
        else:
            break
    return int(rows + extra)


def _blurred_band(img: np.ndarray, level: float, limit: int, min_rows: int, tol: float,
                  min_flat: float, max_gap: int, abrupt: int = 3, clear: int = 28,
                  contrast: float = 0.1, min_marks: float = 0.02) -> int:
    """Rows of a bar in an image blurred as a whole (step 6 of the module's description), or 0.

    A Gaussian blur of 2-3 px leaves about half of each bar row exactly at the bar level (the
    background between and beside the glyphs) but turns the glyphs into soft blobs. The band is
    the bottom rows with a tenth of their pixels at the level (a line of large blurred text
    leaves a sixth; gaps of ``max_gap`` rows allowed), the bottom row and the band on average
    ``min_flat``; within ``abrupt`` rows above it no pixel may sit at the level, nor in the
    ``clear`` rows after (a straight edge across the whole width, not a saturated micrograph
    region, whose level pixels thin out gradually); the micrograph's mean must differ from the
    level by ``contrast``, and ``min_marks`` of the band's pixels be that far from it (the blurred
    text and scale bar). The edge lies where the mean of the columns at the level in the band's
    top row (text near the edge would move a whole row's) crosses half way from the bar level to
    the micrograph's mean: a blurred step's mid-point, rounded to a row.
    """
    h = img.shape[0]
    if limit < min_rows + abrupt + clear:
        return 0
    bottom = img[h - limit:][::-1]                       # bottom-up; rows analysed lazily
    flat = np.empty(0)
    top, gap, k = -1, 0, 0
    while k < limit:
        if k >= len(flat):
            chunk = bottom[len(flat): len(flat) + 64]
            flat = np.concatenate([flat, (np.abs(chunk - level) <= tol).mean(axis=1)])
        if flat[k] >= 0.1:  # a line of blurred large text leaves a sixth of its row
            top, gap = k, 0
        else:
            gap += 1
            if gap > max_gap or top < 0:
                break
        k += 1
    if (flat[0] < min_flat or top + 1 < min_rows or flat[: top + 1].mean() < min_flat
            or top + abrupt + clear >= limit):
        return 0
    above = (np.abs(bottom[top + 1: top + abrupt + clear + 1] - level) <= tol).mean(axis=1)
    off = np.flatnonzero(above <= 0.02)
    if not off.size or off[0] >= abrupt or above[off[0]:].max() > 0.02:
        return 0
    edge_zone = top + 1 + int(off[0])                    # first row with no pixel at the level
    cols = np.abs(bottom[top] - level) <= tol
    means = bottom[: edge_zone + clear, cols].mean(axis=1)
    delta = float(np.median(means[edge_zone + clear // 2:])) - level
    if abs(delta) < contrast:
        return 0
    r = (means - level) / delta
    cross = [j for j in range(top + 1, len(r)) if r[j] >= 0.5 and r[j - 1] < 0.5]
    if not cross:
        return 0
    j = cross[0]
    rows = int(round(j - 0.5 + (0.5 - r[j - 1]) / (r[j] - r[j - 1])))
    band = np.abs(bottom[: max(1, top - abrupt)] - level)
    if rows < min_rows or float((band >= contrast).mean()) < min_marks:
        return 0
    return rows


class _BottomUpStats:
    """Per-row statistics computed lazily, in chunks, from the bottom row upwards.

    Most images have no bar and are decided from their last rows, so a large scan is never
    analysed in full; a bar costs only its own rows plus a chunk.
    """

    def __init__(self, img: np.ndarray, level: float, tol: float, ink_contrast: float, limit: int,
                 chunk: int = 64) -> None:
        self.img, self.level, self.tol, self.ink = img, level, tol, ink_contrast
        self.limit, self.chunk = limit, chunk
        self.flat = np.empty(0)
        self.mid = np.empty(0)
        self.tex = np.empty(0)

    def get(self, k: int) -> tuple[float, float, float]:
        while k >= len(self.flat):
            self._more()
        return float(self.flat[k]), float(self.mid[k]), float(self.tex[k])

    def _more(self) -> None:
        h = self.img.shape[0]
        done = len(self.flat)
        n = min(self.chunk, self.limit - done)
        if n <= 0:
            raise IndexError("row statistics requested beyond the search limit")
        rows = self.img[h - done - n: h - done][::-1]  # bottom-up order
        dist = np.abs(rows - self.level)
        flat = (dist <= self.tol).mean(axis=1)
        mid = _mid(dist, self.tol, self.ink).mean(axis=1)
        tex = _texture(rows, dist, self.tol)
        self.flat = np.concatenate([self.flat, flat])
        self.mid = np.concatenate([self.mid, mid])
        self.tex = np.concatenate([self.tex, tex])


def crop_info_bar(image: np.ndarray, **kwargs: float) -> tuple[np.ndarray, int]:
    """Remove the bottom info bar found by :func:`detect_info_bar`.

    Returns
    -------
    cropped : ndarray
        ``image[:h - rows]`` (a view; the original when no bar is found).
    rows : int
        Rows removed.

    Examples
    --------
    >>> img = np.random.default_rng(1).random((100, 100)).astype(np.float32)
    >>> img[90:] = 1.0; img[93:97, 5:40] = 0.0           # a white bar with dark text
    >>> cropped, rows = crop_info_bar(img)
    >>> cropped.shape, rows
    ((90, 100), 10)
    """
    img = _as_grey(image)
    rows = detect_info_bar(img, **kwargs)
    return (img[: img.shape[0] - rows] if rows else img), rows
