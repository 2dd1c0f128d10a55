"""How a micrograph was imaged: grey levels, contrast, noise and sharpness, per image.

These are the properties a microscope session (or a generator's output layer) sets independently
of the material: a brighter or noisier image of the same structure differs here and not in
:mod:`shapekit.realism.structure`. Per image:

* ``mean``, ``std``, ``p01``, ``p99``, ``skewness``: the grey-level distribution (brightness,
  contrast, dark and bright ends, asymmetry);
* ``noise``: the standard deviation of the pixel noise, estimated robustly from the 3x3 Laplacian
  difference mask of Immerkaer [1] (``1.4826 * median(|L|) / 6``: the median ignores the
  structure's edges, 6 is the mask's L2 norm). Unbiased for white Gaussian noise on smooth
  content; a blurred image reads near 0 (its noise is no longer white);
* ``relative_noise``: ``noise / std``, the noise relative to the image's own contrast (an inverse
  signal-to-noise ratio; unchanged when brightness and contrast are rescaled);
* ``blur_px``: the effective blur (Gaussian sigma, pixels) from the ratio of gradient magnitudes
  at two scales on the strongest edges [2]: a step edge blurred by ``b`` gives a Gaussian-derivative
  response proportional to ``1 / sqrt(b^2 + s^2)`` at scale ``s``, so the ratio ``R`` of the
  responses at ``s1 < s2`` gives ``b^2 = (s2^2 - R^2 s1^2) / (R^2 - 1)``. The noise's expected
  share of each squared gradient (from ``noise``) is subtracted first, and the ratio is a median
  over the top 2 % of edge pixels, so noise barely moves it; features smaller than about
  ``4 * s2`` pixels read a little sharper than they are, which is why the scales are small
  (0.7 and 1.4 px). The gradients are central differences of the Gaussian-smoothed image, whose
  2-px box adds 1/3 px^2 to each scale's variance (accounted for). Clipped to ``[0, BLUR_MAX_PX]``; a constant image reads ``BLUR_MAX_PX``.

:data:`IMAGING_COLUMNS` enter the imaging distance (:func:`imaging_pooled`, calibrated like the
topology by :func:`shapekit.realism.resampling.compare_pooled`); :data:`ATTRIBUTES` name the
properties the verdict speaks about, each tested on its own (:func:`attribute_shifts`: a
permutation test of Welch's t, :func:`~shapekit.realism.resampling.shift_test`; "differs" when
``p <`` :data:`ATTRIBUTE_P` and the shift is at least :data:`ATTRIBUTE_EFFECT` pooled standard
deviations, Cohen's "medium" effect).

References
----------
.. [1] Immerkaer, J. "Fast noise variance estimation", Computer Vision and Image Understanding 64
   (1996) 300-302.
.. [2] Hu, H., de Haan, G. "Low cost robust blur estimator", IEEE ICIP (2006) (blur from the
   ratio of re-blurred gradients); Elder, J. H., Zucker, S. W. "Local scale control for edge
   detection and blur estimation", IEEE TPAMI 20 (1998).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shapekit.realism.setstats import PooledFeatures, summary_scale

__all__ = ["noise_sigma", "blur_sigma", "imaging_descriptors", "imaging_gap", "matching_blur",
           "imaging_pooled", "attribute_shifts", "IMAGING_NAMES", "IMAGING_COLUMNS", "ATTRIBUTES", "BLUR_MAX_PX", "ATTRIBUTE_P", "ATTRIBUTE_EFFECT"]

BLUR_MAX_PX = 16.0
#: noise and blur are measured on the central CROP_PX x CROP_PX pixels; grey levels on a 1-in-4
#: pixel sample of images over 4 * SAMPLE_PIXELS pixels (both ample for these statistics)
CROP_PX = 384
SAMPLE_PIXELS = 65536
BLUR_SCALES = (0.7, 1.4)
#: the columns of :func:`imaging_descriptors`, in order
IMAGING_NAMES = ("mean", "std", "p01", "p99", "skewness", "noise", "relative_noise", "blur_px")
#: descriptors that enter the imaging distance (``noise`` is reported, ``relative_noise`` compared)
IMAGING_COLUMNS = ("mean", "std", "p01", "p99", "skewness", "relative_noise", "blur_px")
#: verdict words per attribute: (descriptor, word when higher, word when lower)
ATTRIBUTES = {"brightness": ("mean", "brighter", "darker"),
              "contrast": ("std", "higher in contrast", "lower in contrast"),
              "noise": ("relative_noise", "noisier", "less noisy"),
              "sharpness": ("blur_px", "blurrier", "sharper"),
              "grey-level shape": ("skewness", "more right-skewed in grey levels",
                                   "more left-skewed in grey levels")}
_LAPLACE = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of the pixel noise (Immerkaer's mask, median absolute response).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> smooth = np.add.outer(np.linspace(0, 0.5, 128), np.linspace(0, 0.3, 128))
    >>> round(noise_sigma(smooth + rng.normal(0, 0.05, smooth.shape)), 2)
    0.05
    """
    import cv2

    a = np.asarray(image, dtype=np.float32)
    if min(a.shape) < 3:
        return 0.0
    L = np.abs(cv2.filter2D(a, cv2.CV_32F, _LAPLACE.astype(np.float32))[1:-1, 1:-1]).ravel()
    return float(1.4826 * _upper_quantile(L, 0.5) / 6.0)


