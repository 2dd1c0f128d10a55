"""The material's structure, with the imaging taken out: smoothed to a common resolution, then ranked.

Two sets imaged differently (brighter, noisier, blurrier, another tone curve) show the same
material differently; :func:`structure_image` removes what the imaging sets, the way the robust
TopTemp preset does (:mod:`shapekit.topology.preprocessing`), with the last z-score replaced by a
rank transform:

1. z-score each image;
2. smooth it with a Gaussian of ``sigma`` px (:func:`structure_sigmas`): at least
   :data:`FLOOR_PX`, more when a set is so noisy that its noise would survive that
   (:func:`noise_floor_px`: the noisier set sets the floor for both), and more again for the
   sharper set when the other is blurrier, so both sets end at one effective resolution
   (measured with :func:`shapekit.realism.imaging.blur_sigma`). The smoothing is linear, so it
   treats noise and blur alike at any brightness and contrast;
3. average ``step`` x ``step`` pixels (:func:`structure_step`: the smoothing made the fine grid
   redundant; the persistence costs ``step^2`` less), replace each pixel by its normal score
   (:func:`normal_scores`: the standard-normal quantile of its rank in the image) and map it to
   ``u = 0.5 + z / 8`` clipped to [0, 1], so that the topology code sees grey images:
   persistence 0.1 in ``u`` is 0.8 standard deviations.

The ranks make the structure image the same for any increasing grey-level curve applied to the
smoothed image (brightness, contrast, gamma, a saturating or session-specific tone curve): only
the order of the grey levels, i.e. the level sets, is kept. A curve applied to the raw image, as a
microscope applies it, commutes with the smoothing except within about ``sigma`` of an edge, so it
is taken out nearly but not exactly. Ranking *before* the smoothing would take it out exactly, but
the rank transform stretches the noise within each phase over that phase's share of the
quantiles, so noise and blur would then reach the structure (measured on the simulator: noise 0.1
and blur 4 at 3.3x and 4.7x the real-vs-real baseline, against 0.6x and 0.5x ranking after). The
price of ranking: the grey-level histogram of the smoothed image is no longer compared (it is
always Gaussian), so the Otsu phase fraction of a structure image is about 1/2 whatever the
material; the sizes, spacings and topology of the phases remain. The noise and blur that set the
smoothing (:func:`noise_floor_px`, :func:`~shapekit.realism.imaging.matching_blur`) are measured
on the images as they are, like the smoothing they set.

On these images :func:`structure_features` computes the cubical-persistence summaries of
:func:`shapekit.realism.summaries.image_features` (pairs below :data:`MIN_PERSISTENCE_Z` standard
deviations dropped) and appends two-point statistics of the Otsu-binarised phase
(:func:`two_point_descriptors`): phase fraction, the normalised two-point correlation at lags
1-32 px and the correlation length, and the feature spacing (:func:`feature_spacing`: the set's
characteristic size, also used to say when two sets of unknown pixel size differ in
magnification).

References
----------
.. [1] Kassab, L. et al. "TopTemp: Parsing precipitate structure from temper topology",
   arXiv:2204.00629 (2022) (standardised, smoothed multi-scale cubical persistence).
.. [2] Torquato, S. *Random Heterogeneous Materials*, Springer (2002), sec. 2.2 (two-point
   probability function, correlation length).
.. [3] Beasley, T. M., Erickson, S., Allison, D. B. "Rank-based inverse normal transformations are
   increasingly used, but are they merited?", Behavior Genetics 39 (2009) 580-595 (normal scores).
"""

from __future__ import annotations

import numpy as np

from shapekit.errors import InputError
from shapekit.realism.summaries import AREA_UNIT, FeatureSet, image_features

__all__ = ["normal_scores", "structure_image", "structure_step", "feature_spacing", "structure_sigmas", "noise_floor_px", "own_sigma", "structure_features", "two_point_descriptors",
           "correlation_length", "FLOOR_PX", "MIN_PERSISTENCE_Z", "TWO_POINT_LAGS"]

FLOOR_PX = 1.5
RESIDUAL_NOISE = 0.05
SIGMA_STEP = 0.25
MIN_PERSISTENCE_Z = 0.25
Z_HALF_RANGE = 4.0
TWO_POINT_LAGS = (1, 2, 4, 8, 16, 32)


