"""Scan descriptors that TopTemp features discard: grey levels and the shape of the spectrum.

TopTemp tiles are z-scored and their persistence is nearly invariant to monotone grey-level
changes, so a saturated or empty scan, or another material imaged in another mode, can share
their features. The "outside the training data" check (:mod:`shapekit.temper.outside`) also
scores what they drop (:func:`scan_descriptors`, 9 values):

* :func:`grey_levels` -- the grey-level histogram's shape: ``log`` standard deviation, ``log``
  1-99 % range, median, fraction of pixels clipped at the extreme levels, skewness, ``log``
  kurtosis;
* :func:`octave_shares` of the mid bands -- how the spectral power of the (Hann-windowed,
  z-scored) scan divides between wavelengths of 32-64, 16-32 and 8-16 px, as ``log`` shares of
  those three octaves. Shorter wavelengths are left out: blur, noise and JPEG change them, and
  scoring them flags every blurred scan (RESULTS.md, section 1).

Which descriptors, and why these, was measured on uhcs3 with held-out folds, perturbed scans and
foreign images (``benchmarks/ood_uhcs.py``).

References
----------
.. [1] R. C. Gonzalez, R. E. Woods, "Digital Image Processing", 4th ed., Pearson 2018 (moments
   of the grey-level histogram, power spectra).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["DESCRIPTOR_NAMES", "MID_BANDS", "grey_levels", "octave_shares", "scan_descriptors",
           "structure_share"]

#: octave bands (of :func:`octave_shares` with 6 bands) scored by :func:`scan_descriptors`:
#: wavelengths 32-64, 16-32 and 8-16 px
MID_BANDS = (1, 2, 3)
DESCRIPTOR_NAMES = ("log_sd", "log_range", "median", "clipped", "skewness", "log_kurtosis",
                    "share_32_64px", "share_16_32px", "share_8_16px")


#: pixels of the scan in float64 at once (a block of rows): the descriptors of a scan of any size
#: take a few tens of MB beside it, plus, for the spectrum, the low-frequency part that the bands
#: need (the mid bands: 1/16 of the complex spectrum, 2 bytes a pixel)
BLOCK_PIXELS = 1 << 20


def _check(image: Any, min_side: int = 16) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2 or min(img.shape) < min_side:
        raise InputError(f"scan descriptors need a 2-D scan of at least {min_side} px a side, got "
                         f"shape {img.shape}")
    if img.dtype.kind not in "biuf":
        img = img.astype(np.float64)
    if not all(np.isfinite(b).all() for b in _blocks(img)):
        raise InputError("image contains NaN or Inf values")
    return img


def _blocks(img: np.ndarray, pixels: int | None = None) -> list[np.ndarray]:
    """Row blocks of ``img`` of about ``pixels`` pixels each (views, no copy)."""
    step = max(1, int(pixels or BLOCK_PIXELS) // max(img.shape[1], 1))
    return [img[i:i + step] for i in range(0, img.shape[0], step)]


def _moments(img: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of ``img`` in float64, a block of rows at a time."""
    n = img.size
    mean = math.fsum(float(np.add.reduce(b, axis=None, dtype=np.float64)) for b in _blocks(img)) / n
    ss = math.fsum(float(np.add.reduce(np.square(b.astype(np.float64) - mean), axis=None))
                   for b in _blocks(img))
    return mean, math.sqrt(ss / n)


def _order_statistics(img: np.ndarray, ks: np.ndarray, bins: int = 1 << 16) -> np.ndarray:
    """The ``ks``-th smallest values of ``img`` (0-based), exactly, without sorting a copy of it:
    a histogram over ``bins`` equal bins (a monotone map, so the bins keep the values' order) says
    which bin holds each rank, and only the values in those bins are gathered and partitioned
    (a block of rows at a time; a bin holds all of a scan only when nearly all of it is one
    grey level)."""
    lo, hi = float(img.min()), float(img.max())
    if lo == hi:
        return np.full(len(ks), lo)
    scale = bins / (hi - lo)

    def index(blk: np.ndarray) -> np.ndarray:
        i = ((blk.astype(np.float64) - lo) * scale).astype(np.intp)
        return np.minimum(i, bins - 1, out=i)

    counts = np.zeros(bins, dtype=np.int64)
    for blk in _blocks(img):
        counts += np.bincount(index(blk).ravel(), minlength=bins)
    ends = np.cumsum(counts)
    where = np.searchsorted(ends, ks, side="right")      # the bin of each rank
    wanted = np.unique(where)
    found: dict[int, list[np.ndarray]] = {int(j): [] for j in wanted}
    for blk in _blocks(img):
        i = index(blk)
        for j in wanted:
            found[int(j)].append(blk[i == j])
    out = np.empty(len(ks))
    for n, (k, j) in enumerate(zip(ks, where)):
        vals = np.concatenate(found[int(j)])
        rank = int(k - (ends[j] - counts[j]))
        out[n] = float(np.partition(vals, rank)[rank])
    return out


