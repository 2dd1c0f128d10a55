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

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["DESCRIPTOR_NAMES", "MID_BANDS", "grey_levels", "octave_shares", "scan_descriptors"]

#: octave bands (of :func:`octave_shares` with 6 bands) scored by :func:`scan_descriptors`:
#: wavelengths 32-64, 16-32 and 8-16 px
MID_BANDS = (1, 2, 3)
DESCRIPTOR_NAMES = ("log_sd", "log_range", "median", "clipped", "skewness", "log_kurtosis",
                    "share_32_64px", "share_16_32px", "share_8_16px")


def _check(image: Any, min_side: int = 16) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < min_side:
        raise InputError(f"scan descriptors need a 2-D scan of at least {min_side} px a side, got "
                         f"shape {img.shape}")
    if not np.isfinite(img).all():
        raise InputError("image contains NaN or Inf values")
    return img


def grey_levels(image: Any) -> np.ndarray:
    """Grey-level statistics (6 values, see the module docstring).

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
    lo, hi = float(img.min()), float(img.max())
    q1, q50, q99 = np.percentile(img, [1, 50, 99])
    sd = float(img.std())
    clipped = float(np.mean(img <= lo + 1.5 / 255) + np.mean(img >= hi - 1.5 / 255)) if hi > lo else 1.0
    z = img - img.mean()  # in place from here (the same arithmetic): 8 bytes a pixel less
    del img
    z /= sd if sd > 1e-12 else 1.0
    skew, kurt = float(np.mean(z ** 3)), float(np.mean(z ** 4))
    return np.r_[np.log(sd + 1e-4), np.log(q99 - q1 + 1e-4), q50, clipped, skew, np.log(max(kurt, 1e-12))]


def octave_shares(image: Any, n_bands: int = 6, keep: Sequence[int] | None = None) -> np.ndarray:
    """``log`` shares of the spectral power of the Hann-windowed, z-scored scan in ``n_bands``
    octave bands below Nyquist (band 0 the lowest frequencies: wavelengths ``2^n_bands`` to
    ``2^(n_bands - 1)`` px; the last: 2-4 px).

    With ``keep`` (band indices) only those bands are returned, their shares taken of the power
    in those bands alone.

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
    h, w = img.shape
    sd = img.std()
    z = img - img.mean()  # in place from here (the same arithmetic): 24 bytes a pixel less
    del img
    z /= sd if sd > 1e-12 else 1.0
    z *= np.hanning(h)[:, None]
    z *= np.hanning(w)[None, :]
    power = np.abs(np.fft.rfft2(z)) ** 2
    del z
    r = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    edges = 0.5 * 2.0 ** -np.arange(int(n_bands) + 1)[::-1]
    bands = np.array([power[(r >= a) & (r < b)].sum() for a, b in zip(edges[:-1], edges[1:])])
    if keep is not None:
        idx = [int(i) for i in keep]
        if any(not 0 <= i < n_bands for i in idx):
            raise InputError(f"bands {idx} outside 0..{n_bands - 1}")
        bands = bands[idx]
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
