"""Small torch image operations shared by the torch models (generator losses, CNN augmentation)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["gaussian_blur"]


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None) -> torch.Tensor:
    """Separable Gaussian blur of a ``(B, C, H, W)`` batch (kernel radius ``radius``, default
    ``round(3 sigma)``; reflecting border, OpenCV's default, or the edge pixel repeated where a
    side is not longer than the radius), differentiable.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1.0
    >>> y = gaussian_blur(x, 1.0)
    >>> round(float(y.sum()), 4), bool(y[0, 0, 4, 4] < 1)
    (1.0, True)
    """
    r = max(1, int(round(3 * sigma))) if radius is None else int(radius)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]  # each channel on its own
    h, w = x.shape[-2:]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect" if w > r else "replicate"),
                 k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect" if h > r else "replicate"),
                    k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
