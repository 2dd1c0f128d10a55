r"""Measure precipitate structure (area fraction, mean radius, number density) in any micrograph.

:func:`measure_structure` is the simulator's inverse: later stages call it on generated images
to check them against their conditions. Bright particles on a darker matrix (SE contrast):

1. **Flatten** the slow background (charging, shading): Gaussian normalised convolution of the
   image with a first particle mask left out, :math:`b = G_s * (I\,(1-m)) / G_s * (1-m)`, with
   :math:`s` = ``background_sigma`` (default: an eighth of the shorter side, at least 8 px);
   the image minus :math:`b` is then thresholded.
2. **Smooth** with a Gaussian (``smooth_sigma``, default 1 px) against shot noise.
3. **Threshold**: Otsu's between-class-variance threshold [1]_ detects the particles; each is
   then redrawn at half its own peak height above the background (FWHM, so blur does not inflate
   small particles) and particles whose peak is below ``min_snr`` robust noise deviations are
   dropped. A caller's ``threshold`` (in units of the flattened image) is used as is. Components
   smaller than ``min_area_px`` are dropped.
4. **Label** the 8-connected components (scikit-image). Area fraction = particle pixels / all
   pixels; radius of a component = :math:`\sqrt{A/\pi}`, averaged over components that do not
   touch the border (cut particles would bias it low); number density counts border components
   with weight 1/2 (an unbiased edge correction for convex particles of a stationary process,
   Ohser & Muecklich [2]_).

References
----------
.. [1] N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Syst. Man
   Cybern. 9, 62 (1979).
.. [2] J. Ohser, F. Muecklich, Statistical Analysis of Microstructures in Materials Science
   (Wiley, 2000).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from shapekit.errors import InputError

#: how many robust noise deviations a particle's peak must rise above the background
MIN_SNR = 5.0


def _otsu(x: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(x, nbins=256))


def _norm_blur(img: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(img * weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    fallback = float(np.median(img))
    out = np.full_like(img, fallback)
    ok = den > 1e-3
    out[ok] = num[ok] / den[ok]
    return out


def _pixel_noise(a: np.ndarray, smooth_sigma: float) -> float:
    """Std of white pixel noise after the pre-smoothing (robust MAD of a 3x3-mean residual)."""
    resid = a - cv2.blur(a, (3, 3), borderType=cv2.BORDER_REFLECT)
    sigma = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) / np.sqrt(8.0 / 9.0)
    if smooth_sigma > 0:
        sigma /= max(1.0, 2.0 * np.sqrt(np.pi) * smooth_sigma)
    return sigma


def _half_max(sm: np.ndarray, lab: np.ndarray, bg: float, min_peak: float) -> np.ndarray:
    """Redraw each detected particle at half its own peak height above the background (FWHM);
    drop particles whose peak rises less than ``min_peak`` above it (noise)."""
    from scipy import ndimage as ndi

    n = int(lab.max())
    peak = np.asarray(ndi.maximum(sm, lab, np.arange(1, n + 1)), dtype=np.float32) - bg
    level = np.where(peak >= min_peak, bg + 0.5 * peak, np.inf)
    grown = ndi.grey_dilation(lab, size=(5, 5))  # the region each particle's edge may move in
    grown[lab > 0] = lab[lab > 0]
    return (grown > 0) & (sm > np.concatenate([[np.inf], level])[grown])


def particle_levels(image: np.ndarray, smooth_sigma: float = 1.0,
                    background_sigma: float | None = None) -> dict[str, Any]:
    """The levels :func:`measure_structure` detects particles at (its steps 1-3), for callers that
    redraw its particle mask in another form (the generator's differentiable fraction term).

    Parameters are those of :func:`measure_structure`; ``image`` is a finite 2-D float array.

    Returns
    -------
    dict
        ``smoothed`` (the pre-smoothed image), ``background`` (the slow background subtracted
        from it, zeros when flattening is off), ``flattened`` (their difference), ``threshold``
        (Otsu's, on the flattened image), ``background_level`` (the median of the flattened image
        at or below the threshold) and ``noise`` (robust deviation of white pixel noise after the
        smoothing).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((64, 64), 0.2, np.float32)
    >>> img[20:30, 20:30] = 0.8
    >>> lv = particle_levels(img)  # the 0.2 background flattens to 0, the particle to 0.6
    >>> round(lv["background_level"], 3), bool(0 < lv["threshold"] < 0.6), lv["noise"]
    (-0.0, True, 0.0)
    """
    a = np.asarray(image, dtype=np.float32)
    h, w = a.shape
    sm = cv2.GaussianBlur(a, (0, 0), smooth_sigma) if smooth_sigma > 0 else a
    bsig = max(8.0, min(h, w) / 8.0) if background_sigma is None else float(background_sigma)
    noise = _pixel_noise(a, smooth_sigma)
    background = np.zeros_like(sm)
    if bsig > 0 and float(np.ptp(sm)) > 0:
        # leave out of the background what is clearly brighter (Otsu, and 3 noise sigmas up)
        first = (sm > max(_otsu(sm), float(np.median(sm)) + 3.0 * noise)).astype(np.float32)
        first = cv2.dilate(first, np.ones((3, 3), np.uint8))
        background = _norm_blur(sm, 1.0 - first, bsig)
    flat = sm - background
    thr = _otsu(flat) if float(np.ptp(flat)) > 0 else float(flat.max())
    below = flat[flat <= thr]
    return {"smoothed": sm, "background": background, "flattened": flat, "threshold": thr,
            "background_level": float(np.median(below)) if below.size else thr,
            "noise": float(noise)}


def particle_labels(image: np.ndarray, threshold: float | None = None, *,
                    smooth_sigma: float = 1.0, background_sigma: float | None = None,
                    min_area_px: int = 3, refine: bool = True, min_snr: float = MIN_SNR,
                    levels: dict[str, Any] | None = None) -> tuple[np.ndarray, float]:
    """The particles :func:`measure_structure` measures, as a label image (its steps 1-4), for
    callers that need the particles themselves (the generator's terms hold a generated crop to
    exactly this mask). Parameters are those of :func:`measure_structure`; ``image`` is a finite
    2-D float array; ``levels``, the image's :func:`particle_levels` at the same smoothing and
    background scale where the caller has them already.

    Returns
    -------
    labels : (h, w) int array
        0 for the matrix, a component id per particle (ids of dropped small components are
        skipped, so ids need not be consecutive).
    threshold : float
        The detection threshold on the flattened image.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((64, 64), 0.2, np.float32)
    >>> img[10:20, 10:20] = img[40:50, 30:36] = 0.8
    >>> img[60, 5] = 0.8   # one bright pixel: not a particle
    >>> lab, thr = particle_labels(img)
    >>> len(np.unique(lab[lab > 0])), int((lab > 0).sum())   # 160 px, less 4 rounded corners each
    (2, 152)
    """
    from scipy import ndimage as ndi
    from skimage.measure import label

    lv = particle_levels(image, smooth_sigma, background_sigma) if levels is None else levels
    sm, noise = lv["flattened"], lv["noise"]
    thr = lv["threshold"] if threshold is None else float(threshold)
    mask = sm > thr
    lab = label(mask, connectivity=2)
    if threshold is None and mask.any() and not mask.all():
        bg = lv["background_level"]  # the median of the flattened image below the threshold
        if refine:
            mask = _half_max(sm, lab, bg, min_snr * noise)
            lab = label(mask, connectivity=2)
        # every final particle must stand out of the noise on its own
        peak = np.asarray(ndi.maximum(sm, lab, np.arange(1, int(lab.max()) + 1))) - bg
        lab = label(np.concatenate([[False], peak >= min_snr * noise])[lab], connectivity=2)
    area = np.bincount(lab.ravel())[1:]
    small = np.flatnonzero(area < min_area_px) + 1
    if small.size:
        lab[np.isin(lab, small)] = 0
    return lab, thr


def measure_structure(image: np.ndarray, um_per_px: float | None = None,
                      threshold: float | None = None, *, smooth_sigma: float = 1.0,
                      background_sigma: float | None = None, min_area_px: int = 3,
                      refine: bool = True, min_snr: float = MIN_SNR) -> dict[str, Any]:
    """Area fraction, mean radius and number density of bright particles in ``image``.

    Parameters
    ----------
    image : (h, w) array
        Grey image (any real dtype; use float in [0, 1] as everywhere in shapekit). Crop any info
        bar first.
    um_per_px : float, optional
        Pixel size; adds ``mean_radius_nm`` and ``number_density_per_um2``.
    threshold : float, optional
        Fixed threshold on the flattened, smoothed image (default: Otsu).
    smooth_sigma : float
        Gaussian pre-smoothing (px); 0 disables it.
    background_sigma : float, optional
        Scale of the background flattening (px); 0 disables it.
    min_area_px : int
        Smaller components are treated as noise.
    refine : bool
        Redraw each Otsu-detected particle at half its own peak height above the background
        (full width at half maximum), which undoes the growth of small blurred particles under a
        global threshold. Only with the automatic threshold.
    min_snr : float
        With the automatic threshold, particles whose peak rises less than ``min_snr`` robust
        noise deviations above the background (the median below the Otsu threshold) are dropped;
        the deviation is that of white pixel noise after the smoothing, estimated robustly (MAD)
        from the residual of a 3x3 mean filter. A flat noisy image thus measures empty instead
        of splitting its noise (a particle-free image with strong grain contrast can still give
        a few bright-grain components).

    Returns
    -------
    dict
        ``area_fraction``, ``n_particles`` (all components), ``mean_radius_px`` (NaN when no
        component lies fully inside), ``number_density_per_px2``, ``number_density`` (per um^2 when
        ``um_per_px`` is given, else per px^2), ``threshold``, and with a scale
        ``mean_radius_nm``, ``number_density_per_um2``.

    References
    ----------
    Otsu (1979); Ohser & Muecklich (2000).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((100, 100), 0.2, np.float32)
    >>> yy, xx = np.mgrid[:100, :100]
    >>> for cy, cx in [(25, 25), (25, 75), (75, 25), (75, 75)]:
    ...     img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 0.8
    >>> s = measure_structure(img, um_per_px=0.002)
    >>> s["n_particles"], round(s["mean_radius_px"], 1), round(s["area_fraction"], 3)
    (4, 5.9, 0.044)
    """
    from skimage.measure import regionprops_table

    a = np.asarray(image)
    if a.ndim != 2:
        raise InputError(f"measure_structure needs a 2-D grey image, got shape {a.shape}")
    if min(a.shape) < 8:
        raise InputError(f"image too small to measure: {a.shape} (need >= 8 px per side)")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        raise InputError("image contains NaN or Inf values")
    if um_per_px is not None and not (np.isfinite(um_per_px) and um_per_px > 0):
        raise InputError(f"um_per_px must be a positive number, got {um_per_px!r}")
    h, w = a.shape
    lab, thr = particle_labels(a, threshold, smooth_sigma=smooth_sigma,
                               background_sigma=background_sigma, min_area_px=min_area_px,
                               refine=refine, min_snr=min_snr)
    props = regionprops_table(lab, properties=("area", "bbox"))
    area = np.asarray(props["area"], dtype=float)
    r0, c0, r1, c1 = (np.asarray(props[f"bbox-{i}"]) for i in range(4))
    border = (r0 == 0) | (c0 == 0) | (r1 == h) | (c1 == w)
    inner = area[~border]
    mean_r = float(np.mean(np.sqrt(inner / np.pi))) if len(inner) else float("nan")
    dens_px = float((np.sum(~border) + 0.5 * np.sum(border)) / (h * w))
    out: dict[str, Any] = {
        "area_fraction": float(np.count_nonzero(lab) / (h * w)),
        "n_particles": int(len(area)),
        "mean_radius_px": mean_r,
        "number_density_per_px2": dens_px,
        "number_density": dens_px,
        "threshold": thr,
    }
    if um_per_px is not None:
        out["mean_radius_nm"] = mean_r * um_per_px * 1000.0
        out["number_density_per_um2"] = dens_px / um_per_px**2
        out["number_density"] = out["number_density_per_um2"]
    return out
