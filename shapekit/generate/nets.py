"""Networks of the conditional GAN: a modulated generator and a projection discriminator.

The generator maps a latent vector ``z`` and a condition (a temper class and, optionally, a vector
of normalised continuous process parameters or properties) to a grey image in ``[-1, 1]``. The
condition is embedded (class embedding + MLP of the continuous values) into a style vector ``w``
that modulates every upsampling block FiLM-style (normalise, then scale and shift per channel).
Per-pixel noise inputs give the stochastic fine texture of a micrograph.

The discriminator is a residual CNN with spectral normalisation on every layer, a minibatch
standard-deviation channel against mode collapse, and a projection head: ``D(x, y, c) = psi(h) + <embed(y), h> + <A c, h>`` with ``h`` the pooled features.
Auxiliary heads on the same features classify the temper and regress the normalised continuous
conditions (AC-GAN), so the generator can be told how far its images are from their condition.

References
----------
.. [1] Perez et al., "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018.
.. [2] Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance
   Normalization", ICCV 2017.
.. [3] Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
.. [4] Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
.. [5] Karras et al., "A Style-Based Generator Architecture for GANs", CVPR 2019 (noise inputs);
   Karras et al., "Progressive Growing of GANs", ICLR 2018 (minibatch standard deviation).
.. [6] Heusel et al., "GANs Trained by a Two Time-Scale Update Rule", NeurIPS 2017 (TTUR).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

__all__ = ["ConditionEncoder", "Generator", "Discriminator", "n_blocks_for", "UPSAMPLE_MODES",
           "LEGACY_UPSAMPLE"]


def n_blocks_for(image_size: int) -> int:
    """Number of 2x up/down-sampling blocks between 4x4 and ``image_size`` (a power of two >= 16).

    Examples
    --------
    >>> n_blocks_for(64)
    4
    """
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(math.log2(image_size)) - 2


def _channels(i: int, base: int, max_ch: int) -> int:
    return min(max_ch, base * 2 ** i)


class ConditionEncoder(nn.Module):
    """Embed ``(label, conditions)`` into one vector: class embedding + MLP of continuous values.

    Parameters
    ----------
    n_classes : int
        Number of temper classes (>= 1).
    n_cond : int
        Number of continuous conditions (0 in ``class`` mode).
    dim : int
        Output dimension.

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


UPSAMPLE_MODES = ("bilinear", "nearest")
#: the upsampling of generators trained before the option existed (their configs omit it)
LEGACY_UPSAMPLE = "nearest"


