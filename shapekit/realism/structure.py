"""The material's structure, with the imaging taken out: standardise, smooth, match the grey levels.

Two sets imaged differently (brighter, noisier, blurrier, another tone curve) show the same
material differently; :func:`structure_image` removes what the imaging sets, the way the robust
TopTemp preset does (:mod:`shapekit.topology.preprocessing`), plus a grey-level curve:

1. z-score each image (brightness and contrast out);
2. smooth it with a Gaussian of ``sigma`` px (:func:`structure_sigmas`): at least
   :data:`FLOOR_PX`, more when a set is so noisy that its noise would survive that
   (:func:`noise_floor_px`: the noisier set sets the floor for both), and more again for the
   sharper set when the other is blurrier, so both sets end at one effective resolution
   (measured with :func:`shapekit.realism.imaging.blur_sigma`);
3. average ``step`` x ``step`` pixels (:func:`structure_step`: the smoothing made the fine grid
   redundant; the persistence costs ``step^2`` less), z-score again (the smoothing removed the
   noise's share of the variance);
4. bring its grey levels to the reference set's
   (:func:`~shapekit.realism.greylevels.match_grey_levels`): the increasing
   cubic that best maps the image's quantiles onto the quantiles of the reference set's images
   after steps 1-3 (:func:`reference_quantiles`). A gamma, a saturating or a session-specific
   tone curve is a smooth increasing curve, so the cubic takes it out; an image of the reference
   set is mapped nearly onto itself;
5. map ``z`` to ``u = 0.5 + z / 8`` clipped to [0, 1], so that the topology code sees grey
   images: persistence 0.1 in ``u`` is 0.8 standard deviations.

Why a cubic and not ranks (RESULTS.md, "Grey-level curves"): ranking each image (normal scores)
takes out any increasing curve but stretches whatever varies within a phase over that phase's
share of the quantiles: the pixel noise when done before the smoothing (simulator noise 0.1 and
blur 4 then read 3.3x and 4.7x the real-vs-real baseline), what the smoothing leaves when done
after it (a 3x magnified set reads 1.7x in feature spacing instead of 2.4x; pearlite vs
spheroidite 2.8x instead of 3.8x). The cubic cannot stretch a narrow range of grey levels that
much (2.0x and 3.0x) and leaves gamma 0.6 and 1.5 at 0.6x and 1.0x (4.1x and 3.7x before).

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
"""

from __future__ import annotations

import numpy as np

from shapekit.realism.greylevels import match_grey_levels, quantile_levels
from shapekit.realism.summaries import AREA_UNIT, FeatureSet, image_features

__all__ = ["reference_quantiles", "structure_image", "structure_step", "feature_spacing", "image_spacing",
           "structure_sigmas", "noise_floor_px", "own_sigma", "structure_features", "two_point_descriptors",
           "correlation_length", "FLOOR_PX", "MIN_PERSISTENCE_Z", "TWO_POINT_LAGS"]

FLOOR_PX = 1.5
RESIDUAL_NOISE = 0.05
SIGMA_STEP = 0.25
MIN_PERSISTENCE_Z = 0.25
Z_HALF_RANGE = 4.0
TWO_POINT_LAGS = (1, 2, 4, 8, 16, 32)


def _standard(image: np.ndarray, sigma_px: float, step: int) -> np.ndarray:
    """Steps 1-3 of the module: z-score, smooth, area-average, z-score."""
    from shapekit.topology.preprocessing import rescale, smooth, standardize

    z = standardize(np.asarray(image, dtype=np.float32))
    if sigma_px > 0:
        z = smooth(z, float(sigma_px))
    return standardize(rescale(z, int(step)) if step > 1 else z)


def reference_quantiles(images: list[np.ndarray], sigma_px: float, step: int = 1) -> tuple[float, ...]:
    """Quantiles (:data:`~shapekit.realism.greylevels.N_QUANTILES`) of the reference images' smoothed grey levels.

    All pixels of ``images`` (the reference set, or :func:`~shapekit.realism.prepared.probe_indices`
    of it) after z-scoring, smoothing by ``sigma_px``, area-averaging by ``step`` and z-scoring,
    pooled; rounded to 6 decimals and returned as a tuple (a dictionary key of the structure
    features it gives).

    Examples
    --------
    >>> import numpy as np
    >>> q = reference_quantiles([np.random.default_rng(0).random((64, 64))], 1.5)
    >>> len(q), abs(q[49] + q[50]) < 0.1, q[0] < -2 < 2 < q[-1]
    (100, True, True)
    """
    pooled = np.concatenate([_standard(im, sigma_px, step).ravel() for im in images])
    return tuple(float(round(v, 6)) for v in np.quantile(pooled, quantile_levels()))


def structure_image(image: np.ndarray, sigma_px: float, step: int = 1,
                    target: tuple[float, ...] | None = None) -> np.ndarray:
    """Z-score, smooth by ``sigma_px``, area-average by ``step``, z-score, match ``target``, map to ``0.5 + z / 8``.

    ``target``: :func:`reference_quantiles` of the reference set (None: no grey-level matching;
    :func:`~shapekit.realism.greylevels.match_grey_levels`).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.ndimage import gaussian_filter
    >>> a = gaussian_filter(np.random.default_rng(0).random((128, 128)), 4)
    >>> a = ((a - a.min()) / np.ptp(a)).astype(np.float32)                 # features ~10 px across
    >>> u, v = structure_image(a, 1.5), structure_image(0.2 + 0.5 * a, 1.5)   # brightness/contrast
    >>> float(np.abs(u - v).max()) < 1e-5, round(float(u.mean()), 3), structure_image(a, 1.5, 2).shape
    (True, 0.5, (64, 64))
    >>> t = reference_quantiles([a], 1.5)                                  # gamma 1.5, matched to a
    >>> [round(float(np.abs(structure_image(a ** 1.5, 1.5, target=t) - u).mean()), 3),
    ...  round(float(np.abs(structure_image(a ** 1.5, 1.5) - u).mean()), 3)]
    [0.001, 0.008]
    """
    z = _standard(image, sigma_px, step)
    if target is not None:
        z = match_grey_levels(z, target)
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
                       betti: bool = True, device: str | None = None,
                       target: tuple[float, ...] | None = None) -> tuple[FeatureSet, dict]:
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
    target : tuple of float, optional
        The reference set's :func:`reference_quantiles` (grey levels matched to them).

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

    u = [structure_image(im, sigma_px, step, target) for im in images]
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


def image_spacing(images: list[np.ndarray]) -> np.ndarray:
    """:func:`feature_spacing` (px) of each image at the least smoothing (:data:`FLOOR_PX`).

    What follows magnification and hardly blur, for images without a set to compare against
    (the structure images are z-scored per image); computed 30 images at a time.
    """
    return np.concatenate([structure_features(list(images[i:i + 30]), FLOOR_PX, betti=False,
                                              r_max=8)[0].summaries[:, -1]
                           for i in range(0, len(images), 30)])
