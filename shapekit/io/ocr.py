"""Read a scale-bar label ("5 µm", "500 nm", "0.5 um"): a glyph matcher, and Tesseract when installed.

The glyph matcher needs nothing beyond matplotlib's bundled DejaVu fonts. The label's ink is split
into connected components (one per glyph; touching glyphs are split at ink-projection minima),
each cut out over the *line box* of the label (from the digits' top to below the baseline, so
that position tells ``0`` from ``o`` and ``µ`` from ``u``), stretched to a fixed canvas, blurred
and compared by normalised cross-correlation with templates rendered the same way from DejaVu
Sans, Sans Bold and Sans Mono. Every glyph must match one character clearly (score and margin
over the runner-up), and the whole string must parse as ``<number> <unit>``; otherwise nothing is
read. Nothing is guessed: an unclear glyph makes the label unreadable.

:func:`tesseract_read` is a thin wrapper over the ``tesseract`` binary (Debian: ``apt-get install
tesseract-ocr``) on the same label crop, upscaled; :func:`tesseract_available` says whether it is
on ``PATH``.

References
----------
.. [1] R. Smith, "An Overview of the Tesseract OCR Engine", ICDAR 2007.
.. [2] R. Brunelli, "Template Matching Techniques in Computer Vision", Wiley 2009 (normalised
   cross-correlation of stretched, blurred glyphs).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from shapekit.errors import InputError

#: characters a scale-bar label is made of (``u`` and ``µ`` both mean micro)
CHARSET = "0123456789.µumn"
#: template fonts: matplotlib's bundled DejaVu family (sans-serif, as SEM software uses)
TEMPLATE_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf")
CANVAS = (32, 20)  # rows, cols of the normalised glyph
DESCENDER = 0.35  # line box reaches this fraction of the digit height below the baseline
LABEL_RE = re.compile(r"^(\d+(?:[.,]\d+)?)(nm|µm|mm)$")
UNIT_UM = {"nm": 1e-3, "µm": 1.0, "mm": 1e3}


def parse_label(text: str) -> tuple[float, str] | None:
    """``(value in micrometres, canonical label)`` of a scale-bar label, or None.

    Spaces are ignored; ``u``, ``μ`` (Greek mu) and ``µ`` (micro sign) all mean micro.

    Examples
    --------
    >>> parse_label("5 um"), parse_label("500nm"), parse_label("0,5 μm"), parse_label("5 pm")
    ((5.0, '5 µm'), (0.5, '500 nm'), (0.5, '0.5 µm'), None)
    >>> parse_label("05 um") is None   # a lost decimal point
    True
    """
    t = "".join(str(text).split()).replace("μ", "µ").replace("um", "µm")
    m = LABEL_RE.match(t)
    if not m:
        return None
    num = m.group(1).replace(",", ".")
    if len(num) > 1 and num[0] == "0" and num[1] != ".":
        return None  # "05": a lost decimal point, not a label
    value = float(num)
    if not value > 0:
        return None
    return value * UNIT_UM[m.group(2)], f"{num} {m.group(2)}"


def _fonts_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_text(text: str, font: str, px: int) -> np.ndarray:
    """Anti-aliased coverage of ``text`` in a bundled matplotlib ``font`` at ``px`` pixels per em.

    Float in ``[0, 1]`` (1 = ink), 4 px of margin; used for the templates and for drawing
    synthetic labels in tests.

    Examples
    --------
    >>> float(render_text("5 µm", "DejaVuSans.ttf", 16).max())
    1.0
    """
    from matplotlib.ft2font import FT2Font

    f = FT2Font(str(_fonts_dir() / font))
    f.set_size(px, 72)
    f.set_text(text, 0.0)
    f.draw_glyphs_to_bitmap(antialiased=True)
    img = np.asarray(f.get_image(), dtype=np.float32) / 255.0
    return np.pad(img, 4)


def _components(ink: np.ndarray, thr: float = 0.5) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(top, bottom, left, right)`` (exclusive ends) of ink components, left to right."""
    from scipy.ndimage import find_objects, label

    lab, n = label(ink >= thr, structure=np.ones((3, 3), bool))
    boxes = [(s[0].start, s[0].stop, s[1].start, s[1].stop) for s in find_objects(lab) if s is not None]
    inside = lambda a, b: a != b and b[0] <= a[0] and a[1] <= b[1] and b[2] <= a[2] and a[3] <= b[3]  # noqa: E731
    boxes = [a for a in boxes if not any(inside(a, b) for b in boxes)]  # e.g. the dot of a dotted zero
    return sorted(boxes, key=lambda b: b[2])


