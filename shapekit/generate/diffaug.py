"""Differentiable augmentation (DiffAugment) for grey micrographs.

Every image the discriminator sees, real or generated, in both the D and the G step, goes through
the same random differentiable transform ``T``, so D cannot memorise a small training set and G
still receives gradients through ``T``. Only operations that make physical sense on a grey SEM
image are offered: brightness and contrast (detector gain/offset), translation and cutout. There
is no colour/hue/saturation operation.

Written for shapekit from the description in the paper (no code copied).

References
----------
.. [1] Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
   NeurIPS 2020, arXiv:2006.10738.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["diff_augment", "POLICIES"]


def _brightness(x: torch.Tensor, g: torch.Generator | None, strength: float) -> torch.Tensor:
    shift = (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) - 0.5) * strength
    return x + shift.to(x.dtype)


def _contrast(x: torch.Tensor, g: torch.Generator | None, strength: float) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = 1 + (torch.rand(x.shape[0], 1, 1, 1, generator=g, device=x.device) - 0.5) * strength
    return (x - mean) * factor.to(x.dtype) + mean


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size (integer pixels), reflect-padded."""
    b, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    ty = torch.randint(-sh, sh + 1, (b,), generator=g, device=x.device)
    tx = torch.randint(-sw, sw + 1, (b,), generator=g, device=x.device)
    pad = F.pad(x, (sw, sw, sh, sh), mode="reflect")
    rows = (torch.arange(h, device=x.device)[None, :] + sh - ty[:, None])  # (b, h)
    cols = (torch.arange(w, device=x.device)[None, :] + sw - tx[:, None])  # (b, w)
    idx_r = rows[:, None, :, None].expand(b, x.shape[1], h, pad.shape[3])
    out = pad.gather(2, idx_r)
    idx_c = cols[:, None, None, :].expand(b, x.shape[1], h, w)
    return out.gather(3, idx_c)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float) -> torch.Tensor:
    """Zero (mid-grey in [-1, 1]) a random square of ``ratio`` times the image size per image."""
    b, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    cy = torch.randint(0, h, (b,), generator=g, device=x.device)
    cx = torch.randint(0, w, (b,), generator=g, device=x.device)
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    inside = ((yy - cy[:, None, None]).abs() <= ch // 2) & ((xx - cx[:, None, None]).abs() <= cw // 2)
    return x * (~inside)[:, None].to(x.dtype)


POLICIES = ("brightness", "contrast", "translation", "cutout")


def diff_augment(x: torch.Tensor, policy: str = "brightness,contrast,translation,cutout", *,
                 generator: torch.Generator | None = None, brightness: float = 0.5,
                 contrast: float = 0.5, translation: float = 0.125,
                 cutout: float = 0.5) -> torch.Tensor:
    """Apply the comma-separated ``policy`` to a batch ``(B, C, H, W)`` in ``[-1, 1]``.

    Parameters
    ----------
    x : torch.Tensor
        Batch of images (real or generated); gradients flow through.
    policy : str
        Any of ``brightness``, ``contrast``, ``translation``, ``cutout`` separated by commas;
        ``""`` returns ``x`` unchanged.
    generator : torch.Generator, optional
        Source of randomness (for reproducible augmentation).
    brightness, contrast, translation, cutout : float
        Strengths: brightness shift range, contrast factor range around 1, maximal shift and
        cutout side as fractions of the image size.

    Returns
    -------
    torch.Tensor
        Augmented batch of the same shape.

    Examples
    --------
    >>> x = torch.zeros(2, 1, 8, 8, requires_grad=True)
    >>> y = diff_augment(x, "translation,cutout", generator=torch.Generator().manual_seed(0))
    >>> y.shape, y.requires_grad
    (torch.Size([2, 1, 8, 8]), True)
    """
    ops = [p.strip() for p in policy.split(",") if p.strip()]
    for op in ops:
        if op == "brightness":
            x = _brightness(x, generator, brightness)
        elif op == "contrast":
            x = _contrast(x, generator, contrast)
        elif op == "translation":
            x = _translation(x, generator, translation)
        elif op == "cutout":
            x = _cutout(x, generator, cutout)
        else:
            raise ValueError(f"unknown DiffAugment op {op!r}; choose from {', '.join(POLICIES)}")
    return x