def normal_scores(image: np.ndarray) -> np.ndarray:
    """Each pixel's standard-normal quantile of its rank in the image (ties at their mid-rank), float32.

    A grey level held by ``k`` of the ``n`` pixels, ``c`` of them darker, becomes
    ``Phi^-1((c + k / 2) / n)`` (Hazen's plotting position at the mid-rank). The result depends
    only on the order of the grey levels: any strictly increasing curve applied to the image
    leaves it unchanged, and tied pixels stay tied. Ranks are taken at the input's precision:
    integer images up to 16 bits by a histogram, float32 images by two 16-bit radix passes,
    others by one sort.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.1, 0.4], [0.2, 0.9]], dtype=np.float32)
    >>> [round(float(v), 3) for v in normal_scores(x).ravel()], bool(np.array_equal(normal_scores(x), normal_scores(x ** 2.2)))
    ([-1.15, 0.319, -0.319, 1.15], True)
    >>> [round(float(v), 3) for v in normal_scores(np.array([[0, 0], [0, 255]], np.uint8)).ravel()]   # ties: mid-rank
    [-0.319, -0.319, -0.319, 1.15]
    """
    from scipy.special import ndtri

    a = np.asarray(image)
    if a.size == 0:
        return np.zeros(a.shape, np.float32)
    lo, hi = float(a.min()), float(a.max())
    if not np.isfinite(lo + hi):
        raise InputError("image contains NaN or Inf values")
    if (a.dtype.kind in "ub" or (a.dtype.kind == "i" and lo >= 0)) and hi < 65536:
        codes = a.astype(np.int32)
        counts = np.bincount(codes.ravel())
        return ndtri((np.cumsum(counts) - 0.5 * counts) / a.size).astype(np.float32)[codes]
    order = _float32_order(a) if a.dtype == np.float32 else np.argsort(a, axis=None)
    v = a.ravel()[order]
    first = np.empty(v.size, dtype=bool)
    first[0] = True
    np.not_equal(v[1:], v[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, v.size))
    out = np.empty(a.size, dtype=np.float32)
    out[order] = ndtri((starts + 0.5 * counts) / a.size).astype(np.float32)[np.cumsum(first) - 1]
    return out.reshape(a.shape)


def _float32_order(a: np.ndarray) -> np.ndarray:
    """Ascending order of a float32 array's values (flattened) by two 16-bit radix passes.

    The bits of a float32, with the sign bit flipped for a positive number and all bits flipped
    for a negative one, sort as unsigned integers in the order of the values (``-0.0`` taken as
    ``0.0``); numpy sorts 16-bit keys by radix sort, about 4x faster than a comparison sort here.
    """
    u = (np.ascontiguousarray(a, dtype=np.float32).ravel() + np.float32(0.0)).view(np.uint32)
    key = u ^ np.where(u >> np.uint32(31), np.uint32(0xFFFFFFFF), np.uint32(0x80000000))
    p = np.argsort((key & np.uint32(0xFFFF)).astype(np.uint16), kind="stable")
    return p[np.argsort((key[p] >> np.uint32(16)).astype(np.uint16), kind="stable")]


def structure_image(image: np.ndarray, sigma_px: float, step: int = 1) -> np.ndarray:
    """Z-score, Gaussian-smooth by ``sigma_px``, area-average by ``step``, normal scores, map to ``0.5 + z / 8``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> a = gaussian_filter(np.random.default_rng(0).random((128, 128)), 4)
    >>> a = ((a - a.min()) / np.ptp(a)).astype(np.float32)                   # features ~10 px across
    >>> u = structure_image(a, 1.5)
    >>> float(np.abs(u - structure_image(0.2 + 0.5 * a, 1.5)).max()) < 1e-4     # brightness, contrast
    True
    >>> [round(float(np.abs(u - structure_image(a ** g, 1.5)).max()), 2) for g in (0.6, 2.2)]   # gamma: nearly
    [0.02, 0.03]
    >>> round(float(u.mean()), 3), structure_image(a, 1.5, 2).shape
    (0.5, (64, 64))
    """
    from shapekit.topology.preprocessing import rescale, smooth, standardize

    z = standardize(np.asarray(image, dtype=np.float32))
    if sigma_px > 0:
        z = smooth(z, float(sigma_px))
    z = normal_scores(rescale(z, int(step)) if step > 1 else z)
    return np.clip(0.5 + z / (2.0 * Z_HALF_RANGE), 0.0, 1.0).astype(np.float32)


