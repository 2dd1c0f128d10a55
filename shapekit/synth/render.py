r"""Image formation: a simulated secondary-electron (SE) micrograph of an aged alloy.

:func:`render_micrograph` takes aging conditions, runs the process model
(:mod:`shapekit.synth.physics`), lays out the section (:mod:`shapekit.synth.microstructure`) and
images it. The SE yield model, applied in this order:

1. **Contrast**: matrix grey level :math:`m \sim U(0.22, 0.32)`, each grain offset by
   :math:`N(0, 0.025)` (channelling contrast), the PFZ 0.03 darker, grain boundaries as etched
   grooves (a dark Gaussian line, depth 0.12, width 1 px), a faint sub-resolution matrix texture
   (smoothed white noise, std 0.012); precipitates bright, level :math:`p \sim U(0.75, 0.9)`,
   mixed in by their coverage, with SE edge brightening on their rim (0.5 x coverage x the
   gradient magnitude of the coverage blurred by 1 px).
2. **Charging**: a slow gradient (a random plane plus a broad Gaussian bump), amplitude
   :math:`U(0.02, 0.08)`.
3. **Beam blur**: Gaussian probe, :math:`\sigma \sim U(0.5, 0.8)` px.
4. **Scan-line jitter**: each row shifted by an AR(1) offset (std 0.25 px, correlation 0.7).
5. **Poisson-Gaussian noise**: :math:`I = \mathrm{Poisson}(I\,n_e)/n_e + N(0, s^2)`, dose
   :math:`n_e \sim U(40, 150)` electrons per full-scale pixel, read noise :math:`s \sim U(0.01,
   0.02)`; clipped to [0, 1].
6. Optionally an **info bar**: a black band appended below the image (height 9-16 % of it,
   at least 16 px) with white instrument text and a scale bar, like a real SEM.

Every random draw comes from ``numpy.random.SeedSequence(seed)``: the structure and the imaging
use separate child streams, so the same seed gives the same structure with or without the bar.

References
----------
.. [1] L. Reimer, Scanning Electron Microscopy, 2nd ed. (Springer, 1998): SE contrast, edge
   effect, shot noise, charging.
.. [2] J. I. Goldstein et al., Scanning Electron Microscopy and X-Ray Microanalysis, 4th ed.
   (Springer, 2018).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from scipy.signal import lfilter

from shapekit.errors import InputError
from shapekit.synth import physics
from shapekit.synth.microstructure import (GRAIN_DENSITY_PER_UM2, Microstructure,
                                          build_microstructure)

MIN_SIZE = 32
UM_PER_PX_RANGE = (2e-4, 2e-2)
"""Pixel sizes the simulator accepts (0.2-20 nm; 2 nm by default): the precipitates (2-25 nm)
stay between a fraction of a pixel and about a hundred pixels, and the numbers of grains and
particles stay in proportion to the image (outside, a 64 px image could need gigabytes)."""
GRAIN_DENSITY_RANGE = (0.0, 1000.0)
"""Grain densities the simulator accepts (grains per um^2): from one grain over the whole field
(densities near 0) to grains of about 30 nm, a few precipitate diameters."""


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (size, size) if np.isscalar(size) else tuple(size)
    if len(hw) != 2 or any(int(v) != v or int(v) < MIN_SIZE for v in hw):
        raise InputError(f"image size must be an integer >= {MIN_SIZE} px (or a pair), "
                         f"got {size!r}")
    return int(hw[0]), int(hw[1])


def check_particles_fit(temperature_C: Any, time_h: Any, size: int | tuple[int, int],
                        um_per_px: float) -> None:
    """Refuse conditions whose mean precipitate radius exceeds half the field (InputError).

    Coarsening has no bound (r^3 grows with t): far outside the simulator's data a field holds
    no whole particle, and laying it out took minutes (200 C for 1e8 h: 46 s for 128 px).
    With arrays, the largest radius is checked (``synthesize`` checks all its conditions before
    writing anything).

    Examples
    --------
    >>> check_particles_fit(220.0, 100.0, 32, 0.002)   # 12 px in a 32-px field
    >>> check_particles_fit(200.0, 1e8, 128, 0.002)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: at 200 C for 1e+08 h the mean precipitate radius is 1.61e+03 nm ...
    """
    r_nm = np.asarray(physics.mean_radius(temperature_C, time_h), dtype=float)
    k = int(np.argmax(r_nm))
    T, t = (float(np.broadcast_to(v, r_nm.shape).flat[k]) for v in (temperature_C, time_h))
    side = min(_size(size))
    t_lo, t_hi = physics.DOMAIN["aging_temperature_C"]
    h_lo, h_hi = physics.DOMAIN["aging_time_h"]
    r_px = float(r_nm.flat[k]) / (1000.0 * um_per_px)
    if r_px > side / 2:
        raise InputError(f"at {T:g} C for {t:g} h the mean precipitate radius is "
                         f"{float(r_nm.flat[k]):.3g} nm = {r_px:.3g} px at {um_per_px:g} um/px, "
                         f"more than half the {side}-px field: no particle of that size fits in "
                         f"view (the simulator's data: {t_lo:g}-{t_hi:g} C, {h_lo:g}-{h_hi:g} h); "
                         "give a shorter time, a larger size or a coarser um_per_px")


def simulate_microstructure(temperature_C: float, time_h: float, *,
                            size: int | tuple[int, int] = 256,
                            um_per_px: float = physics.UM_PER_PX_DEFAULT,
                            seed: int = 0,
                            grain_density_per_um2: float = GRAIN_DENSITY_PER_UM2,
                            ) -> tuple[Microstructure, dict[str, Any]]:
    """Lay out the section for one aging condition (no imaging).

    Returns the :class:`~shapekit.synth.microstructure.Microstructure` and the process model's
    values (scalars) for the condition, below the solvus
    (:data:`~shapekit.synth.physics.SOLVUS_C`, 291 C; at or above it: InputError, as there is no
    precipitate to lay out). ``grain_density_per_um2``: Voronoi grains per um^2 of the
    section (default :data:`~shapekit.synth.microstructure.GRAIN_DENSITY_PER_UM2`, 12: grains of
    about 0.33 um; at most :data:`GRAIN_DENSITY_RANGE`'s upper end).

    Examples
    --------
    >>> m, model = simulate_microstructure(200.0, 10.0, size=64, seed=1)
    >>> m.coverage.shape, model["temper"]
    ((64, 64), 'peak_aged')
    """
    hw = _size(size)
    if float(temperature_C) >= physics.SOLVUS_C:  # the model's coarsening regime ends there
        t_lo, t_hi = physics.DOMAIN["aging_temperature_C"]
        raise InputError(f"aging temperature {float(temperature_C):g} C is at or above the model "
                         f"alloy's solvus ({physics.SOLVUS_C:.0f} C), where no precipitate is "
                         f"left to image; the simulator covers aging below it (its data: "
                         f"{t_lo:g}-{t_hi:g} C)")
    if not (np.isfinite(um_per_px) and um_per_px > 0):
        raise InputError(f"um_per_px must be a positive number, got {um_per_px!r}")
    lo, hi = UM_PER_PX_RANGE
    if not lo <= um_per_px <= hi:
        raise InputError(f"um_per_px {um_per_px:g} is outside the simulator's range {lo:g}-{hi:g} "
                         f"um/px (precipitates of 2-25 nm must stay resolvable and countable)")
    g_lo, g_hi = GRAIN_DENSITY_RANGE
    if not (np.isfinite(grain_density_per_um2) and g_lo < grain_density_per_um2 <= g_hi):
        raise InputError(f"grain_density_per_um2 must be in ({g_lo:g}, {g_hi:g}] grains per um^2, "
                         f"got {grain_density_per_um2!r}")
    check_particles_fit(float(temperature_C), float(time_h), hw, um_per_px)
    model = {k: (v.item() if isinstance(v, np.ndarray) else v)
             for k, v in physics.process_model(float(temperature_C), float(time_h)).items()}
    nm_px = 1000.0 * um_per_px
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(2)[0])
    m = build_microstructure(hw, radius_px=model["mean_radius_nm"] / nm_px,
                             area_fraction=model["area_fraction"],
                             gb_radius_px=model["gb_radius_nm"] / nm_px,
                             pfz_px=model["pfz_width_nm"] / nm_px,
                             grain_density_px=float(grain_density_per_um2) * um_per_px**2,
                             rng=rng, lsw=physics.sample_lsw)
    return m, model


def _smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


def _image(m: Microstructure, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    h, w = m.coverage.shape
    p = {"matrix_level": rng.uniform(0.22, 0.32), "particle_level": rng.uniform(0.75, 0.9),
         "charging": rng.uniform(0.02, 0.08), "blur_px": rng.uniform(0.5, 0.8),
         "dose": rng.uniform(40, 150), "read_noise": rng.uniform(0.01, 0.02), "jitter_px": 0.25}
    g_off = rng.normal(0.0, 0.025, int(m.grain_id.max()) + 1).astype(np.float32)
    d = m.gb_distance
    img = p["matrix_level"] + g_off[m.grain_id]
    img -= 0.03 * (d < m.pfz_px)
    img -= 0.12 * np.exp(-0.5 * np.minimum(d, 10.0) ** 2)
    img += 0.012 * _smooth_noise((h, w), 1.5, rng)
    c = m.coverage
    img = img * (1.0 - c) + p["particle_level"] * c
    cb = cv2.GaussianBlur(c, (0, 0), 1.0)
    gy, gx = np.gradient(cb)
    img += 0.5 * c * np.hypot(gx, gy)  # edge effect on the particle's rim
    # charging: plane + broad bump
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / h - 0.5, xx / w - 0.5
    a, b = rng.normal(size=2)
    cy, cx = rng.uniform(-0.5, 0.5, 2)
    bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.3**2))
    field = a * yy + b * xx + rng.uniform(-1, 1) * bump
    img += p["charging"] * field / max(float(np.abs(field).max()), 1e-6)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), p["blur_px"])
    # scan-line jitter (AR(1) row offsets)
    e = rng.normal(0.0, p["jitter_px"] * np.sqrt(1 - 0.7**2), h)
    e[0] = rng.normal(0.0, p["jitter_px"])  # stationary start
    off = lfilter([1.0], [1.0, -0.7], e)  # off[i] = 0.7 off[i-1] + e[i]
    mapx = (np.arange(w, dtype=np.float32)[None, :] + off[:, None].astype(np.float32))
    mapy = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    img = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = shot_noise(img, p["dose"], p["read_noise"], rng)
    return img, {k: float(v) for k, v in p.items()}


def shot_noise(image: np.ndarray, dose: float, read_noise: float,
               rng: np.random.Generator) -> np.ndarray:
    """Step 5 of the image formation: Poisson shot noise at ``dose`` electrons per full-scale
    pixel plus Gaussian read noise, on ``image`` clipped to [0, 1]; float32 in [0, 1].

    Examples
    --------
    >>> y = shot_noise(np.full((200, 200), 0.5), 100.0, 0.01, np.random.default_rng(0))
    >>> bool(abs(y.std() - (0.5 / 100 + 0.01**2) ** 0.5) < 0.003)
    True
    """
    img = np.clip(image, 0.0, 1.0)
    img = rng.poisson(img * dose) / dose + rng.normal(0.0, read_noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _nice_length(nm: float) -> float:
    """Largest 1-2-5 x 10^k length not above ``nm``."""
    k = 10.0 ** np.floor(np.log10(nm))
    return float(max(v * k for v in (1, 2, 5) if v * k <= nm))


def add_info_bar(image: np.ndarray, um_per_px: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Append a black SEM info band (white text, scale bar) below ``image``; returns (image, rows).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((128, 128), 0.5, np.float32)
    >>> out, rows = add_info_bar(img, 0.002, np.random.default_rng(0))
    >>> out.shape[0] == 128 + rows and rows >= 16 and float(out[-rows:].min()) == 0.0
    True
    """
    h, w = image.shape
    rows = max(16, int(rng.uniform(0.09, 0.16) * h))
    bar = np.zeros((rows, w), np.uint8)
    scale = max(0.25, rows / 70.0)
    th = max(1, int(round(rows / 40)))
    kv = rng.choice([2.0, 3.0, 5.0, 10.0, 15.0])
    mag = 127e3 / (w * um_per_px)  # the field shown 127 mm wide (Polaroid 5" convention)
    mag_txt = f"{mag / 1000:.0f} kx" if mag >= 1e4 else f"x{mag:,.0f}"
    text = f"SE  {kv:.0f} kV  WD {rng.uniform(3, 10):.1f} mm  {mag_txt}"
    cv2.putText(bar, text, (max(2, w // 60), int(rows * 0.42)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                255, th, cv2.LINE_AA)
    length_nm = _nice_length(0.3 * w * um_per_px * 1000.0)
    px = max(2, int(round(length_nm / (um_per_px * 1000.0))))
    x0 = w - px - max(3, w // 30)
    y0, y1 = int(rows * 0.62), int(rows * 0.62) + max(2, rows // 10)
    bar[y0:y1, x0:x0 + px] = 255
    label = f"{length_nm / 1000:g} um" if length_nm >= 1000 else f"{length_nm:g} nm"
    cv2.putText(bar, label, (x0, min(rows - 2, y1 + int(rows * 0.3))), cv2.FONT_HERSHEY_SIMPLEX,
                scale * 0.8, 255, th, cv2.LINE_AA)
    out = np.concatenate([image, bar.astype(np.float32) / 255.0], axis=0)
    return out, rows


def render_micrograph(temperature_C: float, time_h: float, *, size: int | tuple[int, int] = 256,
                      um_per_px: float = physics.UM_PER_PX_DEFAULT, seed: int = 0,
                      info_bar: bool = False,
                      grain_density_per_um2: float = GRAIN_DENSITY_PER_UM2,
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """Simulate an SE micrograph of the model alloy after aging, with its ground truth.

    Parameters
    ----------
    temperature_C, time_h : float
        Aging temperature (C; below the model alloy's solvus, 291 C) and time (h).
    size : int or (h, w)
        Image size in pixels (>= 32), without the info bar.
    um_per_px : float
        Pixel size (default 0.002 um = 2 nm: the critical radius is 4 px).
    seed : int
        Random seed; the output is a deterministic function of all arguments.
    info_bar : bool
        Append a black info band with text and a scale bar (the image grows by ``info_bar_rows``).
    grain_density_per_um2 : float
        Voronoi grains per um^2 (default 12; see :func:`simulate_microstructure`).

    Returns
    -------
    image : (h [+ bar], w) float32 array in [0, 1]
    truth : dict
        Conditions (``aging_temperature_C``, ``aging_time_h``, ``um_per_px``, ``seed``), the
        model's requested values (``area_fraction``, ``mean_radius_nm``,
        ``number_density_per_um2``, ``hardness_HV``, ``temper``, ``pfz_width_nm``,
        ``gb_radius_nm``), the realised ones in the field of view (``realised_area_fraction``:
        coverage mean; ``realised_mean_radius_nm`` and ``realised_number_density_per_um2`` over
        particles centred in view, boundary particles included), ``n_particles``,
        ``n_gb_particles``, ``n_grains``, ``info_bar_rows`` and ``imaging`` (the drawn imaging
        parameters).

    References
    ----------
    Reimer (1998), Scanning Electron Microscopy; see the module docstring.

    Examples
    --------
    >>> img, truth = render_micrograph(210.0, 30.0, size=128, seed=3)
    >>> img.shape, img.dtype, truth["temper"]
    ((128, 128), dtype('float32'), 'over_aged')
    >>> bool(abs(truth["realised_area_fraction"] - truth["area_fraction"]) < 0.03)
    True
    """
    m, model = simulate_microstructure(temperature_C, time_h, size=size, um_per_px=um_per_px,
                                       seed=seed, grain_density_per_um2=grain_density_per_um2)
    ss = np.random.SeedSequence(int(seed)).spawn(3)
    img, imaging = _image(m, np.random.default_rng(ss[1]))
    bar_rows = 0
    if info_bar:
        img, bar_rows = add_info_bar(img, um_per_px, np.random.default_rng(ss[2]))
    nm_px = 1000.0 * um_per_px
    iv = m.in_view
    h, w = m.coverage.shape
    area_um2 = h * w * um_per_px**2
    truth: dict[str, Any] = {
        "aging_temperature_C": float(temperature_C), "aging_time_h": float(time_h),
        "um_per_px": float(um_per_px), "seed": int(seed), "temper": str(model["temper"]),
        "hardness_HV": float(model["hardness_HV"]),
        "area_fraction": float(model["area_fraction"]),
        "mean_radius_nm": float(model["mean_radius_nm"]),
        "number_density_per_um2": float(model["number_density_per_um2"]),
        "pfz_width_nm": float(model["pfz_width_nm"]), "gb_radius_nm": float(model["gb_radius_nm"]),
        "realised_area_fraction": float(m.coverage.mean()),
        "realised_mean_radius_nm": float(m.radii[iv].mean() * nm_px) if iv.any() else float("nan"),
        "realised_number_density_per_um2": float(iv.sum() / area_um2),
        "n_particles": int(iv.sum()), "n_gb_particles": int((iv & m.on_boundary).sum()),
        "n_grains": int(len(np.unique(m.grain_id))), "info_bar_rows": int(bar_rows),
        "imaging": imaging,
    }
    return img, truth
