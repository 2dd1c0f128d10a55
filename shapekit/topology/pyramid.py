"""The temper classifier's image pyramid: z-score, crop-and-area-average, smooth, re-z-score, PH.

The preprocessing convention behind :mod:`shapekit.temper.features` (and so behind every saved
temper model), as functions of the topology core: per tile, z-score at full resolution
(:func:`standardize`), then at each scale area-average by ``s`` x ``s`` pixels after cropping to
a multiple of ``s`` and Gaussian-smooth in pixels *of that scale* (:func:`rescale`), optionally
z-score again, and take the sublevel and superlevel cubical persistence diagrams
(:func:`pyramid_diagrams`).  :func:`shapekit.topology.blocks.preprocess` is the other convention,
used by :class:`~shapekit.topology.TopTempFeaturizer` (smoothing at full resolution, one
z-scoring); both feed the same PH and the same batched vectorisation.

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   Precipitate Structure from Temper Topology", arXiv:2204.00629, 2022.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shapekit.errors import InputError
from shapekit.topology.persistence import cubical_persistence

__all__ = ["FILTRATIONS", "standardize", "rescale", "pyramid_diagrams"]

FILTRATIONS = ("sublevel", "superlevel")


def standardize(tile: np.ndarray) -> np.ndarray:
    """Z-score a tile (a constant tile becomes all zeros); NaN/Inf raise :class:`InputError`.

    Examples
    --------
    >>> z = standardize(np.array([[0., 1.], [2., 3.]]))
    >>> round(float(z.mean()), 6), round(float(z.std()), 6)
    (0.0, 1.0)
    >>> standardize(np.ones((2, 2))).tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    t = np.asarray(tile, dtype=np.float32)
    if not np.isfinite(t).all():
        raise InputError("image contains NaN or Inf values")
    sd = float(t.std())
    if sd < 1e-6:
        return np.zeros_like(t)
    return (t - float(t.mean())) / sd


def rescale(z: np.ndarray, scale: int, smooth: float = 0.0) -> np.ndarray:
    """Area-average ``z`` by ``scale`` x ``scale`` pixels, then Gaussian-smooth by ``smooth`` px.

    Examples
    --------
    >>> rescale(np.ones((8, 6), np.float32), 2).shape
    (4, 3)
    """
    import cv2
    from scipy.ndimage import gaussian_filter

    out = z
    if scale > 1:
        h, w = z.shape[0] // scale, z.shape[1] // scale
        if h < 2 or w < 2:
            raise InputError(f"tile of {z.shape[0]}x{z.shape[1]} px is too small for scale {scale}")
        out = cv2.resize(z[:h * scale, :w * scale], (w, h), interpolation=cv2.INTER_AREA)
    if smooth > 0:
        out = gaussian_filter(out, smooth, mode="reflect")
    return np.ascontiguousarray(out, dtype=np.float32)


def pyramid_diagrams(tile: np.ndarray, scales: Sequence[int], smooth: float,
                     min_persistence: float, restandardize: bool) -> list[np.ndarray]:
    """Diagrams of one tile in block order: for each scale, filtration, dimension (0, 1).

    Examples
    --------
    >>> d = pyramid_diagrams(np.random.default_rng(0).random((16, 16)), (1, 2), 0.0, 0.0, False)
    >>> len(d), d[0].shape[1]
    (8, 2)
    """
    z = standardize(tile)
    if z.ndim != 2:
        raise InputError(f"a tile must be 2-D, got shape {z.shape}")
    out: list[np.ndarray] = []
    for s in scales:
        a = rescale(z, int(s), smooth)
        if restandardize:
            a = standardize(a)
        for filt in FILTRATIONS:
            dg = cubical_persistence(a, filt, dims=(0, 1), min_persistence=min_persistence)
            out += [dg[0], dg[1]]
    return out