def structure_step(sigma_px: float, shapes: list[tuple[int, int]]) -> int:
    """Area-averaging step after smoothing: ``floor(sigma / 0.75)``, keeping at least 48 px a side.

    After a Gaussian of ``sigma`` px, averaging ``step`` x ``step`` pixels with ``step <= sigma /
    0.75`` loses little (the Gaussian has damped the frequencies the coarser grid cannot hold to
    about 6 %), and the persistence and two-point work shrink by ``step^2``. Computed from the
    *common* floor, so both sets share one grid.

    Examples
    --------
    >>> structure_step(1.5, [(512, 512)]), structure_step(1.0, [(512, 512)]), structure_step(4.0, [(64, 64)])
    (2, 1, 1)
    """
    side = min(min(s) for s in shapes) if shapes else 0
    return int(max(1, min(np.floor(sigma_px / 0.75 + 1e-9), side // 48)))


def noise_floor_px(relative_noise: np.ndarray, residual: float = RESIDUAL_NOISE) -> float:
    """Gaussian sigma (px) that brings white noise of this relative level down to ``residual``.

    A Gaussian of ``sigma`` px divides the standard deviation of white noise by
    ``2 sqrt(pi) sigma``; ``relative_noise`` is the noise over the image's grey-level standard
    deviation (:func:`shapekit.realism.imaging.imaging_descriptors`), its median over the set.

    Examples
    --------
    >>> round(noise_floor_px([0.5]), 2)
    2.82
    """
    r = float(np.median(np.asarray(relative_noise, dtype=np.float64)))
    return float(r / (2.0 * np.sqrt(np.pi) * residual)) if np.isfinite(r) and r > 0 else 0.0


def _grid(sigma: float) -> float:
    """Round a smoothing up to a multiple of 0.25 px (prepared sets then match more often)."""
    return float(np.ceil(round(sigma / SIGMA_STEP, 6)) * SIGMA_STEP)


def own_sigma(imaging: np.ndarray, floor_px: float = FLOOR_PX) -> float:
    """The smoothing a set gets when compared with a set no noisier and no blurrier than itself.

    ``imaging`` is :func:`shapekit.realism.imaging.imaging_descriptors` output.

    Examples
    --------
    >>> import numpy as np
    >>> own_sigma(np.zeros((3, 8))), own_sigma(np.c_[np.zeros((3, 6)), np.full(3, 0.5), np.zeros(3)])
    (1.5, 3.0)
    """
    from shapekit.realism.imaging import IMAGING_NAMES

    return _grid(max(float(floor_px), noise_floor_px(np.asarray(imaging)[:, IMAGING_NAMES.index("relative_noise")])))


def structure_sigmas(real: list[np.ndarray], fake: list[np.ndarray], blur_real: np.ndarray,
                     blur_fake: np.ndarray, noise_real: np.ndarray | None = None,
                     noise_fake: np.ndarray | None = None, floor_px: float = FLOOR_PX) -> dict:
    """Smoothing of each set so both reach one effective resolution (at least the common floor).

    The common floor is ``floor_px`` or, when a set is noisy, the smoothing that brings its
    median relative noise down to :data:`RESIDUAL_NOISE` of its contrast (:func:`noise_floor_px`),
    whichever is larger: the noisier set limits the resolution at which both are compared (the
    synthetic set's noise only when it asks for over 10 % more smoothing than the real set's).
    On top of it the set whose median :func:`~shapekit.realism.imaging.blur_sigma` is smaller
    gets the extra blur :func:`~shapekit.realism.imaging.matching_blur` finds (the same estimator
    then reads both sets alike). Gaussians compose: ``sigma = sqrt(floor^2 + extra^2)``. Extra
    blur below 0.2 px is ignored (it moves the total by under 1 %).

    Parameters
    ----------
    real, fake : list of ndarray
    blur_real, blur_fake : ndarray
        Per-image ``blur_px``.
    noise_real, noise_fake : ndarray, optional
        Per-image ``relative_noise``.
    floor_px : float

    Returns
    -------
    dict
        ``sigma_real``, ``sigma_fake`` (px, rounded to 0.01), ``step`` (:func:`structure_step` of
        the floor), ``floor_px`` (the common floor
        used), ``own_real`` (the smoothing the real set would get on its own), ``limited_by`` (``"floor"``, ``"noise of the real set"`` or ``"noise of the
        synthetic set"``), ``blur_real``, ``blur_fake`` (median measured blur, px),
        ``extra_real``, ``extra_fake``.

    Examples
    --------
    >>> import numpy as np
    >>> ims = [np.random.default_rng(i).random((32, 32)) for i in range(3)]
    >>> structure_sigmas(ims, ims, np.ones(3), np.ones(3))["sigma_real"]
    1.5
    """
    from shapekit.realism.imaging import matching_blur

    floors = {"floor": float(floor_px),
              "noise of the real set": noise_floor_px(noise_real) if noise_real is not None else 0.0,
              "noise of the synthetic set": noise_floor_px(noise_fake) if noise_fake is not None else 0.0}
    # the compared set's noise raises the floor only when clearly noisier (>10 %) than the
    # reference's own floor: two samples of one process scatter by about that much
    own = max(floors["floor"], floors["noise of the real set"])
    if floors["noise of the synthetic set"] <= 1.1 * own:
        floors["noise of the synthetic set"] = 0.0
    limited_by = max(floors, key=lambda k: floors[k])
    floor_px = _grid(floors[limited_by])
    br, bf = float(np.median(blur_real)), float(np.median(blur_fake))
    extra = {"real": 0.0, "fake": 0.0}
    if bf > br:
        extra["real"] = matching_blur(real, bf)
    elif br > bf:
        extra["fake"] = matching_blur(fake, br)
    # ignore extra blur that would raise the smoothing by under 5 % (the estimate's own scatter)
    extra = {k: (v if np.hypot(floor_px, v) > 1.05 * floor_px else 0.0) for k, v in extra.items()}
    sig = {k: round(float(np.hypot(floor_px, v)), 2) for k, v in extra.items()}
    return {"sigma_real": sig["real"], "sigma_fake": sig["fake"], "blur_real": br, "blur_fake": bf,
            "step": structure_step(floor_px, [np.shape(a) for a in list(real) + list(fake)]),
            "extra_real": round(extra["real"], 3), "extra_fake": round(extra["fake"], 3),
            "floor_px": float(floor_px), "limited_by": limited_by,
            "own_real": _grid(own)}


def correlation_length(two_point: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Lag (px) where the normalised two-point correlation first falls to 1/e, per image.

    ``C(r) = (S2(r) - phi^2) / (phi - phi^2)`` is 1 at ``r = 0`` and 0 for uncorrelated points;
    the crossing is linearly interpolated. Censored at the largest lag; 0 for an image with no
    second phase.

    Examples
    --------
    >>> import numpy as np
    >>> phi = np.array([0.5]); r = np.arange(20.0)
    >>> s2 = phi ** 2 + (phi - phi ** 2) * np.exp(-r / 5.0)[None]
    >>> round(float(correlation_length(s2, phi)[0]), 1)
    5.0
    """
    S = np.atleast_2d(np.asarray(two_point, dtype=np.float64))
    p = np.asarray(phi, dtype=np.float64).reshape(-1)
    out = np.zeros(len(S))
    target = np.exp(-1.0)
    for i, (s, f) in enumerate(zip(S, p)):
        var = f - f * f
        if var <= 1e-12:
            continue
        c = (s - f * f) / var
        below = np.flatnonzero(c <= target)
        if below.size == 0:
            out[i] = len(c) - 1
            continue
        j = int(below[0])
        if j == 0:
            continue
        c0, c1 = c[j - 1], c[j]
        out[i] = (j - 1) + (c0 - target) / (c0 - c1) if c0 > c1 else j
    return out


def two_point_descriptors(materials: dict, step: int = 1) -> tuple[np.ndarray, list[str]]:
    """Per-image two-point columns: phase fraction, ``C(r)`` at :data:`TWO_POINT_LAGS`, lengths.

    ``materials`` comes from :func:`shapekit.realism.materials.materials_statistics` on images
    area-averaged by ``step``; lags and lengths are given in pixels of the original images.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.materials import materials_statistics
    >>> m = materials_statistics([np.random.default_rng(0).random((40, 40))], r_max=16)
    >>> X, names = two_point_descriptors(m)
    >>> names[:3], X.shape
    (['two_point_phase_fraction', 'two_point_c_r1', 'two_point_c_r2'], (1, 8))
    """
    s2 = np.asarray(materials["two_point"], dtype=np.float64)
    phi = np.asarray(materials["phase_fraction"], dtype=np.float64)
    var = np.maximum(phi - phi * phi, 1e-12)
    C = (s2 - (phi * phi)[:, None]) / var[:, None]
    lags = [r for r in TWO_POINT_LAGS if r < s2.shape[1]]
    cols = [phi] + [C[:, r] for r in lags] + [step * correlation_length(s2, phi),
                                              step * np.asarray(materials["chord_mean"], dtype=np.float64)]
    names = (["two_point_phase_fraction"] + [f"two_point_c_r{r * step}" for r in lags]
             + ["two_point_correlation_length_px", "two_point_chord_mean_px"])
    return np.column_stack(cols), names


def structure_features(images: list[np.ndarray], sigma_px: float, *, step: int = 1, r_max: int = 64,
                       betti: bool = True, device: str | None = None) -> tuple[FeatureSet, dict]:
    """Topological summaries plus two-point columns of the structure images (one thread).

    Parameters
    ----------
    images : list of ndarray
    sigma_px : float
        Smoothing (:func:`structure_sigmas`).
    step : int
        Area-averaging step after smoothing (:func:`structure_step`; one for both sets).
    r_max : int
        Largest two-point lag in original pixels.
    betti : bool
        Compute Betti curves (for the report).
    device : str or None
        Persistence device (:func:`~shapekit.realism.summaries.image_features`).

    Returns
    -------
    FeatureSet
        :func:`~shapekit.realism.summaries.image_features` of the :func:`structure_image`
        images with the :func:`two_point_descriptors` columns appended to ``summaries``/``names``.
    dict
        :func:`~shapekit.realism.materials.materials_statistics` of the same images, plus
        ``step`` (lags are in units of ``step`` original pixels).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fs, mat = structure_features([rng.random((48, 48)) for _ in range(2)], 1.5, r_max=16)
    >>> fs.names[-1], fs.summaries.shape[0], mat["two_point"].shape
    ('feature_spacing_px', 2, (2, 17))
    """
    from shapekit.realism.materials import materials_statistics

    u = [structure_image(im, sigma_px, step) for im in images]
    mp = MIN_PERSISTENCE_Z / (2.0 * Z_HALF_RANGE)
    fs = image_features(u, min_persistence=mp, diagram_min_persistence=mp, n_jobs=1, betti=betti,
                        device=device)
    mat = materials_statistics(u, r_max=max(1, r_max // step))
    mat["step"] = int(step)
    X, names = two_point_descriptors(mat, step)
    fs.summaries = np.hstack([fs.summaries, X, feature_spacing(fs, step)[:, None]])
    fs.names = list(fs.names) + names + ["feature_spacing_px"]
    return fs, mat


def feature_spacing(fs: FeatureSet, step: int = 1) -> np.ndarray:
    """Typical distance (px) between features: ``sqrt(area per persistent component)``, per image.

    Components of both phases (sublevel and superlevel H0 pairs) with persistence above 0.8
    standard deviations (``count_above_1`` of the structure images) are counted per area; the
    spacing ``sqrt(10^4 / count)`` (in pixels of the original images, ``step`` times those of the
    area-averaged ones) scales with magnification and, unlike a correlation length, hardly with
    blur or smoothing (a blob is counted whatever its edge width). Capped at the image side.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.summaries import image_features
    >>> dots = np.zeros((100, 100)); dots[5::10, 5::10] = 1.0          # 100 bright dots, 10 px apart
    >>> round(float(feature_spacing(image_features([dots]))[0]))
    10
    """
    c = np.zeros(len(fs))
    for b in fs.blocks:
        if b.dim == 0:
            c += fs.summaries[:, fs.names.index(b.feature("count_above_1"))]
    side = np.array([min(s) for s in fs.shapes], dtype=np.float64) if fs.shapes else np.full(len(fs), np.inf)
    with np.errstate(divide="ignore"):
        sp = np.sqrt(AREA_UNIT / c)
    return step * np.minimum(sp, side)
