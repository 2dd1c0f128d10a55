"""The detector of a generated micrograph: signal-dependent shot noise drawn per image.

An SE image is counted electrons: a pixel of mean grey level ``u`` (in [0, 1], full scale = a
dose of ``n_e`` electrons) reads ``Poisson(u n_e) / n_e`` plus the amplifier's read noise
(Reimer 1998; the simulator's image formation, :mod:`shapekit.synth.render`, step 5). A
generator's learned per-pixel noise inputs do not draw that texture: scored against the
simulator, a simulator model's realism ratio fell from 5.6-8.4x to 2.5-3.1x once its images
were passed through the simulator's blur and noise (RESULTS.md section 6, session 21).
:class:`ShotNoise` puts the detector into the generator: the network's output is the mean
signal, and the noise is drawn on it with the Gaussian approximation of the Poisson law,
``y = u + sqrt(u / n_e) e_1 + s e_2`` (``e`` standard normal), so that gradients reach the
dose and the read noise ``s``. Both are drawn per image from the style vector (the condition
and the global latent), as a microscope's dose varies from scan to scan, and start at a dose
of 10^4 and ``s = 10^-3`` (noise below one grey level of 8 bits), so a trained generator
fine-tuned with a detector starts from its own images. They are learnt as the two noise
amplitudes ``k = 1 / sqrt(n_e)`` and ``s`` (the sd of the noise at full scale and at black),
whose useful values (0.01-0.2) an optimiser's steps of ~1e-4 cover in a few hundred
iterations; a dose in log space would need tens of thousands.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ShotNoise"]


class ShotNoise(nn.Module):
    """Per-image shot and read noise on a generator's output in ``[-1, 1]``.

    Parameters
    ----------
    w_dim : int
        Length of the style vector the dose and read noise are drawn from.
    dose, read : float
        Initial electrons per full-scale pixel and read-noise sd (grey levels in [0, 1]).

    Examples
    --------
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> det = ShotNoise(4, dose=100.0, read=0.01)
    >>> with torch.no_grad():
    ...     y = det(torch.zeros(1, 1, 200, 200), torch.zeros(1, 4))   # mid-grey: u = 0.5
    >>> abs(float(((y + 1) / 2).std()) - (0.5 / 100 + 0.01**2) ** 0.5) < 0.002
    True
    """

    def __init__(self, w_dim: int, dose: float = 1e4, read: float = 1e-3) -> None:
        super().__init__()
        if not (dose > 0 and read >= 0):
            raise ValueError(f"dose must be > 0 and read >= 0, got {dose}, {read}")
        self.head = nn.Linear(int(w_dim), 2)     # -> (1 / sqrt(dose), read), signs dropped
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([1.0 / math.sqrt(dose), read]))

    def amplitudes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shot-noise amplitude ``1 / sqrt(dose)`` and read-noise sd of each image, ``(B,)``."""
        k, r = self.head(w).float().abs().unbind(dim=1)
        return k, r

    def parameters_of(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dose (electrons per full-scale pixel) and read-noise sd of each image, ``(B,)`` each."""
        k, r = self.amplitudes(w)
        return 1.0 / k.clamp(min=1e-12).square(), r

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Noisy images in ``[-1, 1]`` from mean signals ``x`` in ``[-1, 1]`` (``(B, 1, H, W)``)."""
        k, r = (v[:, None, None, None] for v in self.amplitudes(w))
        u = (x.float() + 1) / 2
        sd = torch.sqrt(u.clamp(min=0) * k * k + r * r + 1e-12)
        y = u + sd * torch.randn_like(u)
        return (2 * y - 1).clamp(-1, 1).to(x.dtype)
