"""The conditional GAN's losses as functions of logits, images and per-crop statistics: the
adversarial pair (hinge [1]_ or non-saturating), the auxiliary heads' error (AC-GAN; with the twin
head, TAC-GAN's), the mode-seeking term [2]_, the measurement terms on
:mod:`shapekit.generate.terms`' statistics, and the discriminator's whole loss with the lazy R1
penalty [3]_ (:func:`discriminator_losses`) and the generator's side of the discriminator's terms
(:func:`generator_adversarial_losses`). :class:`shapekit.generate.ConditionalGAN` combines
them in its training step.

References
----------
.. [1] Lim & Ye, "Geometric GAN", arXiv:1705.02894.
.. [2] Mao, Lee, Tseng, Ma, Yang, "Mode Seeking Generative Adversarial Networks for Diverse Image
   Synthesis", CVPR 2019.
.. [3] Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually Converge?",
   ICML 2018.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Mapping

import torch
from torch.nn import functional as F

from shapekit.generate.shape import measured_elongation
from shapekit.generate.terms import crop_statistics, measured_labels

__all__ = ["discriminator_loss", "generator_loss", "auxiliary_loss", "mode_seeking",
           "measurement_losses", "discriminator_losses", "generator_adversarial_losses",
           "lattice_penalty", "lattice_excess"]

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
    :class:`~shapekit.generate.dual.FractionDual`, which takes its dual step here in training
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


def _cell_patterns(field: torch.Tensor, q: int) -> torch.Tensor:
    """``(B, C, q, q)``: each image's mean over its whole ``q x q`` cells of the mean-free field."""
    b, c, h, w = field.shape
    x = field - field.mean(dim=(2, 3), keepdim=True)
    return x[:, :, :h // q * q, :w // q * q].reshape(b, c, h // q, q, w // q, q).mean(dim=(2, 4))


def lattice_penalty(field: torch.Tensor, period: int,
                    groups: torch.Tensor | None = None) -> torch.Tensor:
    """The squared fixed pattern that generated fields repeat in every latent cell, without the
    part images draw at random: for each group of images (``groups``, e.g. the labels; one group
    if None), the mean over pairs of different images of the product of their cell patterns
    (each the mean-free mean of an image's ``period x period`` cells), averaged over the cell's
    pixels and over the groups with two images or more. For independent images this estimates
    the pattern they share without bias (a U-statistic), so minimising it removes the shared
    pattern and leaves each image's own cell-phase statistics alone.
    :func:`shapekit.generate.checks.lattice_contrast` measures the pattern in whole images.

    ``field`` is ``(B, C, H, W)`` with its grid starting at a latent cell boundary (``H``, ``W``
    multiples of ``period``).

    Examples
    --------
    >>> rows = (torch.arange(16) % 8 == 0).float()            # every 8th row 1, the rest 0
    >>> field = rows[None, None, :, None].expand(2, 1, 16, 16)
    >>> round(lattice_penalty(field, 8).item(), 5)          # (7/8)^2/8 + 7 (1/8)^2/8
    0.10938
    >>> lattice_penalty(field, 8, groups=torch.tensor([0, 1])).item()    # no pair in a group
    0.0
    >>> noise = torch.randn(64, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> abs(lattice_penalty(noise, 8).item()) < 1e-3     # what is drawn at random cancels
    True
    """
    b, c, h, w = field.shape
    p = int(period)
    if h % p or w % p:
        raise ValueError(f"the field ({h}x{w}) must be whole cells of {p} px")
    pats = _cell_patterns(field, p).reshape(b, -1)
    keys = torch.zeros(b, dtype=torch.long, device=field.device) if groups is None else groups
    total, n_groups = field.new_zeros(()), 0
    for key in torch.unique(keys):
        g = pats[keys == key]
        n = g.shape[0]
        if n < 2:
            continue
        s = g.sum(dim=0)
        total = total + (s.pow(2).sum() - g.pow(2).sum()) / (n * (n - 1) * g.shape[1])
        n_groups += 1
    return total / max(n_groups, 1)


def lattice_excess(field: torch.Tensor, period: int) -> torch.Tensor:
    """Per image, how far its own pattern at the latent period exceeds what it draws at random:
    the mean square of the image's cell pattern at ``period`` (times its number of cells, which
    makes a texture's chance level alike at every period) less the same at ``period - 1`` and
    ``period + 1`` (periods no latent grid has; held fixed), kept where positive, batch mean,
    divided by the number of cells. Below that chance level there is no gradient, so the term
    cannot buy its minimum by removing the image's real content at the lattice frequencies. The
    pattern an image draws in every cell of its own (one that
    :func:`lattice_penalty`, shared across images, does not see) is what it removes.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> noise = torch.randn(16, 1, 128, 128, generator=g)
    >>> lattice_excess(noise, 8).item() < 0.15 / 256   # chance (1/256 per phase): little above it
    True
    >>> shift = torch.randint(0, 8, (16,), generator=g)   # a pattern of each image's own phase
    >>> rows = torch.stack([(torch.arange(128) - s) % 8 == 0 for s in shift]).float()
    >>> planted = noise + 0.5 * rows[:, None, :, None]
    >>> round(lattice_excess(planted, 8).item(), 2)     # 0.5^2 (7/64): the planted rows
    0.03
    >>> round(lattice_penalty(planted, 8).item(), 2)    # phases differ: nothing is shared
    0.0
    """
    h, w = field.shape[-2:]
    p = int(period)

    def scaled(q: int) -> torch.Tensor:   # mean square of the cell pattern x number of cells
        pat = _cell_patterns(field, q)
        pat = pat - pat.mean(dim=(2, 3), keepdim=True)
        return pat.pow(2).mean(dim=(1, 2, 3)) * ((h // q) * (w // q))

    chance = 0.5 * (scaled(p - 1) + scaled(p + 1)).detach()
    return F.relu(scaled(p) - chance).mean() / ((h // p) * (w // p))


def discriminator_losses(d_fwd: Callable[..., Any], aug: Callable[[torch.Tensor], torch.Tensor],
                         x: torch.Tensor, fake: torch.Tensor, label: torch.Tensor,
                         cond: torch.Tensor | None, f_label: torch.Tensor,
                         f_cond: torch.Tensor | None, hp: Mapping[str, Any],
                         r1: bool = False) -> dict[str, torch.Tensor]:
    """The discriminator's loss on real crops ``x`` (conditions ``label``, ``cond``) and generated
    crops ``fake`` (``f_label``, ``f_cond``; detached here), both seen through ``aug``.

    ``d_fwd(images, label, cond[, aux=True])`` is the discriminator (its patch logits, and with
    ``aux=True`` those of its class, condition and twin heads). The loss is the adversarial pair
    (``hp["loss"]``, :func:`discriminator_loss`); with ``hp["aux_weight"]`` > 0 plus that weight
    times the auxiliary heads' error on the real crops and, with ``hp["twin_aux"]``, the twin
    head's cross-entropy on the generated ones; with ``r1`` plus the lazy R1 penalty [3]_ on the
    real crops, ``r1_gamma * r1_every / 2`` times the squared gradient norm. The caller takes the
    optimizer step.

    Returns
    -------
    dict
        ``"total"`` (what the discriminator minimises), ``"real"`` and ``"fake"`` (the patch
        logits), and the unweighted ``"aux"``, ``"twin"`` and ``"r1"`` (0 where off).

    Examples
    --------
    A "discriminator" whose patch map is the image itself, with the R1 term:

    >>> d_fwd = lambda images, label, cond: images.mean(dim=1)
    >>> hp = dict(loss="hinge", aux_weight=0.0, twin_aux=False, r1_gamma=1.0, r1_every=4)
    >>> x, fake, label = torch.ones(2, 1, 4, 4), -torch.ones(2, 1, 4, 4), torch.tensor([0, 1])
    >>> out = discriminator_losses(d_fwd, lambda v: v, x, fake, label, None, label, None, hp,
    ...                            r1=True)
    >>> [out[k].item() for k in ("total", "r1")]   # hinge 0; |grad|^2 = 16 / 16^2 per image
    [0.125, 0.0625]
    """
    aux = hp["aux_weight"] > 0
    twin = aux_d = torch.zeros(())
    r1_term = torch.zeros((), device=x.device)
    x_in = x.detach().requires_grad_(True) if r1 else x
    if aux:
        d_real, cls_r, reg_r, *_ = d_fwd(aug(x_in), label, cond, aux=True)
    else:
        d_real = d_fwd(aug(x_in), label, cond)
    if hp["twin_aux"]:  # the twin head learns the classes of generated images
        d_fake, _, _, tw = d_fwd(aug(fake.detach()), f_label, f_cond, aux=True)
        twin = F.cross_entropy(tw.float(), f_label)
    else:
        d_fake = d_fwd(aug(fake.detach()), f_label, f_cond)
    # means over the patch maps
    loss = discriminator_loss(hp["loss"], d_real.float(), d_fake.float())
    if aux:
        aux_d = auxiliary_loss(cls_r, reg_r, label, cond)
        loss = loss + hp["aux_weight"] * (aux_d + twin)
    if r1:
        (grad,) = torch.autograd.grad(d_real.float().mean(dim=(1, 2)).sum(), x_in,
                                      create_graph=True)
        r1_term = grad.float().pow(2).sum(dim=(1, 2, 3)).mean()
        loss = loss + 0.5 * hp["r1_gamma"] * hp["r1_every"] * r1_term
    return {"total": loss, "real": d_real, "fake": d_fake, "aux": aux_d, "twin": twin,
            "r1": r1_term}


def generator_adversarial_losses(d_fwd: Callable[..., Any],
                                 aug: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor,
                                 f_label: torch.Tensor, f_cond: torch.Tensor | None,
                                 hp: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's discriminator terms on its crops ``fake`` (conditions ``f_label``,
    ``f_cond``) seen through ``aug``, ``d_fwd`` as in :func:`discriminator_losses`.

    ``hp["adv_weight"]`` times the adversarial loss (``hp["loss"]``, :func:`generator_loss`)
    plus, with ``hp["aux_weight"]`` > 0, ``adv_weight * aux_weight`` times the auxiliary heads'
    error at the requested conditions (with the twin head: less the twin's, TAC-GAN's term).

    Returns
    -------
    tuple of Tensor
        The weighted loss and the unweighted auxiliary error (0 without the heads).

    Examples
    --------
    >>> d_fwd = lambda images, label, cond: images.mean(dim=1)
    >>> hp = dict(loss="hinge", adv_weight=2.0, aux_weight=0.0)
    >>> fake = torch.full((2, 1, 4, 4), -0.5)
    >>> [v.item() for v in generator_adversarial_losses(d_fwd, lambda v: v, fake,
    ...                                                 torch.tensor([0, 1]), None, hp)]
    [1.0, 0.0]
    """
    aux = hp["aux_weight"] > 0
    aux_g = torch.zeros(())
    if aux:
        d_out, cls_f, reg_f, *tw = d_fwd(aug(fake), f_label, f_cond, aux=True)
    else:
        d_out = d_fwd(aug(fake), f_label, f_cond)
    loss = hp["adv_weight"] * generator_loss(hp["loss"], d_out.float())
    if aux:
        # with the twin: less the twin's error, AC-GAN's term without its bias
        aux_g = auxiliary_loss(cls_f, reg_f, f_label, f_cond, tw[0] if tw else None)
        loss = loss + hp["adv_weight"] * hp["aux_weight"] * aux_g
    return loss, aux_g
