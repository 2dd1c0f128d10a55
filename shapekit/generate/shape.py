"""Particle shape as the measurement sees it, with a gradient for the generator's terms.

:func:`measured_elongation` gives each image's mean particle elongation (major over minor axis of
the particles :func:`shapekit.synth.measure_structure` measures) in value, and a gradient through
the soft measured map of :mod:`shapekit.generate.terms` (a straight-through estimator, as
:func:`~shapekit.generate.terms.measured_particles` does for the map and the count). A term on it
holds generated particles to the real particles' roundness, which the area and count terms leave
free: a generator can meet a fraction and a count with streaks as well as with round particles.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from shapekit.generate.terms import measured_labels

__all__ = ["measured_elongation"]

#: particles smaller than this (px) have no meaningful axes and are left out
MIN_SHAPE_PX = 6


def measured_elongation(x: torch.Tensor, window: int = 7, min_px: int = MIN_SHAPE_PX,
                        measured: tuple[torch.Tensor, list[np.ndarray]] | None = None
                        ) -> torch.Tensor:
    """Mean elongation ``sqrt(l1 / l2)`` of the measured particles of each image of a
    ``(B, 1, H, W)`` batch in ``[-1, 1]``: ``(B,)``, NaN where an image has none to measure.

    ``l1 >= l2`` are the eigenvalues of a particle's second central moments (its inertia
    tensor), so the value is :func:`skimage.measure.regionprops`' ``major_axis_length /
    minor_axis_length`` of the particles of :func:`shapekit.synth.particle_labels`: 1 for a disc
    or a square, ``a / b`` for an ``a x b`` rectangle. Each particle of at least ``min_px``
    pixels that does not touch the image border weighs once in the mean (a cut particle's axes
    are the cut's). The gradient is that of the same moments taken with the soft measured map
    (:func:`~shapekit.generate.terms.measured_map`, ``window``) as pixel weights over each
    particle and its 1-px rim: a streak is pulled towards a round particle by shifting its
    pixels' weights, not by moving a threshold. ``measured`` is
    :func:`~shapekit.generate.terms.measured_labels` of ``x`` where the caller has it (the count
    term measures the same crops).

    Examples
    --------
    A square and an 18 x 6 rectangle: elongations 1 and 3 (less the measurement's rounded
    corners), mean 2.

    >>> x = torch.full((1, 1, 48, 48), -0.6)
    >>> x[..., 6:16, 6:16] = 0.8; x[..., 30:36, 10:28] = 0.8
    >>> e = measured_elongation(x.requires_grad_(True))
    >>> round(e.item(), 1)
    2.0
    >>> e.sum().backward(); bool(x.grad.abs().sum() > 0)
    True
    >>> measured_elongation(torch.full((1, 1, 16, 16), -0.6)).isnan().tolist()   # no particle
    [True]
    """
    soft, labels = measured_labels(x, window) if measured is None else measured
    soft = soft[:, 0]
    h, w = soft.shape[-2:]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=soft.dtype, device=soft.device),
                            torch.arange(w, dtype=soft.dtype, device=soft.device), indexing="ij")
    out = []
    for i, lab in enumerate(labels):
        ids, area = np.unique(lab[lab > 0], return_counts=True)
        edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        keep = ids[(area >= min_px) & ~np.isin(ids, edge)]
        if len(keep) == 0:
            out.append(torch.full((), float("nan"), dtype=soft.dtype, device=soft.device))
            continue
        grown = ndi.grey_dilation(lab, size=(3, 3))       # each particle with its 1-px rim
        grown[lab > 0] = lab[lab > 0]
        remap = np.zeros(int(lab.max()) + 1, np.int64)
        remap[keep] = np.arange(1, len(keep) + 1)
        g = torch.from_numpy(remap[grown].ravel()).to(soft.device)
        hard = torch.from_numpy(lab > 0).to(soft)
        u = (hard + soft[i] - soft[i].detach()).ravel()   # the mask in value, soft in gradient
        sel = g > 0
        k, uu, px, py = g[sel] - 1, u[sel], xx.ravel()[sel], yy.ravel()[sel]

        def total(v: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(keep), dtype=soft.dtype, device=soft.device).index_add(0, k, v)

        m = total(uu).clamp_min(1e-6)
        dx, dy = px - (total(uu * px) / m)[k], py - (total(uu * py) / m)[k]
        sxx, syy, sxy = total(uu * dx * dx) / m, total(uu * dy * dy) / m, total(uu * dx * dy) / m
        half_tr = (sxx + syy) / 2
        disc = (half_tr ** 2 - (sxx * syy - sxy ** 2)).clamp_min(0).add(1e-8).sqrt()
        l1, l2 = half_tr + disc, (half_tr - disc).clamp_min(1e-3)
        out.append((l1 / l2).sqrt().mean())
    return torch.stack(out)