def _upsample2(x: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """2x upsampling. ``"nearest"`` is a broadcast + reshape (the same values as
    ``F.interpolate(x, scale_factor=2, mode="nearest")``, ~2x faster forward + backward on CPU);
    ``"bilinear"`` interpolates (``align_corners=False``), a low-pass that keeps the 2x2 block
    structure of nearest-neighbour upsampling out of the images (Odena et al., "Deconvolution and
    Checkerboard Artifacts", Distill 2016; StyleGAN2 filters its upsampling for the same reason)."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


class _ModBlock(nn.Module):
    """Upsample x2, two 3x3 convs, each followed by noise, FiLM modulation and LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, upsample: str) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.style1 = nn.Linear(w_dim, 2 * c_out)
        self.style2 = nn.Linear(w_dim, 2 * c_out)
        self.noise1 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.noise2 = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    @staticmethod
    def _modulate(h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # instance-normalise, then per-channel scale/shift from the style vector (AdaIN / FiLM)
        h = F.instance_norm(h, eps=1e-5)
        gamma, beta = style.chunk(2, dim=1)
        return h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = _upsample2(x, self.upsample)
        h = self.conv1(x)
        h = h + self.noise1 * torch.randn_like(h[:, :1])
        h = F.leaky_relu(self._modulate(h, self.style1(w)), 0.2)
        h = self.conv2(h)
        h = h + self.noise2 * torch.randn_like(h[:, :1])
        h = F.leaky_relu(self._modulate(h, self.style2(w)), 0.2)
        return h + self.skip(x)


class Generator(nn.Module):
    """Conditional generator ``G(z, label, cond) -> (B, 1, S, S)`` in ``[-1, 1]``.

    Parameters
    ----------
    image_size : int
        Output side (power of two, 16..512; 64-256 in practice).
    n_classes : int
        Number of temper classes.
    n_cond : int
        Number of continuous (normalised) conditions.
    z_dim : int
        Latent dimension.
    base_channels, max_channels : int
        Channel width at full resolution and its cap at low resolution.
    upsample : {"bilinear", "nearest"}
        Upsampling between blocks. Bilinear (the default) avoids the blocky 2x2/4x4 artefacts
        that nearest-neighbour upsampling leaves in GAN images; ``"nearest"`` is kept for
        generators trained before the option existed.

    Examples
    --------
    >>> g = Generator(32, n_classes=2, n_cond=1, z_dim=16, base_channels=8, max_channels=32)
    >>> g(torch.randn(3, 16), torch.tensor([0, 1, 1]), torch.zeros(3, 1)).shape
    torch.Size([3, 1, 32, 32])
    """

    def __init__(self, image_size: int, n_classes: int, n_cond: int = 0, z_dim: int = 128,
                 base_channels: int = 32, max_channels: int = 256,
                 upsample: str = "bilinear") -> None:
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        nb = n_blocks_for(image_size)
        self.image_size, self.z_dim, self.n_cond = image_size, z_dim, n_cond
        w_dim = z_dim
        self.cond = ConditionEncoder(n_classes, n_cond, w_dim)
        self.mapping = nn.Sequential(nn.Linear(z_dim + w_dim, w_dim), nn.LeakyReLU(0.2),
                                     nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2))
        chans = [_channels(nb - i, base_channels, max_channels) for i in range(nb + 1)]
        self.c0 = chans[0]
        self.stem = nn.Linear(w_dim, chans[0] * 16)
        self.blocks = nn.ModuleList(_ModBlock(chans[i], chans[i + 1], w_dim, upsample)
                                    for i in range(nb))
        self.to_img = nn.Conv2d(chans[-1], 1, 3, padding=1)

    def forward(self, z: torch.Tensor, label: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        e = self.cond(label, cond)
        w = self.mapping(torch.cat([z, e.to(z.dtype)], dim=1))
        h = self.stem(w).view(z.shape[0], self.c0, 4, 4)
        for blk in self.blocks:
            h = blk(h, w)
        return torch.tanh(self.to_img(h))


class _DBlock(nn.Module):
    """Residual downsampling block with spectral-normalised convolutions."""

    def __init__(self, c_in: int, c_out: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv1(h)
        h = self.conv2(F.leaky_relu(h, 0.2))
        h = F.avg_pool2d(h, 2)
        # a 1x1 convolution commutes with average pooling: pool first (4x fewer MACs, same result)
        return h + self.skip(F.avg_pool2d(x, 2))


def _minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean standard deviation of features over groups of the batch (one channel).

    A generator that collapses to one output gives a small value here, which the discriminator
    can detect (Karras et al., "Progressive Growing of GANs", ICLR 2018).
    """
    b, c, hh, ww = h.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = h.float().view(g, b // g, c, hh, ww)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (b // g,)
    y = y.view(1, b // g, 1, 1, 1).expand(g, b // g, 1, hh, ww).reshape(b, 1, hh, ww)
    return torch.cat([h, y.to(h.dtype)], dim=1)


class Discriminator(nn.Module):
    """Projection discriminator with spectral normalisation; returns one logit per image.

    With ``aux=True`` it also returns the outputs of two auxiliary heads on the same pooled
    features: class logits ``(B, n_classes)`` (``None`` for a single class) and a regression of
    the normalised continuous conditions ``(B, n_cond)`` (``None`` in class mode). Trained on real
    images, they tell the generator how far its images are from their requested condition
    (AC-GAN [7]_; its regression form for continuous labels, cf. [8]_).

    Parameters
    ----------
    image_size, n_classes, n_cond, base_channels, max_channels :
        As for :class:`Generator`.
    aux_heads : bool
        Build the auxiliary heads (without them ``aux=True`` returns ``None`` for both).

    References
    ----------
    .. [7] Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
       ICML 2017.
    .. [8] Ding, Wang, Welch, Wang, "CcGAN: Continuous Conditional Generative Adversarial
       Networks for Image Generation", ICLR 2021.

    Examples
    --------
    >>> d = Discriminator(32, n_classes=2, n_cond=1, base_channels=8, max_channels=32)
    >>> d(torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 1]), torch.zeros(3, 1)).shape
    torch.Size([3])
    >>> _, cls, reg = d(torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 1]), torch.zeros(3, 1),
    ...                 aux=True)
    >>> tuple(cls.shape), tuple(reg.shape)
    ((3, 2), (3, 1))
    """

    def __init__(self, image_size: int, n_classes: int, n_cond: int = 0,
                 base_channels: int = 32, max_channels: int = 256,
                 aux_heads: bool = True) -> None:
        super().__init__()
        nb = n_blocks_for(image_size)
        chans = [1] + [_channels(i, base_channels, max_channels) for i in range(nb)]
        self.blocks = nn.Sequential(*[_DBlock(chans[i], chans[i + 1], first=(i == 0))
                                      for i in range(nb)])
        c = chans[-1]
        self.final = spectral_norm(nn.Conv2d(c + 1, c, 3, padding=1))
        self.linear = spectral_norm(nn.Linear(c, 1))
        self.embed = spectral_norm(nn.Embedding(max(1, n_classes), c))
        self.proj = (nn.Sequential(spectral_norm(nn.Linear(n_cond, c)), nn.LeakyReLU(0.2),
                                   spectral_norm(nn.Linear(c, c, bias=False)))
                     if n_cond > 0 else None)
        # auxiliary heads on the mean-pooled features (AC-GAN classifier / condition regressor)
        self.aux_cls = nn.Linear(c, n_classes) if aux_heads and n_classes > 1 else None
        self.aux_reg = (nn.Sequential(nn.Linear(c, c), nn.LeakyReLU(0.2), nn.Linear(c, n_cond))
                        if aux_heads and n_cond > 0 else None)

    def forward(self, x: torch.Tensor, label: torch.Tensor, cond: torch.Tensor | None = None,
                aux: bool = False):
        h = self.blocks(x)
        h = F.leaky_relu(self.final(_minibatch_std(h)), 0.2)
        pooled = h.mean(dim=(2, 3))
        h = h.sum(dim=(2, 3))
        out = self.linear(h).squeeze(1) + (self.embed(label) * h).sum(1)
        if self.proj is not None and cond is not None:
            out = out + (self.proj(cond.to(h.dtype)) * h).sum(1)
        if not aux:
            return out
        cls = self.aux_cls(pooled) if self.aux_cls is not None else None
        reg = self.aux_reg(pooled) if self.aux_reg is not None else None
        return out, cls, reg
