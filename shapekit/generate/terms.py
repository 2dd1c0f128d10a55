"""Differentiable structure statistics that the generator's loss terms match per condition.

:func:`bright_fraction` (the phase-fraction term, ``fraction_weight``) and
:func:`two_point_profile` of :func:`bright_map` (the two-point term, ``two_point_weight``) draw
particles as :func:`shapekit.synth.measure_structure` does, so that what the generator is held to
is what the evaluation measures. The references are those of :mod:`shapekit.generate.module`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from shapekit._torchops import gaussian_blur
from shapekit.synth.measure import MIN_SNR, particle_labels, particle_levels

__all__ = ["bright_fraction", "bright_map", "measured_map", "measured_labels", "exact_map",
           "measured_particles",
           "particle_map", "crop_statistics",
           "two_point_profile",
           "check_window", "check_gan_settings", "FRACTION_MAPS", "FRACTION_SOFTNESS",
           "FRACTION_SMOOTH_SIGMA", "TUNE"]

#: the particle drawings the fraction and two-point terms can use (``fraction_map``)
FRACTION_MAPS = ("half_max", "measure", "exact")

#: what a generator update trains (``ConditionalGAN(tune=...)``)
TUNE = ("all", "condition", "late")
#: loss weights of :class:`~shapekit.generate.module.ConditionalGAN` (0 switches a term off)
_WEIGHTS = ("r1_gamma", "aux_weight", "ms_weight", "fraction_weight", "two_point_weight",
            "fraction_dual", "count_weight", "shape_weight", "lattice_weight",
            "lattice_image_weight", "adv_weight")

#: width of the soft threshold of :func:`bright_fraction`, relative to the particle contrast
FRACTION_SOFTNESS = 0.05
#: Gaussian pre-smoothing of :func:`bright_fraction` (px), as in shapekit.synth.measure_structure
FRACTION_SMOOTH_SIGMA = 1.0


def check_window(window: int) -> None:
    """Refuse an even ``window`` (a centred neighbourhood needs an odd side; 0 or 1: none)."""
    if window > 1 and window % 2 == 0:
        raise ValueError(f"the fraction window must be 0 or odd (a centred neighbourhood), "
                         f"got {window}")


def check_gan_settings(hp: dict) -> None:
    """Refuse, with a one-line ValueError naming it, a setting of
    :class:`~shapekit.generate.module.ConditionalGAN` (``hp``: its constructor's arguments) that
    would train nonsense: a negative loss weight, a learning rate <= 0, an Adam beta or EMA
    decay outside ``[0, 1)``, counts below their least, an unknown loss, ``tune`` or
    ``fraction_map``, an even ``fraction_window``, a crop the networks cannot tile.

    Examples
    --------
    >>> check_gan_settings({"ema_decay": 2.0})
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: ema_decay=2.0 must be a number in [0, 1)
    """
    from shapekit._params import check_int, check_number

    for name in (n for n in _WEIGHTS if n in hp):
        check_number(name, hp[name], low=0)
    for name, high in (("lr_g", None), ("lr_d", None), ("beta1", 1), ("beta2", 1),
                       ("ema_decay", 1)):  # a learning rate > 0, the others in [0, 1)
        if name in hp:
            check_number(name, hp[name], 0, high, low_open=high is None, high_open=bool(high))
    for name, low in (("r1_every", 1), ("d_warmup", 0), ("sample_every", 0),
                      ("fraction_window", 0), ("margin_cells", 0)):
        if name in hp:
            check_int(name, hp[name], low, none=name == "margin_cells")
    if hp.get("loss", "hinge") not in ("hinge", "ns"):
        raise ValueError(f"loss must be 'hinge' or 'ns', got {hp['loss']!r}")
    if hp.get("tune", "all") not in TUNE:
        raise ValueError(f"tune must be one of {', '.join(TUNE)}, got {hp['tune']!r}")
    check_window(hp.get("fraction_window", 0))
    if hp.get("fraction_map", "half_max") not in FRACTION_MAPS:
        raise ValueError(f"fraction_map must be one of {', '.join(FRACTION_MAPS)}, "
                         f"got {hp['fraction_map']!r}")
    crop, lag = hp.get("crop_size", 64), hp.get("two_point_lag", 16)
    if hp.get("two_point_weight", 0) > 0 and not 0 < lag < crop:
        raise ValueError(f"two_point_lag must lie in [1, {crop - 1}], got {lag}")
    period, patch = 2 ** int(hp.get("n_up", 3)), 2 ** int(hp.get("d_blocks", 3))
    if crop < 16 or crop % period or crop % patch:
        raise ValueError(f"crop_size must be >= 16 and a multiple of {period} and {patch}, "
                         f"got {crop}")


def bright_fraction(x: torch.Tensor, softness: float = FRACTION_SOFTNESS,
                    sigma: float = FRACTION_SMOOTH_SIGMA, window: int = 0) -> torch.Tensor:
    """Differentiable bright-phase area fraction of each image of a ``(B, 1, H, W)`` batch in
    ``[-1, 1]``, drawn as :func:`shapekit.synth.measure_structure` draws particles: after a
    Gaussian smoothing of ``sigma`` px, the share of pixels above half-way between the
    background (the median) and the particle peaks (the 99th percentile), through a sigmoid of
    width ``softness`` times that contrast. Half-maximum rather than a fixed grey level: a
    brighter background or fainter particles then lower the fraction, as they do in the
    measurement.

    With ``window`` k > 1 each pixel is compared with half of its *own* particle's peak, the
    brightest smoothed pixel within its k x k neighbourhood, as the measurement redraws each
    particle at half its own height; the neighbourhood must also hold a pixel above the global
    half-maximum (a detected particle). Small, faint particles (under-aged fields, 2 px radius)
    then count as the measurement counts them: the global half-maximum misses their flanks.

    Examples
    --------
    >>> x = torch.full((2, 1, 32, 32), -0.6)
    >>> x[:, :, 8:24, 8:24] = 0.8          # a 16x16 particle: a quarter of the image
    >>> x[1] += 0.3 * (x[1] < 0)           # the same on a brighter background
    >>> bright_fraction(x).round(decimals=2).tolist()
    [0.25, 0.25]

    Two blurred particles (Gaussian profiles of variance 4 px^2: 21 pixel centres each within
    the half-height radius, about 19 px through the soft threshold), the second bright or faint:
    with a window each counts at its own half height, whatever its brightness.

    >>> yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    >>> bump = lambda cy, cx: torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8)
    >>> pairs = [(-0.6 + 1.4 * bump(8, 8) + a * bump(22, 22))[None, None] for a in (1.4, 0.9)]
    >>> [[round(1024 * bright_fraction(y, sigma=0, window=w).item()) for w in (0, 7)] for y in pairs]
    [[47, 38], [50, 38]]
    """
    return bright_map(x, softness, sigma, window).flatten(1).mean(dim=1)


def bright_map(x: torch.Tensor, softness: float = FRACTION_SOFTNESS,
               sigma: float = FRACTION_SMOOTH_SIGMA, window: int = 0) -> torch.Tensor:
    """The soft particle indicator ``(B, 1, H, W)`` in ``[0, 1]`` whose mean is
    :func:`bright_fraction` (same parameters).

    Examples
    --------
    >>> x = torch.full((1, 1, 8, 8), -0.6)
    >>> x[..., 2:6, 2:6] = 0.8
    >>> bright_map(x, sigma=0)[0, 0, 1:7, 3].round().tolist()
    [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    """
    check_window(window)
    sm = gaussian_blur(x.float(), sigma) if sigma > 0 else x.float()
    flat = sm.flatten(1)
    bg, peak = flat.median(dim=1).values, torch.quantile(flat, 0.99, dim=1)
    width = softness * (peak - bg).detach().clamp_min(1e-3)
    half = (bg + peak) / 2
    b4, half4, w4 = (v[:, None, None, None] for v in (bg, half, width))
    if window <= 1:
        return torch.sigmoid((sm - half4) / w4)
    local = F.max_pool2d(sm, int(window), stride=1, padding=int(window) // 2)
    own = torch.sigmoid((sm - (b4 + local) / 2) / w4)       # above half its particle's peak
    detected = torch.sigmoid((local - half4) / w4)           # next to a detected particle
    return own * detected


def _levels(x01: torch.Tensor) -> list[dict]:
    """:func:`shapekit.synth.particle_levels` of each image of a ``(B, 1, H, W)`` batch in [0, 1]."""
    return [particle_levels(a, FRACTION_SMOOTH_SIGMA) for a in x01.detach().cpu().numpy()[:, 0]]


def measured_map(x: torch.Tensor, window: int = 7, softness: float = FRACTION_SOFTNESS,
                 min_snr: float = MIN_SNR, levels: list[dict] | None = None) -> torch.Tensor:
    """Soft particle indicator ``(B, 1, H, W)`` in ``[0, 1]`` of a ``(B, 1, H, W)`` batch in
    ``[-1, 1]``, drawn at the levels :func:`shapekit.synth.measure_structure` uses
    (:func:`shapekit.synth.particle_levels` of each image: the slow background flattened away,
    Otsu's threshold, the background level below it, the pixel noise). A pixel counts when it
    lies above half of its particle's peak (the brightest flattened pixel within ``window`` x
    ``window``) over the background, next to a peak above Otsu's threshold that rises
    ``min_snr`` noise deviations above the background: the measurement's detection, half-maximum
    redrawing and noise rejection, through sigmoids of width ``softness`` times the
    threshold's height over the background. The levels are constants of the step (computed
    without gradient, on the CPU, unless the caller passes each image's ``levels``); the
    gradient flows through the smoothed image.

    Unlike :func:`bright_map` (half-way to the 99th percentile), its mean follows the
    measurement's area fraction on simulator fields, including the faint 2-px under-aged
    particles, so a generator held to it is held to what the evaluation measures.

    Examples
    --------
    A 16 x 16 particle on a background with a slow gradient: the gradient is flattened away
    and the particle covers a quarter of the image, as :func:`measure_structure` finds.

    >>> from shapekit.synth import measure_structure
    >>> x = torch.linspace(-0.8, -0.4, 64).repeat(64, 1)[None, None]
    >>> x[..., 24:40, 24:40] += 1.0
    >>> f = measure_structure(((x[0, 0] + 1) / 2).numpy())["area_fraction"]
    >>> round(measured_map(x).mean().item(), 3), round(f, 3)   # 0.0625, less the blurred corners
    (0.062, 0.062)
    """
    check_window(window)
    if window < 3:
        raise ValueError(f"the particle-peak window must be odd and >= 3, got {window}")
    x01 = (x.float() + 1.0) / 2.0
    if levels is None:
        levels = _levels(x01)
    sm = gaussian_blur(x01, FRACTION_SMOOTH_SIGMA)
    # The levels move with the image: a brighter or stiffer image shifts and scales them alike
    # (they are image statistics). Held in units of the image's own mean and deviation, which
    # carry the gradient, they stay constant under such changes, so the gradient rewards only
    # what changes the measured fraction (the particles' shapes and relative heights), not a
    # global brightening that the next step's levels would follow. The values are unchanged.
    mu = sm.mean(dim=(1, 2, 3), keepdim=True)
    sd = sm.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    mu0, sd0 = mu.detach(), sd.detach()
    back = torch.from_numpy(np.stack([lv["background"] for lv in levels]))[:, None]
    back = back.to(device=sm.device, dtype=sm.dtype)
    flat = ((sm - mu) / sd - (back - mu0) / sd0) * sd0      # = sm - back, affine-invariant grad
    thr, bg, noise = (torch.tensor([lv[k] for lv in levels], dtype=sm.dtype,
                                   device=sm.device).view(-1, 1, 1, 1)
                      for k in ("threshold", "background_level", "noise"))
    width = softness * (thr - bg).clamp_min(1e-4)
    peak = F.max_pool2d(flat, int(window), stride=1, padding=int(window) // 2)
    own = torch.sigmoid((flat - (bg + peak) / 2) / width)
    detected = (torch.sigmoid((peak - thr) / width)
                * torch.sigmoid((peak - bg - min_snr * noise) / width))
    return own * detected


def measured_labels(x: torch.Tensor, window: int = 7) -> tuple[torch.Tensor, list[np.ndarray]]:
    """The measurement of each image of a ``(B, 1, H, W)`` batch in ``[-1, 1]``, once, for the
    terms that share it: the soft :func:`measured_map` ``(B, 1, H, W)`` (with its gradient) and
    the label image of :func:`shapekit.synth.particle_labels` per image, both at the same levels.

    Examples
    --------
    >>> x = torch.full((1, 1, 32, 32), -0.6); x[..., 8:16, 8:16] = 0.8; x[..., 20:28, 20:28] = 0.8
    >>> soft, labels = measured_labels(x)
    >>> soft.shape, len(np.unique(labels[0][labels[0] > 0]))
    (torch.Size([1, 1, 32, 32]), 2)
    """
    x01 = (x.detach().float() + 1.0) / 2.0
    levels = _levels(x01)   # one set of levels serves the soft map and the measured mask
    soft = measured_map(x, window=window, levels=levels)
    labels = [particle_labels(a, smooth_sigma=FRACTION_SMOOTH_SIGMA, levels=lv)[0]
              for a, lv in zip(x01.cpu().numpy()[:, 0], levels)]
    return soft, labels


def measured_particles(x: torch.Tensor, window: int = 7,
                       measured: tuple[torch.Tensor, list[np.ndarray]] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The particles :func:`shapekit.synth.measure_structure` measures in each image of a
    ``(B, 1, H, W)`` batch in ``[-1, 1]``: their ``{0, 1}`` map and their count, each with a
    gradient through :func:`measured_map` (straight-through estimators).

    The map's value is the measurement's mask (:func:`shapekit.synth.particle_labels`: each
    particle at half its own peak, specks and faint particles dropped), its gradient that of the
    soft map. The soft map draws every pixel at its neighbourhood's peak; the measurement draws a
    particle at its component's peak, so an elongated or merged blob counts more in the soft map
    than in the measurement. A term on this map holds the generated crops to the measured
    fraction itself.

    The count's value is the measurement's edge-corrected particle count (a particle touching the
    image border counts 1/2: ``number_density_per_px2`` times the image area). Its gradient is
    that of ``sum_k w_k mean_{p in k} u(p)``, the soft map averaged over each particle and its
    1-px rim: every particle weighs its ``w_k`` whatever its size, spread over its ``A_k``
    pixels, so of two sharp-edged particles the smaller one's pixels are pulled harder. (The
    pull still goes through the soft map, whose transition is wider on a particle's gentler
    flanks: a large, smooth particle can take more of it than a small, sharp one.) A term on the
    count holds the number density, which the area terms leave free.

    Examples
    --------
    ``measured`` is :func:`measured_labels` of ``x`` where the caller has it already.

    A large particle, a small one and one cut by the border (counting 1/2):

    >>> x = torch.full((1, 1, 48, 48), -0.6)
    >>> x[..., 8:24, 8:24] = 0.8; x[..., 34:38, 34:38] = 0.8; x[..., 30:40, 0:5] = 0.8
    >>> u, n = measured_particles(x.requires_grad_(True))
    >>> sorted(u.unique().tolist()), n.tolist()
    ([0.0, 1.0], [2.5])
    >>> n.sum().backward()
    >>> g = x.grad[0, 0].abs()
    >>> small, large = g[33:39, 33:39], g[7:25, 7:25]   # each with its rim
    >>> bool(small.max() > 3 * large.max())    # per pixel, the small particle is pulled harder
    True
    """
    from scipy import ndimage as ndi

    soft, labels = measured_labels(x, window) if measured is None else measured
    hard, weight, count = [], [], []
    for lab in labels:
        ids, inv, area = np.unique(lab, return_inverse=True, return_counts=True)
        edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        w = np.where(ids == 0, 0.0, np.where(np.isin(ids, edge), 0.5, 1.0))
        per_px = (w / area)[inv.reshape(lab.shape)]
        rim = ndi.grey_dilation(per_px, size=(3, 3))       # each particle's 1-px rim
        hard.append(lab > 0)
        weight.append(np.where(lab > 0, per_px, rim).astype(np.float32))
        count.append(float(w.sum()))
    hard_t = torch.from_numpy(np.stack(hard)[:, None]).to(soft)
    u = hard_t + (soft - soft.detach())
    s = (torch.from_numpy(np.stack(weight)[:, None]).to(soft) * soft).flatten(1).sum(dim=1)
    n = torch.tensor(count).to(s) + (s - s.detach())
    return u, n


def exact_map(x: torch.Tensor, window: int = 7) -> torch.Tensor:
    """The map of :func:`measured_particles`: the particles :func:`shapekit.synth.measure_structure`
    measures in each image of a ``(B, 1, H, W)`` batch in ``[-1, 1]``, as a ``{0, 1}`` map in
    value, with the gradient of :func:`measured_map` (a straight-through estimator).

    Examples
    --------
    >>> x = torch.full((1, 1, 32, 32), -0.6)
    >>> x[..., 8:24, 8:24] = 0.8
    >>> u = exact_map(x.requires_grad_(True))
    >>> sorted(u.unique().tolist()), round(u.mean().item(), 3)   # 256 px less rounded corners
    ([0.0, 1.0], 0.246)
    >>> u.mean().backward(); bool(x.grad.abs().sum() > 0)      # the soft map's gradient
    True
    """
    return measured_particles(x, window)[0]


def particle_map(x: torch.Tensor, kind: str = "half_max", window: int = 0) -> torch.Tensor:
    """The particle map the generator's terms match: :func:`bright_map` (``"half_max"``, with
    ``window``), :func:`measured_map` (``"measure"``, ``window`` 0 meaning 7) or
    :func:`exact_map` (``"exact"``: the measurement's mask, the measured map's gradient).

    Examples
    --------
    >>> x = torch.full((1, 1, 16, 16), -0.6)
    >>> x[..., 4:12, 4:12] = 0.8
    >>> [round(particle_map(x, k).mean().item(), 2) for k in FRACTION_MAPS]  # 0.25 less corners
    [0.24, 0.24, 0.23]
    """
    if kind == "half_max":
        return bright_map(x, window=window)
    if kind == "measure":
        return measured_map(x, window=window if window > 1 else 7)
    if kind == "exact":
        return exact_map(x, window=window if window > 1 else 7)
    raise ValueError(f"unknown fraction map {kind!r}; choose one of {', '.join(FRACTION_MAPS)}")


def crop_statistics(x: torch.Tensor, kind: str = "half_max", window: int = 0, lag: int = 0,
                    count: bool = False,
                    measured: tuple[torch.Tensor, list[np.ndarray]] | None = None
                    ) -> dict[str, torch.Tensor]:
    """What the generator's measurement terms compare, per image of a ``(B, 1, H, W)`` batch in
    ``[-1, 1]``: ``"fraction"`` ``(B,)``, the mean of :func:`particle_map` (``kind``,
    ``window``); with ``lag`` > 0, ``"two_point"`` ``(B, lag + 1)``, its
    :func:`two_point_profile`; with ``count``, ``"count"`` ``(B,)``, the count of
    :func:`measured_particles` (the exact map then serves ``kind="exact"`` too: one measurement
    per image; ``measured``, :func:`measured_labels` of ``x`` where the caller has it).

    Examples
    --------
    >>> x = torch.full((2, 1, 32, 32), -0.6)
    >>> x[..., 4:12, 4:12] = 0.8; x[1, :, 20:28, 20:28] = 0.8    # one particle, then two
    >>> st = crop_statistics(x, "exact", lag=2, count=True)
    >>> sorted(st), st["count"].tolist(), st["two_point"].shape
    (['count', 'fraction', 'two_point'], [1.0, 2.0], torch.Size([2, 3]))
    """
    n = None
    if count or kind == "exact":
        u, n = measured_particles(x, window if window > 1 else 7, measured)
        if kind != "exact":
            u = particle_map(x, kind, window)
        if not count:
            n = None
    else:
        u = particle_map(x, kind, window)
    out = {"fraction": u.flatten(1).mean(dim=1)}
    if lag > 0:
        out["two_point"] = two_point_profile(u, lag)
    if n is not None:
        out["count"] = n
    return out


def two_point_profile(u: torch.Tensor, max_lag: int) -> torch.Tensor:
    """Two-point correlation ``S2(d)``, ``d = 0..max_lag`` px, of each map of a ``(B, 1, H, W)``
    batch: the mean of ``u(p) u(p + d)`` over the pairs inside the image, along rows and along
    columns, averaged (no wrap-around). For an indicator, ``S2(0)`` is the area fraction, and
    ``S2`` falls towards its square over about a particle diameter: it carries the particle size
    that the area fraction alone does not.

    Examples
    --------
    A 16 x 16 square in a 32 x 32 image: ``S2(d) = 16 (16 - d) / (32 (32 - d))``.

    >>> u = torch.zeros(1, 1, 32, 32)
    >>> u[..., 8:24, 8:24] = 1
    >>> two_point_profile(u, 8)[0, [0, 8]].tolist()
    [0.25, 0.1666666716337204]
    """
    if max_lag < 0 or max_lag >= min(u.shape[-2:]):
        raise ValueError(f"max_lag must lie in [0, {min(u.shape[-2:]) - 1}], got {max_lag}")
    u = u.float()
    out = [u.pow(2).flatten(1).mean(dim=1)]
    for d in range(1, max_lag + 1):
        rows = (u[..., :, :-d] * u[..., :, d:]).flatten(1).mean(dim=1)
        cols = (u[..., :-d, :] * u[..., d:, :]).flatten(1).mean(dim=1)
        out.append((rows + cols) / 2)
    return torch.stack(out, dim=1)
