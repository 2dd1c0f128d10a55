"""Grey levels matched to a reference's through a smooth increasing curve (a tone curve taken out).

A microscope session, a detector setting or a generator's output layer applies its own increasing
grey-level curve (gamma, saturation, an S-shaped contrast curve) on top of brightness and
contrast. :func:`match_grey_levels` maps an image's grey levels onto a reference's quantiles
through the increasing cubic that fits them best: a smooth curve like these is taken out, while a
narrow range of grey levels holding many pixels (the inside of a phase) cannot be stretched much,
as a rank transform (histogram equalisation) would. Used by
:func:`shapekit.realism.structure.structure_image` with the quantiles of
:func:`shapekit.realism.structure.reference_quantiles`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["match_grey_levels", "quantile_levels", "N_QUANTILES", "CURVE_DEGREE"]

#: quantiles of the reference's grey levels that :func:`match_grey_levels` maps onto
N_QUANTILES = 100
#: degree of the grey-level curve (a cubic: an S-shaped tone curve has one inflection)
CURVE_DEGREE = 3


def quantile_levels() -> np.ndarray:
    """The probabilities of the :data:`N_QUANTILES` quantiles: ``(k + 0.5) / N``.

    Examples
    --------
    >>> p = quantile_levels(); len(p), float(p[0]), float(p[-1])
    (100, 0.005, 0.995)
    """
    return (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES


def match_grey_levels(z: np.ndarray, target: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Map a standardised image through the increasing cubic that best takes its quantiles to ``target``.

    Least squares between the image's :data:`N_QUANTILES` quantiles and ``target``
    (:func:`reference_quantiles`), of degree :data:`CURVE_DEGREE` or, where that curve is not
    increasing between the image's first and last of those quantiles, the highest lower degree
    that is. Beyond them (0.5 % of the pixels at each end, where the curve has no data) it goes
    on as a straight line with the slope it ends with. The result is z-scored; a constant image
    is returned as it is.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> def zs(x): return (x - x.mean()) / x.std()
    >>> target = np.quantile(zs(a), (np.arange(100) + 0.5) / 100)
    >>> [round(float(np.abs(zs(a ** g) - zs(a)).mean()), 3) for g in (0.6, 1.5)]      # gamma, z-scored
    [0.126, 0.122]
    >>> [round(float(np.abs(match_grey_levels(zs(a ** g), target) - zs(a)).mean()), 3) for g in (0.6, 1.5)]
    [0.001, 0.024]
    """
    from shapekit.topology.preprocessing import standardize

    poly = np.polynomial.polynomial
    z = np.asarray(z, dtype=np.float32)
    q = np.quantile(z, quantile_levels())
    if q[-1] - q[0] < 1e-6:
        return z
    lo, hi = float(q[0]), float(q[-1])
    grid = np.linspace(lo, hi, 65)
    for degree in range(min(CURVE_DEGREE, len(np.unique(q)) - 1), 0, -1):
        c = poly.polyfit(q, np.asarray(target, dtype=np.float64), degree)
        dc = poly.polyder(c)
        if (poly.polyval(grid, dc) > 0).all():
            x = np.clip(z, lo, hi)
            y = poly.polyval(x, c) + (z - x) * np.where(z < lo, poly.polyval(lo, dc), poly.polyval(hi, dc))
            return standardize(y.astype(np.float32))
    return z
