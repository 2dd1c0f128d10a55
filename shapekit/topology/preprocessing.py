"""Image preprocessing before persistence: per-image standardisation and the multi-scale pyramid.

The convention of the temper classifier (and so of every saved temper model): z-score each image
at full resolution (:func:`standardize`), then at each scale ``s`` area-average by ``s`` x ``s``
pixels after cropping to a multiple of ``s`` and Gaussian-smooth in pixels *of that scale*
(:func:`rescale`), optionally z-scoring again (:func:`pyramid`).  Coarse scales, smoothing and
re-z-scoring make the topology robust to blur and noise: pixel-level noise creates many short
bars but hardly moves the long ones the coarse scales see, and re-z-scoring keeps thresholds in
units of the contrast *at that scale* (blur lowers and noise raises the full-resolution standard
deviation).  The scikit-learn steps over these functions are
:class:`~shapekit.topology.transformers.Standardize` and
:class:`~shapekit.topology.transformers.Pyramid`.

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   Precipitate Structure from Temper Topology", arXiv:2204.00629, 2022.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from shapekit.errors import InputError
from shapekit.topology._scratch import scratch

__all__ = ["standardize", "smooth", "rescale", "pyramid"]


def standardize(image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Z-score an image as float32 (a constant image becomes all zeros).

    The same numbers as ``(t - t.mean()) / t.std()`` in numpy's float32 arithmetic, from one
    shared mean and one deviation array.  NaN/Inf pixels and non-2-D arrays raise
    :class:`~shapekit.errors.InputError`.  ``out``: a C-contiguous float32 array of the
    image's shape to write into (the image itself, to standardise a temporary in place).

    Examples
    --------
    >>> z = standardize(np.array([[0., 1.], [2., 3.]]))
    >>> round(float(z.mean()), 6), round(float(z.std()), 6), z.dtype
    (0.0, 1.0, dtype('float32'))
    >>> standardize(np.ones((2, 2))).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    >>> a = np.array([[0., 2.], [4., 6.]], np.float32)
    >>> standardize(a, out=a) is a, bool(np.array_equal(a, standardize(np.array([[0, 2], [4, 6]]))))
    (True, True)
    """
    # a contiguous copy: numpy's float32 sums depend on the memory layout, and a tile's features
    # must not (a view into a scan and its copy once differed by one ulp in the mean)
    t = np.ascontiguousarray(image, dtype=np.float32)
    if t.ndim != 2 or t.size == 0:
        raise InputError(f"expected a non-empty 2-D image, got shape {t.shape}")
    n = t.size
    mean = np.add.reduce(t, axis=None, keepdims=True)        # numpy's mean and std, shared
    np.true_divide(mean, n, out=mean, casting="unsafe")
    x = np.subtract(t, mean, out=out)
    sq = np.multiply(x, x, out=scratch("standardize", t.shape, np.float32))
    var = np.add.reduce(sq, axis=None)
    sd = float(np.sqrt(var.dtype.type(var / n)))
    if not np.isfinite(sd) and not np.isfinite(t).all():
        raise InputError("image contains NaN or Inf values")
    if sd < 1e-6:
        x[...] = 0.0
        return x
    return np.divide(x, sd, out=x)


@functools.lru_cache(maxsize=32)
def _gaussian_weights(sigma: float) -> np.ndarray:
    """scipy.ndimage's Gaussian kernel (truncated at 4 sigma; symmetric, so correlation and
    convolution agree)."""
    radius = int(4.0 * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x ** 2)
    w = (phi / phi.sum())[::-1].copy()
    w.flags.writeable = False
    return w


def smooth(image: np.ndarray, sigma: float, out: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing as float32: scipy.ndimage's kernel (truncated at 4 sigma) and edges
    (``mode="reflect"``), applied by OpenCV's separable filter in float32 arithmetic.

    It equals ``scipy.ndimage.gaussian_filter(image, sigma, mode="reflect")`` to float32
    rounding (a few 1e-7 of the grey-level range) and is about eight times faster, so it runs
    at every scale of every tile; images no larger than the kernel radius go to scipy itself.
    ``out``: a C-contiguous float32 array of the image's shape to write into.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> x = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    >>> float(np.abs(smooth(x, 1.0) - gaussian_filter(x, 1.0, mode="reflect")).max()) < 1e-6
    True
    """
    x = np.ascontiguousarray(image, dtype=np.float32)
    w = _gaussian_weights(float(sigma))
    if min(x.shape) <= len(w) // 2:
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(x, sigma, output=out, mode="reflect")
    import cv2

    return cv2.sepFilter2D(x, -1, w, w, dst=out, borderType=cv2.BORDER_REFLECT)


def rescale(image: np.ndarray, scale: int, smooth_sigma: float = 0.0,
            out: np.ndarray | None = None) -> np.ndarray:
    """Area-average by ``scale`` x ``scale`` pixels, then Gaussian-smooth by ``smooth_sigma`` px.

    The image is cropped to a multiple of ``scale`` first; the result is C-contiguous float32,
    written into ``out`` when given (a C-contiguous float32 array of the result's shape).

    Examples
    --------
    >>> rescale(np.ones((8, 7), np.float32), 2).shape
    (4, 3)
    """
    import cv2

    a = image
    if scale > 1:
        h, w = image.shape[0] // scale, image.shape[1] // scale
        if h < 2 or w < 2:
            raise InputError(f"tile of {image.shape[0]}x{image.shape[1]} px is too small for "
                             f"scale {scale}")
        a = cv2.resize(image[:h * scale, :w * scale], (w, h),
                       dst=None if smooth_sigma > 0 else out, interpolation=cv2.INTER_AREA)
    if smooth_sigma > 0:
        return smooth(a, smooth_sigma, out=out)
    if out is not None and a is not out:
        out[...] = a
        return out
    return np.ascontiguousarray(a, dtype=np.float32)


def pyramid(image: np.ndarray, scales: Sequence[int] = (1, 2, 4), smooth_sigma: float = 0.0,
            restandardize: bool = False, out: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """``{scale: image at that scale}``: :func:`rescale` of ``image``, optionally re-z-scored
    (into the arrays of ``out``, ``{scale: float32 array of that level's shape}``, when given).

    Examples
    --------
    >>> p = pyramid(np.random.default_rng(0).random((16, 12)).astype(np.float32), (1, 4))
    >>> {s: a.shape for s, a in p.items()}
    {1: (16, 12), 4: (4, 3)}
    """
    levels = {}
    for s in scales:
        a = rescale(image, int(s), smooth_sigma, out=None if out is None else out[int(s)])
        if restandardize:      # a rescaled image of our own is standardised in place
            a = standardize(a, out=None if np.shares_memory(a, image) else a)
        levels[int(s)] = a
    return levels
