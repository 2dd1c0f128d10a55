"""The conditional GAN's losses as functions of logits, images and per-crop statistics: the
adversarial pair (hinge [1]_ or non-saturating), the auxiliary heads' error (AC-GAN; with the twin
head, TAC-GAN's), the mode-seeking term [2]_ and the measurement terms on
:mod:`shapekit.generate.terms`' statistics. :class:`shapekit.generate.ConditionalGAN` combines
them in its training step.

References
----------
.. [1] Lim & Ye, "Geometric GAN", arXiv:1705.02894.
.. [2] Mao, Lee, Tseng, Ma, Yang, "Mode Seeking Generative Adversarial Networks for Diverse Image
   Synthesis", CVPR 2019.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch.nn import functional as F

from shapekit.generate.shape import measured_elongation
from shapekit.generate.terms import crop_statistics, measured_labels

__all__ = ["discriminator_loss", "generator_loss", "auxiliary_loss", "mode_seeking",
           "measurement_losses"]

_ZERO = torch.zeros(())


def discriminator_loss(kind: str, real_logits: torch.Tensor,
                       fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (``kind`` "hinge" or "ns"), means over the patch maps.

    Examples
    --------
    >>> discriminator_loss("hinge", torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 0.0])).item()
    0.75
    """
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss (``kind`` "hinge" or "ns").

    Examples
    --------
    >>> generator_loss("hinge", torch.tensor([1.0, -3.0])).item()
    1.0
    """
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def auxiliary_loss(cls: torch.Tensor | None, reg: torch.Tensor | None, label: torch.Tensor,
                   cond: torch.Tensor | None, twin: torch.Tensor | None = None) -> torch.Tensor:
    """The auxiliary heads' error at ``label``/``cond`` (cross-entropy of the class head, squared
    error of the condition regressor); given the twin head's logits (the generator's side of
    TAC-GAN), less the twin's cross-entropy.

    Examples
    --------
    >>> round(auxiliary_loss(torch.zeros(2, 2), None, torch.tensor([0, 1]), None).item(), 4)
    0.6931
    """
    loss = torch.zeros((), device=label.device)
    if cls is not None:
        loss = loss + F.cross_entropy(cls.float(), label)
    if reg is not None and cond is not None:
        loss = loss + F.mse_loss(reg.float(), cond.float())
    if twin is not None:
        loss = loss - F.cross_entropy(twin.float(), label)
    return loss


def mode_seeking(fake: torch.Tensor, z_map: torch.Tensor, z_global: torch.Tensor,
                 half: int) -> torch.Tensor:
    """Mean ratio of image distance to latent distance between the batch's first and last
    ``half`` images (pairs with the same conditions and different latents); the generator's
    term is ``weight / (ratio + 1e-5)``.

    Examples
    --------
    >>> fake = torch.cat([torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4)])
    >>> zl, zg = torch.cat([torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)]), torch.zeros(2, 3)
    >>> mode_seeking(fake, zl, zg, 1).item()   # image distance 1, latent distance (1 + 0) / 2
    2.0
    """
    a, b = fake[:half].float(), fake[-half:].float()
    dz = ((z_map[:half] - z_map[-half:]).abs().mean(dim=(1, 2, 3))
          + (z_global[:half] - z_global[-half:]).abs().mean(dim=1)) / 2
    return ((a - b).abs().mean(dim=(1, 2, 3)) / dz).mean()


def measurement_losses(fake: torch.Tensor, real: torch.Tensor, rows: torch.Tensor,
                       hp: Mapping[str, Any], dual: torch.nn.Module | None = None,
                       label: torch.Tensor | None = None,
                       cond: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The measurement terms of generated crops ``fake`` against the real crops ``real[rows]``
    of the same conditions, with the weights of ``hp`` (``fraction_weight``, ``fraction_map``,
    ``fraction_window``, ``two_point_weight``, ``two_point_lag``, ``count_weight``,
    ``shape_weight``) and the fraction multipliers ``dual`` (a
    :class:`~shapekit.generate.terms.FractionDual`, which takes its dual step here in training
    mode).

    Returns
    -------
    dict
        ``"total"`` (the weighted sum the generator minimises), and the unweighted ``"fraction"``
        (squared gap of the area fractions), ``"fraction_dual"`` (the multipliers' penalty),
        ``"two_point"`` (squared gap of the two-point profiles), ``"count"`` (squared
        relative gap of the particle counts) and ``"shape"`` (squared gap of the mean particle
        elongations, over the crops where both have particles to measure); terms that are off
        are 0.

    Examples
    --------
    >>> real = torch.full((2, 1, 32, 32), -0.6); real[..., 8:24, 8:24] = 0.8
    >>> hp = dict(fraction_weight=10.0, fraction_map="exact", fraction_window=7,
    ...           two_point_weight=0.0, two_point_lag=8, count_weight=1.0, shape_weight=1.0)
    >>> out = measurement_losses(real.clone(), real, torch.arange(2), hp)
    >>> [round(out[k].item(), 6) for k in ("total", "fraction", "count", "shape")]
    [0.0, 0.0, 0.0, 0.0]
    >>> long = torch.full((2, 1, 32, 32), -0.6); long[..., 12:20, 4:28] = 0.8   # 3:1 streaks
    >>> round(measurement_losses(long, real, torch.arange(2), hp)["shape"].item(), 1)
    4.0
    """
    lag = int(hp["two_point_lag"]) if hp["two_point_weight"] > 0 else 0
    count = hp.get("count_weight", 0.0) > 0
    shape = hp.get("shape_weight", 0.0) > 0
    out = dict.fromkeys(("fraction", "fraction_dual", "two_point", "count", "shape"), _ZERO)
    out["total"] = torch.zeros((), device=fake.device)
    stats = hp["fraction_weight"] > 0 or lag or dual is not None or count
    m_f = m_r = None   # one measurement per crop serves the exact map, the count and the shape
    if shape or (stats and (count or hp["fraction_map"] == "exact")):
        window = hp["fraction_window"] if hp["fraction_window"] > 1 else 7
        m_f = measured_labels(fake, window)
        with torch.no_grad():
            m_r = measured_labels(real, window)
    if shape:
        e_f = measured_elongation(fake, window, measured=m_f)
        with torch.no_grad():
            e_r = measured_elongation(real, window, measured=m_r)[rows]
        ok = torch.isfinite(e_f) & torch.isfinite(e_r)
        if bool(ok.any()):
            out["shape"] = (e_f[ok] - e_r[ok]).pow(2).mean()
            out["total"] = out["total"] + hp["shape_weight"] * out["shape"]
    if not stats:
        return out
    st_f = crop_statistics(fake, hp["fraction_map"], hp["fraction_window"], lag, count, m_f)
    with torch.no_grad():
        st_r = {k: v[rows] for k, v in crop_statistics(real, hp["fraction_map"],
                                                       hp["fraction_window"], lag, count,
                                                       m_r).items()}
    if hp["fraction_weight"] > 0:
        out["fraction"] = F.mse_loss(st_f["fraction"], st_r["fraction"])
        out["total"] = out["total"] + hp["fraction_weight"] * out["fraction"]
    if dual is not None:
        out["fraction_dual"] = dual(st_f["fraction"], st_r["fraction"], label, cond)
        out["total"] = out["total"] + out["fraction_dual"]
    if lag:
        out["two_point"] = F.mse_loss(st_f["two_point"], st_r["two_point"])
        out["total"] = out["total"] + hp["two_point_weight"] * out["two_point"]
    if count:  # relative: about 16 particles a crop over-aged, 140 under-aged
        out["count"] = ((st_f["count"] - st_r["count"]) / (st_r["count"] + 1)).pow(2).mean()
        out["total"] = out["total"] + hp["count_weight"] * out["count"]
    return out
