"""The conditional GAN as a LightningModule (manual optimisation of generator and discriminator).

Training sees random crops: the generator draws a field one latent cell larger than the crop (as
the interior of a larger one, with the generator's margin) and a crop at a random offset inside it
is what the patch discriminator judges, so every phase of the latent grid is seen in training.
One training iteration = one generator forward pass, one discriminator update on it (hinge or
non-saturating loss on DiffAugmented real and fake images, a lazy R1 penalty on real images, the
auxiliary class/condition heads trained on real images), then one generator update through the
same fake batch (adversarial loss + auxiliary-head error + mode-seeking term + the measurement
terms and the lattice term; :mod:`shapekit.generate.losses`); an exponential moving average
(EMA) of the generator weights is kept for sampling. Lightning counts each optimizer step, so
``trainer.global_step`` is twice the number of iterations (:attr:`ConditionalGAN.iteration`).

References
----------
.. [1] Lim & Ye, "Geometric GAN", arXiv:1705.02894 (hinge loss); Goodfellow et al., "Generative
   Adversarial Nets", NeurIPS 2014 (non-saturating loss).
.. [2] Mescheder, Geiger, Nowozin, "Which Training Methods for GANs do actually Converge?",
   ICML 2018 (R1 penalty); Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
   CVPR 2020 (lazy regularisation).
.. [3] Yazici et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019 (EMA).
.. [4] Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020.
.. [5] Heusel et al., "GANs Trained by a Two Time-Scale Update Rule", NeurIPS 2017.
.. [6] Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML
   2017 (auxiliary classifier; here also a regressor for continuous conditions, cf. Ding et al.,
   "CcGAN", ICLR 2021).
.. [7] Mao, Lee, Tseng, Ma, Yang, "Mode Seeking Generative Adversarial Networks for Diverse Image
   Synthesis", CVPR 2019.
.. [8] Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016 (matching a
   statistic of the real data; here one with a physical meaning, per condition).
.. [10] Gong, Wang, Zhang, Tao, Ji, "Twin Auxiliary Classifiers GAN", NeurIPS 2019.
"""

from __future__ import annotations

import copy
from typing import Any

import pytorch_lightning as pl
import torch

from shapekit.generate.diffaug import diff_augment
from shapekit.generate.discriminator import Discriminator, discriminator_channels
from shapekit.generate.dual import FractionDual
from shapekit.generate.nets import MARGIN_CELLS, Generator, generate_field, generator_channels
from shapekit.generate.losses import (discriminator_losses, generator_adversarial_losses,
                                      measurement_losses, mode_seeking, lattice_penalty,
                                      lattice_excess)
from shapekit.generate.terms import TUNE, bright_fraction, check_gan_settings

__all__ = ["ConditionalGAN", "bright_fraction"]


