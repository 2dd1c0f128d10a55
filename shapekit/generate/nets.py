"""The generator of the conditional GAN: fully convolutional over a spatial latent map.

Micrographs are stationary textures, so the generator is fully convolutional (the idea of the
spatial GANs SGAN, PSGAN and SliceGAN [1]_ [2]_ [3]_): its input is a latent **map** of
``z_local`` channels on a coarse grid, one cell per ``period`` output pixels, and the extent of
that map sets the output size. A 64-px training crop and a 1024x768 micrograph come from the same
weights. A **global** latent vector (PSGAN's global component) and the condition (a temper class
and, optionally, normalised continuous process parameters or properties) are mapped to a style
vector ``w`` that is injected at every position: concatenated to the latent map at the input, and
as a per-channel scale and shift (FiLM [4]_) after every convolution. ``w`` selects what one
micrograph has in common everywhere (the condition, the detector contrast, the look of one
sample); the local map places the features. Per-pixel noise inputs [5]_ give the fine texture.

Everything is local, so nothing depends on the output size: normalisation is per pixel over
channels (pixel norm [6]_, never over the image), upsampling is bilinear (no 2x2 block
structure [7]_), padding replicates the edge (no zero border that the network could use to find
the image edge and draw a frame), and :func:`generate_field` produces a margin of latent cells
around the requested field and crops it away, so an image's edge pixels are computed like its
interior ones. That holds exactly when the margin spans the network's reach on the latent grid
(:func:`reach_cells`: 6 cells for the default network, whose trained pixels draw 92 %, 98.9 % and
99.99 % of their sensitivity from within 3, 4 and 5 cells). With the one-cell margin of the first
models, pixels near an image's edge still saw replicated edge cells: a simulator model's
128-px fields measured 0.002-0.003 off in phase fraction from the same windows inside 256-px
fields, so a constraint met on border-heavy training crops need not hold on whole images
(RESULTS.md section 6). New models use the full reach, and :func:`generate_field` then cuts every
feature map down after each stage to what the field still depends on: a training step costs 1.14x
(128-px crops) to 1.36x (64 px) what the one-cell margin did, against 1.6x to 2.5x for a plain
4-cell margin (``benchmarks/gan_step_profile.py --margin-study``). A model's margin is part of its
export (``net["margin"]``; 1 when absent).

The discriminator is in :mod:`shapekit.generate.discriminator`.

References
----------
.. [1] Jetchev, Bergmann, Vollgraf, "Texture Synthesis with Spatial Generative Adversarial
   Networks", arXiv:1611.08207 (SGAN).
.. [2] Bergmann, Jetchev, Vollgraf, "Learning Texture Manifolds with the Periodic Spatial GAN",
   ICML 2017 (PSGAN: local, global and periodic latent components).
.. [3] Kench, Cooper, "Generating three-dimensional structures from a two-dimensional slice with
   generative adversarial network-based dimensionality expansion", Nat. Mach. Intell. 3, 299
   (2021) (SliceGAN: microstructures of any size from a fully convolutional generator).
.. [4] Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018.
.. [5] Karras, Laine, Aila, "A Style-Based Generator Architecture for GANs", CVPR 2019.
.. [6] Karras et al., "Progressive Growing of GANs", ICLR 2018 (pixel norm).
.. [7] Odena, Dumoulin, Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shapekit.generate.detector import ShotNoise

__all__ = ["ConditionEncoder", "Generator", "generator_channels", "cells_for", "generate_field",
           "reach_cells", "to_unit", "MARGIN_CELLS"]

#: latent cells generated beyond each side of a requested field and cropped away by models whose
#: export names no margin (the first models); new models use :func:`reach_cells`
MARGIN_CELLS = 1


def reach_cells(base_convs: int = 2, n_blocks: int = 3) -> int:
    """Latent cells beyond a field that its pixels can depend on (an upper bound), and the margin
    of new generators.

    Counted backwards from the output: one pixel for the output convolution; per upsampling block,
    two for its convolutions and one for the bilinear interpolation's clamped edge, halved to the
    coarser grid (rounded up); then one cell per base convolution and one for the stem.

    Examples
    --------
    >>> reach_cells(2, 3)  # the default network
    6
    """
    needs = _stage_needs(n_blocks)
    return needs[0] + int(base_convs) + 1


def _stage_needs(n_blocks: int) -> list[int]:
    """Pixels beyond the field that later stages still need, after the base convolutions and
    after each upsampling block (on that stage's grid)."""
    needs = [1]  # after the last block: the output convolution
    for _ in range(int(n_blocks)):
        needs.insert(0, math.ceil((needs[0] + 3) / 2))
    return needs


def generator_channels(base: int, n_up: int = 3) -> list[int]:
    """Generator widths from the latent grid (widest) to full resolution (``base``).

    Examples
    --------
    >>> generator_channels(16)
    [64, 48, 32, 16]
    """
    if base < 1 or n_up < 1:
        raise ValueError(f"base channels and n_up must be >= 1, got {base}, {n_up}")
    return [int(round(base * (1 + 3 * (n_up - i) / n_up))) for i in range(n_up + 1)]


class ConditionEncoder(nn.Module):
    """Embed ``(label, conditions)`` into one vector: class embedding + MLP of continuous values.

    Examples
    --------
    >>> enc = ConditionEncoder(3, 2, 16)
    >>> enc(torch.tensor([0, 2]), torch.zeros(2, 2)).shape
    torch.Size([2, 16])
    """

    def __init__(self, n_classes: int, n_cond: int, dim: int) -> None:
        super().__init__()
        self.n_cond = int(n_cond)
        self.embed = nn.Embedding(max(1, n_classes), dim)
        self.mlp = (nn.Sequential(nn.Linear(n_cond, dim), nn.LeakyReLU(0.2), nn.Linear(dim, dim))
                    if n_cond > 0 else None)

    def forward(self, label: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        e = self.embed(label)
        if self.mlp is not None:
            if cond is None:
                raise ValueError("continuous conditions required")
            e = e + self.mlp(cond.to(e.dtype))
        return e


def _pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class _ModConv(nn.Module):
    """3x3 convolution (edge-replicating padding), noise, pixel norm, FiLM from ``w``, LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="replicate")
        self.style = nn.Linear(w_dim, 2 * c_out)
        self.noise = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = h + self.noise * torch.randn_like(h[:, :1])
        gamma, beta = self.style(w).chunk(2, dim=1)
        h = _pixel_norm(h) * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return F.leaky_relu(h, 0.2)


class _UpBlock(nn.Module):
    """Bilinear 2x upsampling, two modulated convolutions, a 1x1 residual path."""

    def __init__(self, c_in: int, c_out: int, w_dim: int) -> None:
        super().__init__()
        self.conv1 = _ModConv(c_in, c_out, w_dim)
        self.conv2 = _ModConv(c_out, c_out, w_dim)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv2(self.conv1(x, w), w) + self.skip(x)


class Generator(nn.Module):
    """Conditional generator ``G(z_map, z_global, label, cond) -> (B, 1, period*h, period*w)``.

    Parameters
    ----------
    n_classes : int
        Number of temper classes.
    n_cond : int
        Number of continuous (normalised) conditions.
    z_local, z_global : int
        Channels of the latent map and length of the global latent vector.
    w_dim : int
        Length of the style vector (condition + global latent).
    channels : sequence of int
        Widths from the latent grid to full resolution; ``len(channels) - 1`` bilinear 2x
        upsampling blocks, so one latent cell spans ``period = 2 ** (len(channels) - 1)`` pixels.
    base_convs : int
        Modulated convolutions on the latent grid before upsampling (they mix neighbouring cells).
    margin : int or None
        Latent cells per side that :func:`generate_field` generates beyond a requested field and
        crops away (None: :func:`reach_cells`, so that a field is computed exactly as the
        interior of any larger one, and :func:`generate_field` then cuts the feature maps down
        stage by stage to keep the cost low; the default 1 is what exports without a margin were
        trained with).
    detector : bool
        End with a detector (:class:`~shapekit.generate.detector.ShotNoise`): the network draws
        the mean signal and per-image shot and read noise is drawn on it (exports without the
        key have none).

    Examples
    --------
    >>> g = Generator(2, n_cond=1, z_local=4, z_global=8, w_dim=16, channels=[16, 8, 8])
    >>> g.period
    4
    >>> zl, zg = g.latents(3, (5, 6))
    >>> g(zl, zg, torch.tensor([0, 1, 1]), torch.zeros(3, 1)).shape
    torch.Size([3, 1, 20, 24])
    """

    def __init__(self, n_classes: int, n_cond: int = 0, z_local: int = 8, z_global: int = 32,
                 w_dim: int = 64, channels: list[int] | tuple[int, ...] = (64, 48, 32, 16),
                 base_convs: int = 2, margin: int | None = MARGIN_CELLS,
                 detector: bool = False) -> None:
        super().__init__()
        chans = [int(c) for c in channels]
        if len(chans) < 2 or min(chans) < 1:
            raise ValueError(f"channels needs >= 2 positive widths, got {channels}")
        self.n_classes, self.n_cond = int(n_classes), int(n_cond)
        self.z_local, self.z_global, self.w_dim = int(z_local), int(z_global), int(w_dim)
        self.period = 2 ** (len(chans) - 1)
        self.channels, self.base_convs = chans, int(base_convs)
        self.reach = reach_cells(base_convs, len(chans) - 1)
        self._needs = _stage_needs(len(chans) - 1)
        self.margin = self.reach if margin is None else int(margin)
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0 latent cells, got {margin}")
        self.cond = ConditionEncoder(n_classes, n_cond, w_dim)
        self.mapping = nn.Sequential(nn.Linear(z_global + w_dim, w_dim), nn.LeakyReLU(0.2),
                                     nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2))
        self.stem = nn.Conv2d(z_local + w_dim, chans[0], 3, padding=1, padding_mode="replicate")
        self.base = nn.ModuleList(_ModConv(chans[0], chans[0], w_dim) for _ in range(base_convs))
        self.blocks = nn.ModuleList(_UpBlock(chans[i], chans[i + 1], w_dim)
                                    for i in range(len(chans) - 1))
        self.to_img = nn.Conv2d(chans[-1], 1, 3, padding=1, padding_mode="replicate")
        self.detector = ShotNoise(w_dim) if detector else None

    def config(self) -> dict[str, object]:
        """Constructor arguments (what an export stores to rebuild the network)."""
        return {"n_classes": self.n_classes, "n_cond": self.n_cond, "z_local": self.z_local,
                "z_global": self.z_global, "w_dim": self.w_dim, "channels": list(self.channels),
                "base_convs": self.base_convs, "margin": self.margin,
                "detector": self.detector is not None}

    def field_cells(self, size: tuple[int, int]) -> tuple[int, int]:
        """Latent cells of a ``size = (height, width)`` field with this generator's margin (what
        :func:`generate_field` expects)."""
        return cells_for(size, self.period, self.margin)

    def largest_map(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the largest feature map that one image of ``size =
        (height, width)`` passes through (the last block's upsampled input, margins included):
        what a caller checks against the pixel budget before generating.

        Examples
        --------
        >>> g = Generator(1, channels=[64, 48, 32, 16], margin=None)
        >>> g.largest_map((1024, 1024))  # 32 channels at full resolution, 6 latent cells a side
        (32, 1120, 1120)
        """
        rows, cols = (c * self.period for c in self.field_cells(size))
        stages = [(self.channels[0], rows // self.period, cols // self.period)]
        for i in range(len(self.channels) - 1):  # each block's upsampled input
            f = 2 ** (len(self.channels) - 2 - i)
            stages.append((self.channels[i], rows // f, cols // f))
        return max(stages, key=lambda s: s[0] * s[1] * s[2])

    def latents(self, n: int, cells: tuple[int, int],
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Standard-normal latent map ``(n, z_local, *cells)`` and global latent ``(n, z_global)``."""
        zg = torch.randn(n, self.z_global, generator=generator)
        zl = torch.randn(n, self.z_local, int(cells[0]), int(cells[1]), generator=generator)
        return zl, zg

    def style(self, z_global: torch.Tensor, label: torch.Tensor,
              cond: torch.Tensor | None = None) -> torch.Tensor:
        """Style vector ``w`` of each image (condition + global latent)."""
        e = self.cond(label, cond)
        return self.mapping(torch.cat([z_global, e.to(z_global.dtype)], dim=1))

    def forward(self, z_map: torch.Tensor, z_global: torch.Tensor, label: torch.Tensor,
                cond: torch.Tensor | None = None,
                field: tuple[int, int, int, int] | None = None) -> torch.Tensor:
        """Images ``(B, 1, period * rows, period * cols)`` of the latent map; with ``field =
        (top, left, rows, cols)`` (latent cells), only those cells' pixels, with every feature map
        cut down after each stage to what the field still depends on (the field needs
        :attr:`reach` cells of ``z_map`` around it)."""
        w = self.style(z_global, label, cond)
        b, _, h, wd = z_map.shape
        x = torch.cat([z_map, w[:, :, None, None].expand(b, w.shape[1], h, wd).to(z_map.dtype)],
                      dim=1)
        x = F.leaky_relu(self.stem(x), 0.2)
        for layer in self.base:
            x = layer(x, w)
        box = list(field) if field is not None else None
        if box is not None:
            if min(box[0], box[1], h - box[0] - box[2], wd - box[1] - box[3]) < self.reach:
                raise ValueError(f"field {field} lies closer than {self.reach} cells to the edge "
                                 f"of a {h}x{wd} latent map")
            x = _cut(x, box, self._needs[0])
        for blk, need in zip(self.blocks, self._needs[1:]):
            x = blk(x, w)
            if box is not None:
                box = [2 * v for v in box]
                x = _cut(x, box, need)
        x = torch.tanh(self.to_img(x))
        if box is not None:
            x = x[:, :, box[0]:box[0] + box[2], box[1]:box[1] + box[3]]
        return x if self.detector is None else self.detector(x, w)


def _cut(x: torch.Tensor, box: list[int], need: int) -> torch.Tensor:
    """Keep the ``box = [top, left, height, width]`` of ``x`` plus ``need`` pixels around it;
    ``box`` is moved into the kept map's coordinates."""
    top, left, h, w = box
    box[0] = box[1] = need
    return x[:, :, top - need:top + h + need, left - need:left + w + need]


def cells_for(size: tuple[int, int], period: int, margin: int = MARGIN_CELLS) -> tuple[int, int]:
    """Latent cells that cover ``size = (height, width)`` pixels plus ``margin`` cells per side.

    Examples
    --------
    >>> cells_for((512, 100), 8)
    (66, 15)
    """
    return tuple(math.ceil(int(s) / period) + 2 * margin for s in size)  # type: ignore[return-value]


def generate_field(g: Generator, z_map: torch.Tensor, z_global: torch.Tensor, label: torch.Tensor,
                   cond: torch.Tensor | None, size: tuple[int, int],
                   margin: int | None = None) -> torch.Tensor:
    """Run ``g`` on a latent map with ``margin`` extra cells per side (default ``g.margin``; the
    map comes from ``g.field_cells(size)``) and crop the centre ``size``.

    Examples
    --------
    >>> g = Generator(1, z_local=2, z_global=4, w_dim=8, channels=[8, 4])
    >>> zl, zg = g.latents(1, g.field_cells((10, 7)))
    >>> generate_field(g, zl, zg, torch.tensor([0]), None, (10, 7)).shape
    torch.Size([1, 1, 10, 7])
    """
    margin = g.margin if margin is None else margin
    if margin >= g.reach:  # exact: cut the feature maps down as the field's reach shrinks
        cells = [math.ceil(int(s) / g.period) for s in size]
        r0, c0 = ((n - c) // 2 for n, c in zip(z_map.shape[2:], cells))
        x = g(z_map, z_global, label, cond, field=(r0, c0, *cells))
        top, left = ((n - int(s)) // 2 for n, s in zip(x.shape[2:], size))
        return x[:, :, top:top + int(size[0]), left:left + int(size[1])]
    x = g(z_map, z_global, label, cond)
    top = (x.shape[2] - int(size[0])) // 2 if margin else 0
    left = (x.shape[3] - int(size[1])) // 2 if margin else 0
    return x[:, :, top:top + int(size[0]), left:left + int(size[1])]


def to_unit(x: torch.Tensor) -> np.ndarray:
    """Map a generator batch ``(B, 1, H, W)`` in ``[-1, 1]`` to float32 ``(B, H, W)`` in ``[0, 1]``.

    Examples
    --------
    >>> to_unit(torch.tensor([[[[-1.0, 1.0]]]])).tolist()
    [[[0.0, 1.0]]]
    """
    return ((x.detach().float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy().astype(np.float32)