def _grad(a: np.ndarray, s: float) -> np.ndarray:
    """Gradient magnitude of ``a`` smoothed by a Gaussian of ``s`` px (central differences)."""
    import cv2

    b = cv2.GaussianBlur(a, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REFLECT)
    return cv2.magnitude(gx, gy)


def _upper_quantile(v: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``v`` by partial sorting (``q`` in (0, 1))."""
    k = int(np.clip(round(q * (v.size - 1)), 0, v.size - 1))
    return float(np.partition(v, k)[k])


@lru_cache(maxsize=8)
def _noise_gain(s: float) -> float:
    """Sum of squares of the x-derivative filter of :func:`_grad`: white noise of variance v gives
    gradient magnitudes of mean square ``2 * gain * v``."""
    d = np.zeros((65, 65), np.float32)
    d[32, 32] = 1.0
    import cv2

    b = cv2.GaussianBlur(d, (0, 0), s, borderType=cv2.BORDER_CONSTANT)
    gx = cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_CONSTANT)
    return float((gx.astype(np.float64) ** 2).sum())


def blur_sigma(image: np.ndarray, scales: tuple[float, float] = BLUR_SCALES, top: float = 0.02,
               noise: float | None = None) -> float:
    """Effective Gaussian blur (pixels) from the gradient ratio at two scales on the strongest edges.

    Parameters
    ----------
    image : ndarray (h, w)
    scales : (float, float)
        The two Gaussian-derivative scales ``s1 < s2`` in pixels.
    top : float
        Fraction of pixels (largest gradient at ``s2``) used.
    noise : float, optional
        Pixel noise standard deviation (:func:`noise_sigma` by default); its expected share of
        each squared gradient is subtracted before the ratio (noise inflates the finer scale's
        gradient more, which would read as sharpening).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> step = np.zeros((64, 64)); step[:, 32:] = 1.0
    >>> [round(blur_sigma(gaussian_filter(step, b)), 1) for b in (1.0, 2.0, 4.0)]
    [1.1, 2.0, 4.0]
    """
    a = np.asarray(image, dtype=np.float32)
    if min(a.shape) < 8 or float(np.ptp(a)) <= 1e-12:
        return BLUR_MAX_PX
    s1, s2 = scales
    g1, g2 = _grad(a, s1), _grad(a, s2)
    thr = _upper_quantile(g2.ravel(), 1.0 - top)
    sel = (g2 >= thr) & (g2 > 0)
    if not sel.any():
        return BLUR_MAX_PX
    nv = (noise_sigma(a) if noise is None else float(noise)) ** 2
    q1 = np.maximum(g1[sel].astype(np.float64) ** 2 - 2.0 * _noise_gain(s1) * nv, 0.0)
    q2 = np.maximum(g2[sel].astype(np.float64) ** 2 - 2.0 * _noise_gain(s2) * nv, 1e-30)
    R = float(np.sqrt(np.median(q1 / q2)))
    if R <= 1.0 + 1e-6:
        return BLUR_MAX_PX
    # the central difference is a derivative convolved with a 2-px box: variance 1/3 px^2 more
    e1, e2 = s1 ** 2 + 1.0 / 3.0, s2 ** 2 + 1.0 / 3.0
    v = (e2 - R ** 2 * e1) / (R ** 2 - 1.0)
    return float(np.clip(np.sqrt(max(v, 0.0)), 0.0, BLUR_MAX_PX))


def imaging_descriptors(images: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Per-image imaging descriptors: grey levels, contrast, noise, sharpness (see the module).
    Integer and boolean images are read on the ``[0, 1]`` scale of files (``uint8`` 255 -> 1.0).

    Noise and blur are measured on the central :data:`CROP_PX` pixels square, the grey-level
    statistics on every other row and column of images over ``4 * SAMPLE_PIXELS`` pixels.

    Returns
    -------
    X : ndarray (n, 8)
        Columns ``mean, std, p01, p99, skewness, noise, relative_noise, blur_px``.
    names : list of str

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, names = imaging_descriptors([rng.random((32, 32)) * 0.5, rng.random((32, 32))])
    >>> names[:2], bool(X[1, 0] > X[0, 0]), bool(X[1, 1] > X[0, 1])
    (['mean', 'std'], True, True)
    """
    from shapekit.io.readers import unit_pixels

    names = list(IMAGING_NAMES)
    X = np.zeros((len(images), len(names)))
    for i, im in enumerate(images):
        im = unit_pixels(im, f"image {i}")   # uint8 255 -> 1.0, as files
        a = np.ascontiguousarray(im, dtype=np.float32)
        v = (a[::2, ::2] if a.size > 4 * SAMPLE_PIXELS else a).ravel()   # grey levels: a 1-in-4 sample
        h, w = a.shape
        c = CROP_PX
        a = a[max(0, (h - c) // 2): max(0, (h - c) // 2) + c, max(0, (w - c) // 2): max(0, (w - c) // 2) + c]
        mu, sd = float(v.mean(dtype=np.float64)), float(v.std(dtype=np.float64))
        k1, k99 = int(0.01 * (v.size - 1)), int(0.99 * (v.size - 1))
        part = np.partition(v, [k1, k99])
        p01, p99 = float(part[k1]), float(part[k99])
        d = v - np.float32(mu)
        skew = float(np.mean(d * d * d, dtype=np.float64)) / sd ** 3 if sd > 1e-12 else 0.0
        nz = noise_sigma(a)
        X[i] = (mu, sd, p01, p99, skew, nz, nz / sd if sd > 1e-12 else 0.0, blur_sigma(a, noise=nz))
    return X, names


def imaging_gap(fake: np.ndarray, real: np.ndarray) -> float:
    """How far a set's imaging lies from a reference's, as one number: the squared gaps of the
    medians of every :data:`IMAGING_COLUMNS` descriptor, each in units of the reference's robust
    spread (IQR / 1.349, at least 1e-3), summed. ``fake`` and ``real`` are
    :func:`imaging_descriptors` rows. Used to calibrate a generator's imaging stage.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> R = rng.normal(size=(400, len(IMAGING_NAMES)))     # robust spread 1 per column
    >>> round(imaging_gap(R, R), 6), round(imaging_gap(R + 1.0, R) / len(IMAGING_COLUMNS), 1)
    (0.0, 1.0)
    """
    gap = 0.0
    for name in IMAGING_COLUMNS:
        j = IMAGING_NAMES.index(name)
        q25, q50, q75 = np.percentile(real[:, j], [25, 50, 75])
        gap += ((np.median(fake[:, j]) - q50) / max((q75 - q25) / 1.349, 1e-3)) ** 2
    return float(gap)


def matching_blur(images: list[np.ndarray], target_px: float, *, max_images: int = 12,
                  max_side: int = 256, tol: float = 0.02) -> float:
    """Extra Gaussian smoothing (sigma, px) that brings ``images`` to a median ``blur_px`` of ``target_px``.

    The sharper of two sets is smoothed until the same estimator reads the blurrier set's value:
    its biases (features near the resolution read sharper) then cancel. Bisection on at most
    ``max_images`` images, centre-cropped to ``max_side`` pixels. Returns 0 when the set is
    already at least as blurred.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> rng = np.random.default_rng(0)
    >>> sharp = [gaussian_filter(rng.random((96, 96)), 2.0) for _ in range(4)]
    >>> target = float(np.median([blur_sigma(gaussian_filter(x, 2.0)) for x in sharp]))
    >>> round(matching_blur(sharp, target), 1)
    2.0
    """
    from scipy.ndimage import gaussian_filter

    crops = []
    for im in images[:: max(1, len(images) // max_images)][:max_images]:
        a = np.asarray(im, dtype=np.float32)
        h, w = a.shape
        t, l = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
        crops.append(a[t: t + max_side, l: l + max_side])

    def est(s: float) -> float:
        return float(np.median([blur_sigma(gaussian_filter(c, s, mode="reflect") if s > 0 else c)
                                for c in crops]))

    if not crops or est(0.0) >= target_px:
        return 0.0
    lo, hi = 0.0, max(1.0, 2.0 * target_px)
    while est(hi) < target_px and hi < BLUR_MAX_PX:
        lo, hi = hi, 2.0 * hi
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if est(mid) < target_px else (lo, mid)
    return float(0.5 * (lo + hi))


#: an attribute "differs" when its permutation p (Welch's t) is below this and |effect size|
#: is at least ATTRIBUTE_EFFECT
ATTRIBUTE_P = 0.01
ATTRIBUTE_EFFECT = 0.5


def imaging_pooled(real: np.ndarray, fake: np.ndarray, names: list[str], *, max_energy_images: int | None = None,
                   rng: np.random.Generator | None = None) -> PooledFeatures:
    """Pool two sets' imaging descriptors for :func:`shapekit.realism.resampling.compare_pooled`.

    Uses the :data:`IMAGING_COLUMNS`, scaled by their real standard deviation (pooled where that
    is 0); the kernel is ``exp(-d / m)`` and the energy-distance metric ``d``, with ``d`` the
    Euclidean distance between scaled vectors and ``m`` its median over real pairs. With
    ``max_energy_images``, the energy term uses a random subsample of that many images per set
    (as the topological energy term does; its resampling cost is quadratic in the set size).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, names = imaging_descriptors([rng.random((16, 16)) for _ in range(6)])
    >>> imaging_pooled(X[:3], X[3:], names).X.shape
    (6, 7)
    """
    from scipy.spatial.distance import cdist

    from shapekit.realism.setstats import PooledFeatures, summary_scale

    cols = [names.index(c) for c in IMAGING_COLUMNS]
    X = np.vstack([real[:, cols], fake[:, cols]]).astype(np.float64)
    nr, nf = len(real), len(fake)
    scale = summary_scale(X, nr)
    Z = (X - X[:nr].mean(axis=0)) / scale
    D = cdist(Z, Z)
    rr = D[:nr, :nr][~np.eye(nr, dtype=bool)]
    med = float(np.median(rr)) if rr.size and np.median(rr) > 0 else (float(np.median(D[D > 0])) if (D > 0).any() else 1.0)
    d_ref = float(rr.mean()) if rr.size and rr.mean() > 0 else med
    idx = np.arange(nr + nf)
    if max_energy_images is not None and max(nr, nf) > max_energy_images:
        g = rng if rng is not None else np.random.default_rng(0)
        idx = np.concatenate([np.sort(g.choice(nr, min(nr, max_energy_images), replace=False)),
                              nr + np.sort(g.choice(nf, min(nf, max_energy_images), replace=False))])
    sub = -np.ones(nr + nf, dtype=np.int64)
    sub[idx] = np.arange(len(idx))
    return PooledFeatures(X, list(IMAGING_COLUMNS), scale, np.exp(-D / med), D[np.ix_(idx, idx)], sub, d_ref, nr)


def attribute_shifts(real: np.ndarray, fake: np.ndarray, names: list[str]) -> dict[str, dict]:
    """Per :data:`ATTRIBUTES`: means, effect size, permutation p-value (of Welch's t), ``differs``
    and the verdict word.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ims = [rng.random((32, 32)) * 0.5 for _ in range(12)]
    >>> Xr, names = imaging_descriptors(ims)
    >>> Xf, _ = imaging_descriptors([x + 0.3 for x in ims])
    >>> a = attribute_shifts(Xr, Xf, names)["brightness"]
    >>> a["differs"], a["word"]
    (True, 'brighter')
    """
    from shapekit.realism.resampling import shift_test

    out = {}
    for attr, (col, up, down) in ATTRIBUTES.items():
        j = names.index(col)
        t = shift_test(real[:, j], fake[:, j])
        t.update(descriptor=col, word=up if t["effect_size"] > 0 else down,
                 differs=bool(t["p_value"] < ATTRIBUTE_P and abs(t["effect_size"]) >= ATTRIBUTE_EFFECT))
        out[attr] = t
    return out