class ConditionalGAN(pl.LightningModule):
    """Conditional GAN (generator, projection discriminator, EMA generator) for grey micrographs.

    Parameters
    ----------
    crop_size : int
        Side of the square training crops (a multiple of the latent period, >= 16).
    n_classes, n_cond, z_local, z_global, w_dim : int
        Number of temper classes and of continuous (normalised) conditions; latent-map channels,
        global latent length, style length (:class:`~shapekit.generate.nets.Generator`).
    g_channels, d_channels : int
        Base widths; the generator's widths are :func:`~shapekit.generate.nets.generator_channels`
        ``(g_channels, n_up)``, the discriminator's
        :func:`~shapekit.generate.discriminator.discriminator_channels` ``(d_channels, d_blocks)``.
    n_up, d_blocks : int
        Generator upsampling blocks (latent period ``2**n_up`` px) and discriminator
        downsampling blocks (patch map ``crop / 2**d_blocks`` per side).
    loss : {"hinge", "ns"}
        Adversarial loss: hinge or non-saturating logistic (averaged over the patch map).
    r1_gamma : float
        R1 weight (0 disables); applied every ``r1_every`` iterations (lazy regularisation).
    lr_g, lr_d, beta1, beta2, ema_decay : float
        Adam settings (two time-scale defaults: D learns 4x faster than G [5]_); decay of the EMA
        generator (0 copies the generator).
    diffaug : str
        DiffAugment policy (comma-separated; ``""`` disables).
    aux_weight : float
        Weight of the auxiliary class/condition heads of the discriminator (0 disables): D learns
        to predict the label and the normalised conditions of real images, G is penalised for
        the heads' error on its images at their requested condition [6]_.
    twin_aux : bool
        Add a twin class head (TAC-GAN [10]_) that learns the classes of *generated* images; G is
        rewarded for its error, against the AC-GAN's pull to one easily classified look per
        class. Needs ``aux_weight > 0`` and two classes or more.
    ms_weight : float
        Weight of the mode-seeking term [7]_ (0 disables): half of each fake batch repeats the
        other half's conditions with new latents; G is penalised by ``1 / (|G(z1) - G(z2)| /
        |z1 - z2|)``.
    fraction_weight : float
        Weight of the phase-fraction term (0 disables): each generated crop's bright-phase area
        fraction (:func:`bright_fraction`) should equal the real crop's of the same conditions;
        squared difference, batch mean [8]_ (the adversarial loss alone learns a few percent of
        fraction across the conditions only weakly; RESULTS.md section 6).
    fraction_window : int
        Neighbourhood (px, odd) of the terms' local half-maximum (:func:`bright_fraction`
        ``window``); 0 uses the global half-maximum.
    fraction_map : {"half_max", "measure", "exact"}
        How both terms draw each crop's particles
        (:func:`~shapekit.generate.terms.particle_map`): ``"half_max"`` half-way to the crop's
        99th percentile (:func:`bright_map`), ``"measure"`` at the levels of
        :func:`shapekit.synth.measure_structure` (Otsu detection on the flattened image, each
        particle at its own half maximum, noise rejection:
        :func:`~shapekit.generate.terms.measured_map`); ``"exact"`` the measurement's own
        particle mask with the ``"measure"`` map's gradient
        (:func:`~shapekit.generate.terms.exact_map`).
    two_point_weight : float
        Weight of the two-point term (0 disables): each generated crop's particle-map two-point
        correlation (:func:`~shapekit.generate.terms.two_point_profile`, lags
        ``0..two_point_lag`` px) against the real crop's of the same conditions (mean squared
        difference): the fraction at lag 0, the particle size in its decay.
    two_point_lag : int
        Largest lag of the two-point term (px; about the largest particle diameter).
    fraction_dual : float
        Step size of multipliers that hold the generated crops' mean fraction on the real crops'
        per class and along the conditions (:class:`~shapekit.generate.dual.FractionDual`; 0
        disables): unlike a fixed weight, they grow until the mean gap is 0.
    lattice_weight, lattice_image_weight : float
        Weights of the lattice terms (0 disables): the fixed pattern a class's fields share in
        every latent cell, and each image's own above chance (:mod:`~shapekit.generate.losses`).
    d_warmup : int
        Iterations at the start in which only the discriminator is updated (a fine-tuning's
        fresh discriminator, ``fit_gan(init_from=...)``, learns before it guides).
    count_weight : float
        Weight of the particle-count term (0 disables): each generated crop's edge-corrected
        particle count (:func:`~shapekit.generate.terms.measured_particles`) against the real
        crop's (squared relative gap): with the area fraction it holds the mean radius.
    shape_weight : float
        Weight of the particle-shape term (0 disables): each generated crop's mean measured
        particle elongation (:func:`~shapekit.generate.shape.measured_elongation`) against the
        real crop's of the same conditions (squared gap): area and count allow streaks.
    margin_cells : int or None
        Latent cells per side generated beyond each crop or image and cropped away
        (:func:`~shapekit.generate.nets.generate_field`); None: the generator's reach
        (:func:`~shapekit.generate.nets.reach_cells`): crops computed exactly as the interior of
        a whole image. With 0 or 1 (the first models) crops include the field's edges.
    adv_weight : float
        Weight of the discriminator's terms on the generator (adversarial and auxiliary); 0
        neither uses nor trains it: only the measurement terms guide (RESULTS.md section 6).
    tune : {"all", "condition", "late"}
        What a generator update trains: all its weights; only its condition encoder (where the
        conditions enter the style; the network that draws the structure stays as trained); or
        that with the last upsampling block and the output convolution (the particles'
        outlines). A run resumed with another ``tune`` starts its generator optimizer afresh.
    detector : bool
        End the generator with per-image shot and read noise
        (:class:`~shapekit.generate.detector.ShotNoise`, trained with the ``tune`` set); a resume
        may switch it on (it starts near noise-free) and then starts the generator optimizer afresh.
    channels_last, compile, sample_every : bool, bool, int
        Channels-last layout, ``torch.compile`` (CUDA speed options); a sample grid (via
        :attr:`sample_hook`) every this many iterations and after the first (0 disables).

    Examples
    --------
    >>> m = ConditionalGAN(crop_size=16, n_classes=2, n_cond=0, z_local=2, z_global=4, w_dim=8,
    ...                    g_channels=4, d_channels=4, n_up=2, d_blocks=2)
    >>> m.sample(torch.tensor([0, 1]), size=(16, 24)).shape
    torch.Size([2, 1, 16, 24])
    """

    def __init__(self, crop_size: int = 64, n_classes: int = 1, n_cond: int = 0,
                 z_local: int = 8, z_global: int = 32, w_dim: int = 64, g_channels: int = 16,
                 d_channels: int = 16, n_up: int = 3, d_blocks: int = 3, loss: str = "hinge",
                 r1_gamma: float = 1.0, r1_every: int = 4, lr_g: float = 2e-4,
                 lr_d: float = 4e-4, beta1: float = 0.0, beta2: float = 0.99,
                 ema_decay: float = 0.999, diffaug: str = "brightness,contrast,cutout",
                 aux_weight: float = 1.0, twin_aux: bool = False, ms_weight: float = 0.1,
                 fraction_weight: float = 0.0, fraction_window: int = 0,
                 fraction_map: str = "half_max",
                 two_point_weight: float = 0.0, two_point_lag: int = 16,
                 fraction_dual: float = 0.0, count_weight: float = 0.0,
                 shape_weight: float = 0.0, lattice_weight: float = 0.0,
                 lattice_image_weight: float = 0.0, d_warmup: int = 0,
                 margin_cells: int | None = None,
                 adv_weight: float = 1.0, tune: str = "all", detector: bool = False,
                 channels_last: bool = False,
                 compile: bool = False, sample_every: int = 0) -> None:
        super().__init__()
        check_gan_settings(locals())  # before training starts, not at its first step
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = Generator(n_classes, n_cond, z_local, z_global, w_dim,
                                   generator_channels(g_channels, n_up), margin=margin_cells,
                                   detector=detector)
        self.discriminator = Discriminator(n_classes, n_cond,
                                           discriminator_channels(d_channels, d_blocks),
                                           aux_heads=aux_weight > 0, twin=twin_aux)
        self.g_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.dual = FractionDual(n_classes, n_cond, fraction_dual) if fraction_dual > 0 else None
        self.sample_hook: Any = None  # callable(module, iteration) set by fit_gan
        self._g_fwd = self.generator
        self._d_fwd = self.discriminator

    # ------------------------------------------------------------------ set-up
    @property
    def iteration(self) -> int:
        """Completed training iterations (one D and one G update each)."""
        return int(self.global_step) // 2

    def setup(self, stage: str) -> None:  # noqa: D102 - Lightning hook
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            self._g_fwd = torch.compile(self.generator)
            self._d_fwd = torch.compile(self.discriminator)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:  # noqa: D102
        hp = self.hparams
        # the lazy R1 term is applied every r1_every steps: scale the D betas/lr as StyleGAN2 does
        c = hp.r1_every / (hp.r1_every + 1) if hp.r1_gamma > 0 else 1.0
        if hp.tune != "all":  # the rest of the generator is frozen: no gradients for it
            self.generator.requires_grad_(False)
            for part in self._tuned():
                part.requires_grad_(True)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_d * c,
                                 betas=(hp.beta1 ** c, hp.beta2 ** c))
        return [self._generator_optimizer(), opt_d]

    def _tuned(self) -> list[torch.nn.Module]:
        g = self.generator
        det = [] if g.detector is None else [g.detector]
        return {"all": [g], "condition": [g.cond, *det],
                "late": [g.cond, g.blocks[-1], g.to_img, *det]}[self.hparams.tune]

    def _generator_optimizer(self) -> torch.optim.Optimizer:
        hp = self.hparams
        params = [p for part in self._tuned() for p in part.parameters()]
        return torch.optim.Adam(params, lr=hp.lr_g, betas=(hp.beta1, hp.beta2))

    # ------------------------------------------------------------------ helpers
    def _z(self, n: int, cells: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        zl, zg = self.generator.latents(n, cells)
        return zl.to(self.device), zg.to(self.device)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.hparams.diffaug) if self.hparams.diffaug else x

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    @torch.no_grad()
    def sample(self, label: torch.Tensor, cond: torch.Tensor | None = None,
               size: tuple[int, int] | None = None, latents: tuple | None = None,
               ema: bool = True) -> torch.Tensor:
        """Images in ``[-1, 1]`` of shape ``(B, 1, *size)`` (default: a training crop) from the
        EMA (or live) generator; ``latents`` = ``(z_map, z_global)`` of matching size."""
        net = self.g_ema if ema else self.generator
        size = size or (self.hparams.crop_size,) * 2
        label = label.to(self.device)
        if latents is None:
            latents = self._z(len(label), net.field_cells(size))
        zl, zg = latents
        c = None if cond is None else cond.to(self.device)
        return generate_field(net, zl.to(self.device), zg.to(self.device), label, c, size).float()

    # ------------------------------------------------------------------ training
    def _fake_conditions(self, label: torch.Tensor, cond: torch.Tensor | None):
        """Conditions of the fake batch: the real batch's; with the mode-seeking term on, the
        second half repeats the first half's conditions (pairs that differ only in ``z``).
        Returns the labels, conditions, the half (0 without pairs) and the real rows used."""
        b = label.shape[0]
        if self.hparams.ms_weight <= 0 or b < 2:
            return label, cond, 0, torch.arange(b, device=label.device)
        half = b // 2
        idx = torch.cat([torch.arange(b - half, device=label.device),
                         torch.arange(half, device=label.device)])
        return label[idx], None if cond is None else cond[idx], half, idx

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:  # noqa: D102
        x, label, cond = batch
        x = self._fmt(x)
        cond = cond if self.hparams.n_cond > 0 else None
        opt_g, opt_d = self.optimizers()
        hp = self.hparams
        it = self.iteration

        # one generator forward serves both updates (D sees it detached, G backpropagates it)
        f_label, f_cond, half, rows = self._fake_conditions(label, cond)
        crop, period, margin = hp.crop_size, self.generator.period, self.generator.margin
        if margin > MARGIN_CELLS:  # the field as the interior of a larger one (generate_field)
            side = crop + period
            zl, zg = self._z(x.shape[0], self.generator.field_cells((side, side)))
            field = generate_field(self._g_fwd, zl, zg, f_label, f_cond, (side, side))
        else:  # the first models' training: the field's own edges are seen
            zl, zg = self._z(x.shape[0], (crop // period + 1,) * 2)
            field = self._g_fwd(zl, zg, f_label, f_cond)
        # a crop at a random offset: every phase of the latent grid
        oy, ox = (int(v) for v in torch.randint(0, period + 1, (2,)))
        fake = self._fmt(field[:, :, oy:oy + crop, ox:ox + crop])

        # ---- discriminator (not used at all when its terms weigh nothing)
        use_d = hp.adv_weight > 0
        do_r1 = use_d and hp.r1_gamma > 0 and it % hp.r1_every == 0
        d = dict.fromkeys(("total", "real", "fake", "aux", "twin"), torch.zeros(()))
        if use_d:
            d = discriminator_losses(self._d_fwd, self._aug, x, fake, label, cond, f_label,
                                     f_cond, hp, r1=do_r1)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d["total"])
            opt_d.step()
        else:  # a step without gradients changes nothing and keeps two steps per iteration
            opt_d.zero_grad(set_to_none=True)
            opt_d.step()

        # ---- generator (D frozen: no gradients computed for its weights)
        ms = aux_g = loss_g = torch.zeros(())
        terms = dict.fromkeys(("fraction", "fraction_dual", "two_point", "count", "shape",
                               "lattice", "lattice_image"), ms)
        if it < hp.d_warmup:
            # a fine-tuning run's fresh discriminator learns alone first; the step without
            # gradients leaves the generator (and Adam's state) as is and keeps the step count
            opt_g.zero_grad(set_to_none=True)
            opt_g.step()
        else:
            self.toggle_optimizer(opt_g)
            loss_g = torch.zeros((), device=self.device)
            if use_d:
                loss_g, aux_g = generator_adversarial_losses(self._d_fwd, self._aug, fake,
                                                             f_label, f_cond, hp)
            if half:  # same condition, different z -> different images (Mao et al. 2019)
                ms = mode_seeking(fake, zl, zg, half)
                loss_g = loss_g + hp.ms_weight / (ms + 1e-5)
            terms = measurement_losses(fake, x.detach(), rows, hp, self.dual, f_label, f_cond)
            terms["lattice"] = (lattice_penalty(field, period, f_label)  # grid at a cell edge
                                if hp.lattice_weight > 0 else torch.zeros((), device=x.device))
            terms["lattice_image"] = (lattice_excess(field, period) if hp.lattice_image_weight > 0
                                      else torch.zeros((), device=x.device))
            loss_g = (loss_g + terms["total"] + hp.lattice_weight * terms["lattice"]
                      + hp.lattice_image_weight * terms["lattice_image"])
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            self.untoggle_optimizer(opt_g)

        self._update_ema()
        self.log_dict({"loss_d": d["total"].detach(), "loss_g": loss_g.detach(),
                       "d_real": d["real"].detach().float().mean(),
                       "d_fake": d["fake"].detach().float().mean(), "aux_d": d["aux"].detach(),
                       "aux_g": aux_g.detach(), "aux_twin": d["twin"].detach(),
                       "mode_seeking": ms.detach(),
                       **{k: v.detach() for k, v in terms.items() if k != "total"},
                       "iteration": float(it + 1)},
                      prog_bar=True, on_step=True, on_epoch=False, sync_dist=False)
        if do_r1:
            self.log("r1", d["r1"].detach(), on_step=True, on_epoch=False)
        done = self.iteration
        if (hp.sample_every and self.sample_hook is not None
                and (done % hp.sample_every == 0 or done == 1) and self.trainer.is_global_zero):
            self.sample_hook(self, done)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # noqa: D102
        # a run resumed with the multipliers switched on starts them at 0; switched off, drops them
        state = checkpoint["state_dict"]
        opts = checkpoint.get("optimizer_states")
        saved = checkpoint.get("hyper_parameters", {})
        if opts and (saved.get("tune", "all"), saved.get("detector", False)) != (
                self.hparams.tune, self.hparams.detector):
            opts[0] = self._generator_optimizer().state_dict()   # other weights train now
        own = self.state_dict()      # a detector switched on starts as built, off is dropped
        for key in [k for k in state if ".detector." in k and k not in own]:
            del state[key]
        for key in [k for k in own if ".detector." in k and k not in state]:
            state[key] = own[key].clone()
        for group in opts[0]["param_groups"] if opts else []:
            group["lr"] = self.hparams.lr_g     # a resume may change the generator's rate
        if self.dual is None:
            for key in [k for k in state if k.startswith("dual.")]:
                del state[key]
        else:
            for key, value in self.dual.state_dict().items():
                state.setdefault(f"dual.{key}", value.clone())

    @torch.no_grad()
    def _update_ema(self) -> None:
        # warm-up: a plain average over the first iterations, then the configured decay
        decay = min(float(self.hparams.ema_decay), (1 + self.iteration) / (10 + self.iteration))
        for p_ema, p in zip(self.g_ema.parameters(), self.generator.parameters()):
            p_ema.lerp_(p.detach(), 1 - decay)
        for b_ema, b in zip(self.g_ema.buffers(), self.generator.buffers()):
            b_ema.copy_(b)
