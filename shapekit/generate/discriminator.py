"""The discriminator of the conditional GAN: a residual patch discriminator with projection
conditioning and auxiliary heads.

A residual CNN with spectral normalisation [1]_ on every layer, a minibatch standard-deviation
channel [3]_ and a **patch** output: one logit per position of a coarse map, each seeing a ~50-px
patch, ``D(x, y, c)[p] = psi(h_p) + <embed(y), h_p> + <A c, h_p>`` (projection discriminator [2]_
applied per position). Auxiliary heads on the pooled features classify the temper and regress the
normalised continuous conditions (AC-GAN [4]_), so the generator can be told how far its images
are from their condition. The generator is in :mod:`shapekit.generate.nets`.

References
----------
.. [1] Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
.. [2] Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
.. [3] Karras et al., "Progressive Growing of GANs", ICLR 2018 (minibatch std).
.. [4] Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
   ICML 2017; Ding et al., "CcGAN", ICLR 2021 (regression for continuous labels).
.. [5] Gong et al., "Twin Auxiliary Classifiers GAN", NeurIPS 2019.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

__all__ = ["Discriminator", "discriminator_channels"]


def discriminator_channels(base: int, n_down: int = 3) -> list[int]:
    """Discriminator widths after each 2x downsampling block.

    Examples
    --------
    >>> discriminator_channels(16)
    [16, 32, 64]
    """
    return [base * min(4, 2 ** i) for i in range(n_down)]


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
    """Append the mean standard deviation of features over groups of the batch (one channel)."""
    b, c, hh, ww = h.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = h.float().view(g, b // g, c, hh, ww)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (b // g,)
    y = y.view(1, b // g, 1, 1, 1).expand(g, b // g, 1, hh, ww).reshape(b, 1, hh, ww)
    return torch.cat([h, y.to(h.dtype)], dim=1)


class Discriminator(nn.Module):
    """Patch discriminator with projection conditioning; returns a logit map ``(B, h, w)``.

    With ``aux=True`` it also returns two auxiliary heads on the mean-pooled features: class
    logits ``(B, n_classes)`` (``None`` for one class) and a regression of the normalised
    continuous conditions ``(B, n_cond)`` (``None`` in class mode). With a twin classifier
    (``twin=True``, TAC-GAN [5]_) a fourth: the class logits of a second head that learns the
    classes of *generated* images.

    Parameters
    ----------
    n_classes, n_cond : int
        As for :class:`Generator`.
    channels : sequence of int
        Width after each 2x downsampling block (the logit map is ``input / 2**len(channels)``).
    aux_heads : bool
        Build the auxiliary heads (without them ``aux=True`` returns ``None`` for both).
    twin : bool
        Also build the twin class head (needs ``aux_heads`` and two classes or more).

    Examples
    --------
    >>> d = Discriminator(2, n_cond=1, channels=[8, 16, 16])
    >>> d(torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 1]), torch.zeros(3, 1)).shape
    torch.Size([3, 4, 4])
    >>> _, cls, reg = d(torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 1]), torch.zeros(3, 1),
    ...                 aux=True)
    >>> tuple(cls.shape), tuple(reg.shape)
    ((3, 2), (3, 1))
    >>> t = Discriminator(2, channels=[8, 16], twin=True)
    >>> outs = t(torch.randn(3, 1, 32, 32), torch.tensor([0, 1, 1]), aux=True)
    >>> [tuple(v.shape) for v in outs[1::2]]   # class logits and the twin's
    [(3, 2), (3, 2)]
    """

    def __init__(self, n_classes: int, n_cond: int = 0,
                 channels: list[int] | tuple[int, ...] = (16, 32, 64),
                 aux_heads: bool = True, twin: bool = False) -> None:
        super().__init__()
        if twin and not (aux_heads and n_classes > 1):
            raise ValueError("a twin auxiliary classifier needs the auxiliary heads "
                             "(aux_weight > 0) and two classes or more")
        chans = [1] + [int(c) for c in channels]
        self.blocks = nn.Sequential(*[_DBlock(chans[i], chans[i + 1], first=(i == 0))
                                      for i in range(len(chans) - 1)])
        c = chans[-1]
        self.final = spectral_norm(nn.Conv2d(c + 1, c, 3, padding=1))
        self.linear = spectral_norm(nn.Conv2d(c, 1, 1))
        self.embed = spectral_norm(nn.Embedding(max(1, n_classes), c))
        self.proj = (nn.Sequential(spectral_norm(nn.Linear(n_cond, c)), nn.LeakyReLU(0.2),
                                   spectral_norm(nn.Linear(c, c, bias=False)))
                     if n_cond > 0 else None)
        self.aux_cls = nn.Linear(c, n_classes) if aux_heads and n_classes > 1 else None
        self.aux_reg = (nn.Sequential(nn.Linear(c, c), nn.LeakyReLU(0.2), nn.Linear(c, n_cond))
                        if aux_heads and n_cond > 0 else None)
        self.aux_twin = nn.Linear(c, n_classes) if twin else None

    def forward(self, x: torch.Tensor, label: torch.Tensor, cond: torch.Tensor | None = None,
                aux: bool = False):
        h = self.blocks(x)
        h = F.leaky_relu(self.final(_minibatch_std(h)), 0.2)  # (B, c, hh, ww)
        proj = self.embed(label)
        if self.proj is not None and cond is not None:
            proj = proj + self.proj(cond.to(h.dtype))
        out = self.linear(h)[:, 0] + torch.einsum("bchw,bc->bhw", h, proj.to(h.dtype))
        if not aux:
            return out
        pooled = h.mean(dim=(2, 3))
        cls = self.aux_cls(pooled) if self.aux_cls is not None else None
        reg = self.aux_reg(pooled) if self.aux_reg is not None else None
        if self.aux_twin is not None:
            return out, cls, reg, self.aux_twin(pooled)
        return out, cls, reg
