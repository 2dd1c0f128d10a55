"""Scan descriptors that TopTemp features discard: grey levels, texture, characteristic feature size.

TopTemp tiles are z-scored and their persistence is nearly invariant to monotone grey-level
changes, so a saturated or empty scan, or another material imaged in another mode, can share
their features. The "outside the training data" check (:mod:`shapekit.temper.outside`) therefore
also scores what they drop:

* :func:`grey_levels` -- the grey-level histogram's shape: ``log`` standard deviation, ``log``
  1-99 % range, median, fraction of pixels clipped at the extreme levels, skewness, ``log``
  kurtosis;
* :func:`texture` -- band-pass (difference-of-Gaussians) statistics at 4-32 px: the share of the
  scan's variance in each octave and how heavy-tailed each band's response is (smooth blobs with
  sharp edges against grainy carbides); scales below 4 px, which blur and noise change, are
  left out;
* :func:`feature_size` -- the characteristic feature size: the lag at which the two-point
  correlation of the grey levels (large-scale shading removed) falls to half of its value at
  1 px, in pixels; times the pixel size it is a length in micrometres.

:func:`scan_descriptors` evaluates named families on one scan.

References
----------
.. [1] S. Torquato, "Random Heterogeneous Materials", Springer 2002 (two-point correlation).
.. [2] D. Marr, E. Hildreth, "Theory of edge detection", Proc. R. Soc. B 207, 1980 (DoG bands).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["FAMILIES", "grey_levels", "texture", "feature_size", "two_point_correlation",
           "scan_descriptors", "descriptor_names"]

#: octave scales (Gaussian sigma, px) of the texture bands: band s is G(s) - G(2 s)
TEXTURE_SCALES = (4, 8, 16)
MIN_SIDE = 16


def _check(image: Any, min_side: int = MIN_SIDE) -> np.ndarray:
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
    z = (img - img.mean()) / (sd if sd > 1e-12 else 1.0)
    skew, kurt = float(np.mean(z ** 3)), float(np.mean(z ** 4))
    return np.r_[np.log(sd + 1e-4), np.log(q99 - q1 + 1e-4), q50, clipped, skew, np.log(max(kurt, 1e-12))]


def texture(image: Any, scales: Sequence[int] = TEXTURE_SCALES) -> np.ndarray:
    """Band-pass texture statistics: per octave band ``G(s) - G(2s)`` of the z-scored scan, the
    ``log`` share of the bands' total energy and the ``log`` kurtosis of the response
    (``2 len(scales)`` values).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = texture(rng.random((128, 128)))
    >>> t.shape, bool(np.isfinite(t).all())
    ((6,), True)
    >>> blobs = np.kron(rng.random((8, 8)) > 0.5, np.ones((16, 16))).astype(float)
    >>> bool(texture(blobs)[3:].mean() > texture(rng.random((128, 128)))[3:].mean())   # heavier tails
    True
    """
    from scipy.ndimage import gaussian_filter

    img = _check(image)
    sd = img.std()
    z = (img - img.mean()) / (sd if sd > 1e-12 else 1.0)
    sig = sorted({int(s) for s in scales} | {2 * int(s) for s in scales})
    g = {s: gaussian_filter(z, s, mode="reflect", truncate=3.0) for s in sig}
    energy, kurt = [], []
    for s in scales:
        d = g[s] - g[2 * s]
        e = float(np.mean(d * d))
        energy.append(e)
        kurt.append(np.log(max(float(np.mean(d ** 4)) / e ** 2, 1e-12)) if e > 1e-24 else 0.0)
    e = np.asarray(energy)
    share = np.log(np.maximum(e / max(e.sum(), 1e-300), 1e-9))
    return np.r_[share, kurt]


def two_point_correlation(image: Any, max_lag: int = 128, detrend: float | None = None) -> np.ndarray:
    """Radially averaged autocovariance of the grey levels at lags ``0..max_lag`` px.

    The mean is removed and, with ``detrend`` (a Gaussian sigma in px; default: an eighth of the
    shorter side), the large-scale shading too. Lags are counted over the overlapping pixels
    only (no wrap-around): zero-padded FFTs [1]_.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> c = two_point_correlation(rng.normal(size=(96, 96)), 8, detrend=0)
    >>> round(float(c[0]), 1), bool(abs(c[3]) < 0.05)
    (1.0, True)
    """
    from scipy import fft
    from scipy.ndimage import gaussian_filter

    img = _check(image)
    sigma = min(img.shape) / 8 if detrend is None else float(detrend)
    z = img - (gaussian_filter(img, sigma, mode="reflect") if sigma > 0 else img.mean())
    z = z - z.mean()
    h, w = z.shape
    shape = (fft.next_fast_len(2 * h, real=True), fft.next_fast_len(2 * w, real=True))
    F = fft.rfft2(z, s=shape)
    ac = fft.irfft2(F * np.conj(F), s=shape)
    ones = fft.rfft2(np.ones_like(z), s=shape)
    count = fft.irfft2(ones * np.conj(ones), s=shape)
    ac = ac / np.maximum(np.round(count), 1.0)
    L = int(min(max_lag, h - 1, w - 1))
    ys = np.r_[0:L + 1, -L:0]
    xs = np.r_[0:L + 1, -L:0]
    sub = ac[np.ix_(ys % shape[0], xs % shape[1])]
    r = np.rint(np.hypot(ys[:, None], xs[None, :])).astype(np.int64)
    keep = r <= L
    total = np.bincount(r[keep], sub[keep], minlength=L + 1)
    n = np.bincount(r[keep], minlength=L + 1)
    return total / np.maximum(n, 1)


def feature_size(image: Any, level: float = 0.5, max_lag: int = 128) -> float:
    """Characteristic feature size in px: the lag where the two-point correlation falls to
    ``level`` of its value at 1 px (linear interpolation; ``max_lag`` when it never does).

    The 1 px reference keeps pixel noise (which only adds to lag 0) out of the normalisation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> from scipy.ndimage import gaussian_filter
    >>> a = gaussian_filter(rng.normal(size=(256, 256)), 2)
    >>> b = gaussian_filter(rng.normal(size=(256, 256)), 8)
    >>> 3.0 < feature_size(b) / feature_size(a) < 5.0
    True
    """
    c = two_point_correlation(image, max_lag)
    if len(c) < 3 or c[1] <= 0:
        return 1.0
    a = c[1:] / c[1]
    below = np.flatnonzero(a < float(level))
    if not len(below):
        return float(len(c) - 1)
    i = int(below[0])
    return float(1 + (i - 1) + (a[i - 1] - level) / (a[i - 1] - a[i]))


#: descriptor families: name -> (function of a scan, value names)
FAMILIES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "grey": (grey_levels, ("log_sd", "log_range", "median", "clipped", "skewness", "log_kurtosis")),
    "texture": (texture, tuple(f"band{s}_share" for s in TEXTURE_SCALES)
                + tuple(f"band{s}_log_kurtosis" for s in TEXTURE_SCALES)),
}


def descriptor_names(families: Sequence[str]) -> list[str]:
    """Column names of :func:`scan_descriptors` for ``families``.

    Examples
    --------
    >>> descriptor_names(["grey"])[:2]
    ['grey.log_sd', 'grey.log_range']
    """
    out = []
    for f in families:
        if f not in FAMILIES:
            raise InputError(f"unknown descriptor family {f!r}; known: {', '.join(FAMILIES)}")
        out += [f"{f}.{n}" for n in FAMILIES[f][1]]
    return out


def scan_descriptors(image: Any, families: Sequence[str]) -> np.ndarray:
    """The descriptors of ``families`` of one scan, concatenated (see :func:`descriptor_names`).

    Examples
    --------
    >>> scan_descriptors(np.random.default_rng(0).random((64, 64)), ["grey", "texture"]).shape
    (12,)
    """
    descriptor_names(families)
    if not len(families):
        return np.zeros(0)
    return np.concatenate([FAMILIES[f][0](image) for f in families])
