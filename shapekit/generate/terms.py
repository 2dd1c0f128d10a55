"""Differentiable structure statistics that the generator's loss terms match per condition.

:func:`bright_fraction` (the phase-fraction term, ``fraction_weight``) and
:func:`two_point_profile` of :func:`bright_map` (the two-point term, ``two_point_weight``) draw
particles as :func:`shapekit.synth.measure_structure` does, so that what the generator is held to
is what the evaluation measures. The references are those of :mod:`shapekit.generate.module`.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from shapekit._torchops import gaussian_blur

__all__ = ["bright_fraction", "bright_map", "two_point_profile", "check_window",
           "FRACTION_SOFTNESS", "FRACTION_SMOOTH_SIGMA"]

#: width of the soft threshold of :func:`bright_fraction`, relative to the particle contrast
FRACTION_SOFTNESS = 0.05
#: Gaussian pre-smoothing of :func:`bright_fraction` (px), as in shapekit.synth.measure_structure
FRACTION_SMOOTH_SIGMA = 1.0


def check_window(window: int) -> None:
    """Refuse an even ``window`` (a centred neighbourhood needs an odd side; 0 or 1: none)."""
    if window > 1 and window % 2 == 0:
        raise ValueError(f"the fraction window must be 0 or odd (a centred neighbourhood), "
                         f"got {window}")


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