def normalise_glyph(ink: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """The glyph ``ink[top:bottom, left:right]`` stretched to :data:`CANVAS`, blurred, zero-mean, unit norm.

    ``top``/``bottom`` are the label's line box (not the glyph's own box), so vertical position
    is kept.

    Examples
    --------
    >>> g = normalise_glyph(np.ones((10, 6), np.float32), 0, 10, 1, 5)
    >>> g.shape, round(float(np.linalg.norm(g)), 6)
    ((32, 20), 0.0)
    """
    import cv2

    crop = np.zeros((bottom - top, right - left), np.float32)
    r0, r1 = max(top, 0), min(bottom, ink.shape[0])
    crop[r0 - top:r1 - top] = ink[r0:r1, left:right]
    out = cv2.resize(crop, (CANVAS[1], CANVAS[0]), interpolation=cv2.INTER_AREA)
    out = cv2.GaussianBlur(out, (0, 0), 1.2)
    out = out - out.mean()
    n = float(np.linalg.norm(out))
    return out / n if n > 1e-9 else out


@functools.lru_cache(maxsize=1)
def templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(canvases (n, 20*32), characters (n,), aspect ratios (n,))`` rendered from the template fonts."""
    vecs, chars, aspects = [], [], []
    for font in TEMPLATE_FONTS:
        for ch in CHARSET:
            img = render_text(f"8 {ch} 8", font, 48)
            boxes = _components(img)
            (t8, b8, _, r8), last = boxes[0], boxes[-1]
            mid = [b for b in boxes if b[2] >= r8 and b[3] <= last[2]]
            t = min(b[0] for b in mid)
            bot = max(b[1] for b in mid)
            left, right = min(b[2] for b in mid), max(b[3] for b in mid)
            h = b8 - t8
            vecs.append(normalise_glyph(img, t8, b8 + int(round(DESCENDER * h)), left, right).ravel())
            chars.append("µ" if ch == "u" else ch)
            aspects.append((right - left) / max(bot - t, 1))
    return np.stack(vecs), np.asarray(chars), np.asarray(aspects)


def classify_glyph(vec: np.ndarray, aspect: float) -> tuple[str, float, float]:
    """Best character for a normalised glyph: ``(char, score, margin over the next character)``.

    The score is the normalised cross-correlation with the best template of that character,
    less a small penalty for a different width-to-height ratio (condensed fonts are tolerated).
    """
    T, chars, aspects = templates()
    s = T @ vec.ravel() - 0.08 * np.abs(np.log(max(aspect, 1e-3) / aspects))
    best: dict[str, float] = {}
    for c, v in zip(chars.tolist(), s.tolist()):
        best[c] = max(best.get(c, -2.0), v)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], ranked[0][1] - ranked[1][1]


def _line_box(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int]:
    """``(top, baseline, digit height)`` of a label line from its glyph boxes."""
    bottoms = np.array([b[1] for b in boxes])
    heights = np.array([b[1] - b[0] for b in boxes])
    big = heights >= 0.5 * heights.max()  # not the decimal point
    baseline = int(np.median(bottoms[big]))
    top = int(min(b[0] for b, k in zip(boxes, big) if k and b[1] <= baseline + 1) if any(
        k and b[1] <= baseline + 1 for b, k in zip(boxes, big)) else min(b[0] for b in boxes))
    return top, baseline, max(baseline - top, 1)


def match_label(ink: np.ndarray, *, min_score: float = 0.6,
                min_margin: float = 0.05) -> tuple[str | None, str]:
    """Read a label from its ink image (float, 1 = ink) with the glyph matcher.

    Parameters
    ----------
    ink : ndarray (h, w)
        Ink coverage of the label in ``[0, 1]`` (the label only, a little margin around it).
    min_score, min_margin : float
        A glyph is read only if its best character scores at least ``min_score`` and beats the
        best other character by ``min_margin``.

    Returns
    -------
    (text or None, note)
        The characters read (e.g. ``"5µm"``), or None and why not.

    Examples
    --------
    >>> ink = render_text("20 µm", "DejaVuSans.ttf", 16)
    >>> match_label(ink)[0]
    '20µm'
    """
    boxes = _components(ink)
    if not boxes:
        return None, "no glyphs in the label"
    boxes = _merge_broken(boxes, _line_box(boxes)[2])
    top, base, h = _line_box(boxes)
    bottom = base + int(round(DESCENDER * h))
    out: list[tuple[str, int, int]] = []  # (text, left, right)
    for b in boxes:
        if b[1] - b[0] < 0.45 * h and (b[3] - b[2]) < 0.5 * h:
            if b[1] >= base - 0.15 * h and b[1] <= base + 0.15 * h + 1:
                out.append((".", b[2], b[3]))  # a small blob on the baseline
            elif (b[1] - b[0]) * (b[3] - b[2]) > 2:
                return None, f"stray mark at column {b[2]} in the label"
            continue
        read, why = _read_component(ink, b, top, bottom, h, min_score, min_margin)
        if read is None:
            return None, why
        out.append((read, b[2], b[3]))
    gaps = [(n[1] - p[2]) for p, n in zip(out[:-1], out[1:]) if p[0][-1].isdigit() and n[0][0].isdigit()]
    if gaps and max(gaps) > max(0.45 * h, 2.0 * float(np.median(gaps))):
        return None, "unexplained gap between digits (a decimal point too faint to see?)"
    return "".join(t for t, _, _ in out), "ok"


def _merge_broken(boxes: list[tuple[int, int, int, int]], h: int) -> list[tuple[int, int, int, int]]:
    """Join components that share most of their columns: pieces of one glyph broken by resampling.

    A glyph is read over all the ink in its columns (the label's line box), so each piece of a
    ``5`` whose stroke broke into a top and a bottom part would read as the whole ``5``: ``55``.
    Neighbouring glyphs of a label overlap by a pixel or two at most. Small marks (under half the
    digit height ``h`` both ways: a decimal point, a stray mark) are left alone, for
    :func:`match_label` to judge.

    Examples
    --------
    >>> _merge_broken([(4, 12, 4, 13), (11, 19, 4, 13), (8, 19, 22, 30)], 15)
    [(4, 19, 4, 13), (8, 19, 22, 30)]
    """
    small = lambda b: b[1] - b[0] < 0.45 * h and b[3] - b[2] < 0.5 * h  # noqa: E731
    out: list[tuple[int, int, int, int]] = []
    for b in sorted(boxes, key=lambda b: b[2]):
        for i, a in enumerate(out):
            shared = min(a[3], b[3]) - max(a[2], b[2])
            if not (small(a) or small(b)) and shared >= 0.5 * min(a[3] - a[2], b[3] - b[2]):
                out[i] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                break
        else:
            out.append(b)
    return sorted(out, key=lambda b: b[2])


def _read_glyph(ink: np.ndarray, box: tuple[int, int, int, int], left: int, right: int, top: int,
                bottom: int) -> tuple[str, float, float]:
    sub = ink[box[0]:box[1], left:right]
    rows = np.flatnonzero(sub.max(axis=1) >= 0.5)
    gh = (rows[-1] - rows[0] + 1) if rows.size else (box[1] - box[0])
    return classify_glyph(normalise_glyph(ink, top, bottom, left, right), (right - left) / max(gh, 1))


def _read_component(ink: np.ndarray, box: tuple[int, int, int, int], top: int, bottom: int, h: int,
                    min_score: float, min_margin: float) -> tuple[str | None, str]:
    """One component as one glyph, or (if wide) as 2-3 touching glyphs cut at ink minima.

    Of the readings whose every glyph is clear, the one with the best mean score wins.
    """
    ch, score, margin = _read_glyph(ink, box, box[2], box[3], top, bottom)
    best: tuple[float, str] | None = (score, ch) if score >= min_score and margin >= min_margin else None
    why = f"glyph at column {box[2]} unclear (best {ch!r} score {score:.2f}, margin {margin:.2f})"
    w = box[3] - box[2]
    for n in (2, 3):
        if w < n * 0.4 * h or (best is not None and w < 1.2 * h):
            break
        reads = [_read_glyph(ink, box, a, z, top, bottom) for a, z in _split(ink, box, n, h)]
        if all(s >= min_score and m >= min_margin for _, s, m in reads):
            mean = float(np.mean([s for _, s, _ in reads]))
            if best is None or mean > best[0]:
                best = (mean, "".join(c for c, _, _ in reads))
    return (None, why) if best is None else (best[1], "ok")


def _split(ink: np.ndarray, box: tuple[int, int, int, int], n: int, h: int) -> list[tuple[int, int]]:
    """Cut one component into ``n`` column ranges at the ink-projection minima near equal cuts."""
    t, b, left, right = box
    w = right - left
    prof = ink[t:b, left:right].sum(axis=0)
    cuts = []
    for k in range(1, n):
        c = int(round(k * w / n))
        lo, hi = max(1, c - int(0.25 * h)), min(w - 1, c + int(0.25 * h) + 1)
        cuts.append(lo + int(np.argmin(prof[lo:hi])) if hi > lo else c)
    edges = [0, *sorted(set(cuts)), w]
    return [(left + a, left + z) for a, z in zip(edges[:-1], edges[1:]) if z > a]


def tesseract_available() -> bool:
    """Whether the ``tesseract`` binary is on ``PATH``.

    Examples
    --------
    >>> isinstance(tesseract_available(), bool)
    True
    """
    return shutil.which("tesseract") is not None


def tesseract_read(ink: np.ndarray, *, timeout: float = 20.0) -> str:
    """Text of a label's ink image (1 = ink) read by Tesseract as one line (``--psm 7``).

    The crop is upscaled so that digits are ~40 px high and drawn dark on white, as Tesseract
    expects.

    Raises
    ------
    InputError
        When the binary is not installed (with how to install it), or it fails or times out.
    """
    import cv2

    exe = shutil.which("tesseract")
    if exe is None:
        raise InputError("tesseract is not installed (Debian/Ubuntu: apt-get install tesseract-ocr); "
                         "use the built-in glyph matcher instead (ingest --scale-bar matcher; in Python "
                         "engine='matcher')")
    rows = np.flatnonzero(np.asarray(ink).max(axis=1) >= 0.5)
    h = max(int(rows[-1] - rows[0] + 1) if rows.size else ink.shape[0], 1)
    f = max(1.0, 40.0 / h)
    big = cv2.resize(np.asarray(ink, np.float32), None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    img = np.pad(np.round(255 * (1 - np.clip(big, 0, 1))).astype(np.uint8), 20, constant_values=255)
    with tempfile.TemporaryDirectory(prefix="shapekit-ocr-") as d:
        path = Path(d) / "label.png"
        cv2.imwrite(str(path), img)
        try:
            env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one label: threads only cost
            res = subprocess.run([exe, str(path), "stdout", "--psm", "7", "-l", "eng"],
                                 capture_output=True, text=True, timeout=timeout, check=False, env=env)
        except subprocess.TimeoutExpired:
            raise InputError(f"tesseract did not finish within {timeout:g} s") from None
    if res.returncode != 0:
        msg = " ".join((res.stderr or "").split())[:200]
        raise InputError(f"tesseract failed (exit {res.returncode}): {msg}")
    return " ".join(res.stdout.split())