def _percentiles(img: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``np.percentile(img.astype(float64), q)`` (linear method), exactly: converting to float64
    keeps the order, so the order statistics (:func:`_order_statistics`) are the same, and they
    are interpolated as numpy does."""
    n = img.size
    virtual = (n - 1) * np.true_divide(np.asarray(q), 100)
    prev = np.clip(np.floor(virtual).astype(np.intp), 0, n - 1)
    nxt = np.minimum(prev + 1, n - 1)
    stats = _order_statistics(img, np.concatenate([prev, nxt]))
    a, b = stats[:len(prev)], stats[len(prev):]
    t = virtual - np.floor(virtual)
    diff = b - a
    out = a + diff * t
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out


def grey_levels(image: Any) -> np.ndarray:
    """Grey-level statistics (6 values, see the module docstring).

    Computed a block of rows at a time (:data:`BLOCK_PIXELS`), the percentiles too: memory
    beside the scan stays small whatever its size.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = grey_levels(rng.random((64, 80)))
    >>> d.shape, bool(np.isfinite(d).all())
    ((6,), True)
    >>> float(grey_levels(np.clip(3 * rng.random((64, 80)) - 1, 0, 1))[3]) > 0.6   # clipped
    True
    """
    img = _check(image)
    n = img.size
    lo, hi = float(img.min()), float(img.max())
    q1, q50, q99 = _percentiles(img, [1, 50, 99])
    mean, sd = _moments(img)
    if hi > lo:
        a, b = lo + 1.5 / 255, hi - 1.5 / 255
        clipped = sum(int(np.count_nonzero(blk <= a)) for blk in _blocks(img)) / n \
            + sum(int(np.count_nonzero(blk >= b)) for blk in _blocks(img)) / n
    else:
        clipped = 1.0
    s3 = s4 = 0.0
    for blk in _blocks(img):
        z = blk.astype(np.float64) - mean
        z /= sd if sd > 1e-12 else 1.0
        z2 = z * z
        s3 += float(np.add.reduce(z2 * z, axis=None))
        s4 += float(np.add.reduce(z2 * z2, axis=None))
    skew, kurt = s3 / n, s4 / n
    return np.r_[np.log(sd + 1e-4), np.log(q99 - q1 + 1e-4), q50, clipped, skew, np.log(max(kurt, 1e-12))]


def octave_shares(image: Any, n_bands: int = 6, keep: Sequence[int] | None = None) -> np.ndarray:
    """``log`` shares of the spectral power of the Hann-windowed, z-scored scan in ``n_bands``
    octave bands below Nyquist (band 0 the lowest frequencies: wavelengths ``2^n_bands`` to
    ``2^(n_bands - 1)`` px; the last: 2-4 px).

    With ``keep`` (band indices) only those bands are returned, their shares taken of the power
    in those bands alone. The spectrum is computed a block of rows, then of columns, at a time,
    and only as far as the highest band asked for reaches (the mid bands: 1/16 of it).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.exp(octave_shares(rng.normal(size=(256, 256))))      # white noise: power ~ area
    >>> bool(np.all(np.diff(s) > 0)), round(float(s.sum()), 6)
    (True, 1.0)
    >>> from scipy.ndimage import gaussian_filter
    >>> smooth = gaussian_filter(rng.normal(size=(256, 256)), 8)     # power peaks near 50 px
    >>> int(np.argmax(octave_shares(smooth, keep=MID_BANDS)))         # the 32-64 px octave
    0
    """
    img = _check(image, max(2 ** int(n_bands), 16))
    idx = list(range(int(n_bands))) if keep is None else [int(i) for i in keep]
    if any(not 0 <= i < n_bands for i in idx):
        raise InputError(f"bands {idx} outside 0..{n_bands - 1}")
    h, w = img.shape
    edges = 0.5 * 2.0 ** -np.arange(int(n_bands) + 1)[::-1]
    top = float(edges[max(idx) + 1])            # no band asked for reaches this frequency
    fy, fx = np.fft.fftfreq(h), np.fft.rfftfreq(w)
    ncol = int(np.count_nonzero(fx < top))      # a prefix of the columns
    mean, sd = _moments(img)
    hann_h, hann_w = np.hanning(h), np.hanning(w)
    spec = np.empty((h, ncol), dtype=np.complex128)
    r0 = 0
    for blk in _blocks(img):
        z = blk.astype(np.float64) - mean
        z /= sd if sd > 1e-12 else 1.0
        z *= hann_h[r0:r0 + len(blk), None]
        z *= hann_w[None, :]
        spec[r0:r0 + len(blk)] = np.fft.rfft(z, axis=1)[:, :ncol]
        r0 += len(blk)
    rows = np.abs(fy) < top
    bands = np.zeros(len(idx))
    step = max(1, BLOCK_PIXELS // h)
    for c0 in range(0, ncol, step):
        c1 = min(c0 + step, ncol)
        power = np.abs(np.fft.fft(spec[:, c0:c1], axis=0)[rows]) ** 2
        r = np.hypot(fy[rows][:, None], fx[None, c0:c1])
        for j, i in enumerate(idx):
            bands[j] += power[(r >= edges[i]) & (r < edges[i + 1])].sum()
    return np.log(np.maximum(bands / max(bands.sum(), 1e-300), 1e-12))


def scan_descriptors(image: Any) -> np.ndarray:
    """The 9 descriptors of the outside check (:data:`DESCRIPTOR_NAMES`): :func:`grey_levels`,
    then the :data:`MID_BANDS` octave shares.

    Examples
    --------
    >>> scan_descriptors(np.random.default_rng(0).random((128, 96))).shape
    (9,)
    """
    return np.r_[grey_levels(image), octave_shares(image, 6, keep=MID_BANDS)]


def structure_share(image: np.ndarray, sigma: float = 2.0) -> float:
    """Share of a scan's grey-level variance above the ``sigma``-px scale: ``1 - var(x - G x) /
    var(x)``, ``G`` a Gaussian blur of ``sigma`` px (reflected border); NaN for a constant scan.

    White noise has ``3 / (4 pi sigma^2)`` (0.060 at 2 px) whatever its grey-level histogram; a
    micrograph, whose structure spans many pixels, most of its variance (uhcs3: 0.17-0.98).

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> noise = np.random.default_rng(0).random((256, 256))
    >>> round(structure_share(noise), 2), structure_share(gaussian_filter(noise, 6)) > 0.9
    (0.06, True)

    Computed a block of rows at a time (:data:`BLOCK_PIXELS`), each
    blurred with enough rows around it for the kernel, so that it holds a few MB beside the scan
    (whole-scan float64 copies took 24 bytes a pixel: 1.2 GB for 8192 x 6144).
    """
    import cv2

    x = np.asarray(image)
    v = _moments(x)[1] ** 2
    if not v > 1e-12:  # grey levels in [0, 1]: constant up to float rounding
        return float("nan")
    margin, h, r0 = int(math.ceil(4 * float(sigma))) + 2, x.shape[0], 0  # OpenCV's reach: 4 sigma
    s = ss = 0.0
    for blk in _blocks(x):
        a, n = max(r0 - margin, 0), len(blk)
        ext = np.asarray(x[a:min(r0 + n + margin, h)], dtype=np.float64)
        r = ext[r0 - a:r0 - a + n] - cv2.GaussianBlur(ext, (0, 0), float(sigma),
                                                      borderType=cv2.BORDER_REFLECT)[r0 - a:r0 - a + n]
        s += float(np.add.reduce(r, axis=None))
        ss += float(np.add.reduce(r * r, axis=None))
        r0 += n
    return 1.0 - (ss / x.size - (s / x.size) ** 2) / v
