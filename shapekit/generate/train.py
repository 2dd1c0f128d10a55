"""Train the conditional GAN with a Lightning ``Trainer`` and export the EMA generator.

A run directory holds ``config.json`` (everything needed to rebuild data and model),
``conditions.json`` (label names, condition normalisation and ranges), ``checkpoints/``
(``iter-*.ckpt`` every N iterations and ``last.ckpt``), ``logs/`` (CSV, and TensorBoard when it is
installed), ``samples/step_*.png`` grids (after the first iteration, then every N), and finally
``generator.safetensors`` + ``generator.json``. ``resume=True`` continues from
``checkpoints/last.ckpt`` at the same iteration with the optimizer and random states restored, as
if never stopped (checkpoints are read with ``weights_only=True``).

Progress is reported in the user's iterations (one discriminator + one generator update each;
Lightning counts two optimizer steps per iteration internally): a bar on a terminal, otherwise a
line every ``progress_every_s`` seconds with the iteration, rate, ETA and losses. Lightning's own
informational messages and known-harmless library warnings are not shown.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from shapekit import _atomic
from shapekit.errors import InputError, ShapekitWarning, brief
from shapekit.generate.checkpoints import (atomic_checkpoint_io, check_run_dir,
                                          resume_iteration, resume_point)
from shapekit.generate.nets import MARGIN_CELLS
from shapekit.generate.progress import (ProgressCallback, RngStateCallback, SampleMetric,
                                       SampleWriter, SaveOnSigterm, interrupted)

__all__ = ["train_gan", "fit_gan", "MODEL_DEFAULTS", "RUN_FORMAT"]

#: version of the run-directory layout (config.json); 1 was the 64-px tile GAN
RUN_FORMAT = 2
MODEL_DEFAULTS: dict[str, Any] = dict(z_local=8, z_global=32, w_dim=64, g_channels=16,
                                      d_channels=16, n_up=3, d_blocks=3, loss="hinge",
                                      r1_gamma=1.0, r1_every=4, lr_g=2e-4, lr_d=4e-4, beta1=0.0,
                                      beta2=0.99, ema_decay=0.999,
                                      diffaug="brightness,contrast,cutout", aux_weight=1.0,
                                      twin_aux=False,
                                      ms_weight=0.1, fraction_weight=0.0, fraction_window=0,
                                      fraction_map="half_max", two_point_weight=0.0,
                                      two_point_lag=16, fraction_dual=0.0, count_weight=0.0,
                                      shape_weight=0.0, lattice_weight=0.0,
                                      lattice_image_weight=0.0,
                                      d_warmup=0,
                                      margin_cells=None, adv_weight=1.0, tune="all",
                                      detector=False)
#: model settings that ``resume=True`` takes from the caller rather than from the saved run (loss
#: weights; the generator's margin, which changes no weight; which of its weights train and their
#: rate: a run may be continued with a term switched on; config.json records the change)
RESUME_OVERRIDES = frozenset({"fraction_weight", "fraction_window", "fraction_map",
                              "two_point_weight", "two_point_lag", "fraction_dual", "count_weight",
                              "shape_weight", "lattice_weight", "lattice_image_weight", "tune",
                              "lr_g", "detector", "d_warmup", "margin_cells"})


def train_gan(manifest: str | Path, out: str | Path, *, condition: str = "class",
              crop_size: int = 64, max_steps: int = 2000, batch_size: int = 16,
              downscale: float = 1.0, holdout: float = 0.0, root: str | Path | None = None,
              seed: int = 0, resume: bool = False, augment: str = "dihedral",
              **kwargs: Any) -> dict[str, Any]:
    """Train a conditional GAN on the images of a dataset manifest.

    Parameters
    ----------
    manifest : path
        A shapekit dataset manifest (see :mod:`shapekit.io`).
    out : path
        Run directory (created).
    condition : {"class", "parameters", "properties"}
        Temper only, temper + the manifest's ``parameters``, or temper + its ``properties``.
    crop_size, max_steps, batch_size, seed :
        Side of the random training crops (a multiple of 8; 64-96 typical), training
        iterations (one D + one G update each), batch size per device, random seed.
    downscale : float
        Train at ``downscale`` times the median pixel size of the manifest (or 1/downscale of
        the pixels when it gives none); generated images have this scale.
    holdout : float
        Fraction of the images of each class kept out of training (seeded); their file names
        are listed in ``config.json`` (``held_out``) for an honest evaluation.
    root : path, optional
        Data root overriding the manifest's.
    augment : {"dihedral", "flips", "none"}
        Augmentation of the training crops (:class:`~shapekit.generate.data.CropDataset`): flips
        and 90-degree turns, for a structure without a direction; flips alone, which keep the
        scans' axes (a rolling direction, or the lean that a microscope's raster gives real
        scans: with turns, a generator can draw the images of a set along either axis); none.
        Recorded in ``config.json`` (runs saved without it used ``"dihedral"``).
    resume : bool
        Continue the run in ``out`` from its last checkpoint (its saved configuration is used;
        ``max_steps`` may be raised, and the settings of :data:`RESUME_OVERRIDES` changed; a run
        saved without ``margin_cells`` keeps the one-cell margin it was trained with).
    **kwargs
        Passed to :func:`fit_gan` (devices, strategy, checkpoint_every, metric, model settings).

    Returns
    -------
    dict
        Summary: iterations (the last), start_iteration (where this call began), seconds,
        images/s, paths.

    Examples
    --------
    >>> # train_gan("data/manifest.yaml", "runs/gan", condition="parameters", crop_size=64)
    """
    from shapekit.generate.data import GANDataModule
    from shapekit.generate.terms import check_gan_settings

    out = Path(out)
    if resume:
        cfg = _read_config(out)
        condition, crop_size = cfg["condition"], cfg["crop_size"]
        batch_size, seed, downscale = cfg["batch_size"], cfg["seed"], cfg["downscale"]
        holdout, augment = cfg["holdout"], cfg["augment"]
        root = cfg.get("root") if root is None else root
        if manifest is not None and Path(manifest).is_file() and \
                not Path(cfg["manifest"]).is_file():   # the run's was moved or renamed
            warnings.warn(f"the run's manifest {cfg['manifest']} is gone: continuing on "
                          f"{manifest}", ShapekitWarning, stacklevel=2)
        else:
            manifest = cfg["manifest"]
        saved = {"margin_cells": MARGIN_CELLS, **cfg.get("model", {})}
        kwargs = {**saved, **{k: v for k, v in kwargs.items()
                              if k not in saved or k in RESUME_OVERRIDES}}
    try:  # the model's settings, as ConditionalGAN checks them, before any image is read
        check_gan_settings({**MODEL_DEFAULTS, **kwargs, "crop_size": crop_size})
    except ValueError as e:
        raise InputError(str(e)) from None
    dm = GANDataModule.from_manifest(manifest, condition, root, crop_size=crop_size,
                                     batch_size=batch_size, steps=max_steps, seed=seed,
                                     downscale=downscale, holdout=holdout, augment=augment,
                                     num_workers=kwargs.pop("num_workers", 0))
    return fit_gan(dm, out, max_steps=max_steps, seed=seed, resume=resume,
                   extra_config={"manifest": str(Path(manifest).resolve()),
                                 "root": None if root is None else str(root),
                                 "holdout": holdout, "held_out": dm.held_out,
                                 "augment": augment}, **kwargs)


def _read_config(out: Path) -> dict[str, Any]:
    from shapekit.generate.formats import RUN_DEFAULTS, RUN_SCHEMA
    from shapekit.io.jsonfile import check_json, load_json

    p = out / "config.json"
    if not p.is_file():
        raise InputError(f"cannot resume: {p} not found (no earlier run in {out})")
    cfg = load_json(p, {"type": "object"}, what="run config")
    if cfg.get("run_format") != RUN_FORMAT:
        raise InputError(f"cannot resume: {out} is a run of the earlier 64-px tile GAN (run format "
                         f"{brief(cfg.get('run_format', 1))}, this shapekit writes {RUN_FORMAT}); "
                         "start a new run with another --out")
    return {**RUN_DEFAULTS, **check_json(cfg, RUN_SCHEMA, where=str(p), what="run config")}


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Hide Lightning's informational lines (accelerator, tips, "max_steps reached" in its own
    step count) and warnings that do not concern the user."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch",
                                              "lightning_fabric", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in (".*does not have many workers.*", ".*number of training batches.*",
                            ".*module\\(s\\) in eval mode.*",
                            ".*no pre-optimization state was saved.*",
                            # the crop stream resumes exactly (datamodule offset)
                            ".*your dataloader is not resumable.*",
                            ".*Checkpoint directory .* exists and is not empty.*",
                            ".*treespec, LeafSpec.*",
                            # a resume with another --checkpoint-every: the new setting applies
                            ".*callbacks used to create the checkpoint need to be provided.*",
                            ".*LeafSpec.*is deprecated.*",
                            # a run copied or moved elsewhere: its checkpoints are found anew
                            ".*The dirpath has changed from.*"):
                warnings.filterwarnings("ignore", pattern)
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def fit_gan(dm: "GANDataModule", out: str | Path, *, max_steps: int = 2000,  # noqa: F821
            seed: int = 0, resume: bool = False, devices: int | str = 1, num_nodes: int = 1,
            strategy: str = "auto", accelerator: str = "auto", precision: str | None = None,
            checkpoint_every: int = 500, sample_every: int = 500, log_every: int = 10,
            channels_last: bool | None = None, compile: bool = False,
            extra_config: dict[str, Any] | None = None, progress_every_s: float = 30.0,
            metric: SampleMetric | None = None, sample_size: int | None = None,
            init_from: str | Path | None = None, on_start: Callable[[], None] | None = None,
            **model_kwargs: Any) -> dict[str, Any]:
    """Fit the GAN on a ready :class:`~shapekit.generate.data.GANDataModule` (see :func:`train_gan`).

    ``accelerator="auto"`` uses CUDA when present (bf16 autocast, channels-last) and the CPU
    otherwise (fp32). ``devices``/``num_nodes``/``strategy`` go to Lightning unchanged, except
    that ``strategy="auto"`` with several processes selects DDP (gloo on CPU). ``metric`` is
    called with real and generated crops at every sample grid and logged as ``realism``;
    ``sample_size`` is the side of the sample-grid images (default 2x the crop); ``on_start`` is
    called once everything is checked, before the run folder is written (the CLI's announcement).
    ``init_from`` (a run directory or a shipped generator name) starts the generator and its EMA
    from that trained generator instead of random weights (fine-tuning, e.g. with a new loss
    term); it must have the same network (its margin may differ) and conditions as this
    data, and the discriminator starts afresh (``d_warmup`` iterations then update the
    discriminator alone). On the simulator data that fresh discriminator spoiled the particle
    shapes within 1500 iterations, 300 warm-up iterations notwithstanding; 1500 warm-up
    iterations and ``lr_g=2e-5`` kept them for 1500 iterations, but over 5000 the under-aged
    realism still fell from 6.6x to 8.9x (RESULTS.md section 6). ``tune="condition"`` trains
    only the condition encoder, which keeps the trained network's shapes: with the
    ``fraction_map="exact"`` terms and a fresh discriminator it brought a simulator model's
    area-fraction R^2 from 0.72 to 0.90 at unchanged realism, but drew more, smaller particles
    (radius and hardness R^2 fell, the shortest-time radius sweep at 140 C stepped back).
    Continue a run from its checkpoint (``resume=True``), which keeps its discriminator,
    wherever there is one.
    """
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from shapekit.generate.export import export_generator
    from shapekit.generate.module import ConditionalGAN

    out = Path(out)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if not resume:
        check_run_dir(out, resume)
    elif not last.is_file():
        raise InputError(f"cannot resume: no checkpoint at {last}")
    start = resume_point(out, max_steps) if resume else 0
    if max_steps < 1:
        raise InputError(f"--max-steps must be >= 1, got {max_steps}")
    cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    precision = precision or ("bf16-mixed" if cuda else "32-true")
    channels_last = cuda if channels_last is None else channels_last
    hp = {**MODEL_DEFAULTS, **model_kwargs}
    unknown = set(hp) - set(MODEL_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown model settings: {', '.join(sorted(unknown))}")
    codec = dm.codec
    # seed before the networks are built: their initial weights come from the global RNG
    pl.seed_everything(seed, workers=True, verbose=False)
    try:
        module = ConditionalGAN(crop_size=dm.crop_size, n_classes=len(codec.label_names),
                                n_cond=codec.n_cond, channels_last=channels_last,
                                compile=compile, sample_every=sample_every, **hp)
    except ValueError as e:
        raise InputError(str(e)) from None
    hp["margin_cells"] = module.generator.margin  # None resolved: the run records what it used
    # a batch of the generator's largest feature maps, refused before the run folder is made
    from shapekit.io.budget import check_pixel_budget

    largest = module.generator.largest_map((dm.crop_size, dm.crop_size))
    check_pixel_budget((dm.batch_size, *largest),
                       f"--batch-size {dm.batch_size} --crop-size {dm.crop_size}: the generator's "
                       f"feature maps ({largest[0]} channels of {largest[2]}x{largest[1]} px a crop, "
                       "margins included)")
    warm = None
    if init_from is not None and not resume:
        warm = _warm_start(module, init_from, codec)
    out.mkdir(parents=True, exist_ok=True)
    config = {"run_format": RUN_FORMAT, "condition": codec.mode, "crop_size": dm.crop_size,
              "batch_size": dm.batch_size, "seed": seed, "max_steps": max_steps,
              "downscale": dm.downscale, "target_um_per_px": dm.target_um_per_px, "model": hp,
              **({"init_from": warm} if warm else {}), **(extra_config or {})}
    if resume:
        config = {**_read_config(out), "max_steps": max_steps, "model": hp,
                  **{k: v for k, v in (extra_config or {}).items() if k == "manifest"}}
        dm.offset = start * dm.batch_size
        from shapekit.generate.formats import CODEC_SCHEMA
        from shapekit.io.jsonfile import load_json

        saved = out / "conditions.json"   # the network would read other conditions:
        if saved.is_file() and not _same_codec(load_json(saved, CODEC_SCHEMA,
                                                         what="run conditions"), codec.to_dict()):
            raise InputError(f"{config['manifest']} no longer gives the run's data: its labels "
                             f"({', '.join(map(str, codec.label_names))}) or condition statistics "
                             f"differ from {out / 'conditions.json'}; start a new run with another "
                             "--out")
    if on_start is not None:
        on_start()
    _atomic.write_json(out / "config.json", config)
    _atomic.write_json(out / "conditions.json", codec.to_dict())

    size = int(sample_size or 2 * dm.crop_size)
    module.sample_hook = SampleWriter(out / "samples", dm, seed, size=size, metric=metric)
    loggers: list[Any] = [CSVLogger(str(out), name="logs")]
    with contextlib.suppress(ImportError):
        from pytorch_lightning.loggers import TensorBoardLogger

        import tensorboard  # noqa: F401

        loggers.append(TensorBoardLogger(str(out), name="tb"))
    # no "-v1" copies: a run moved or copied elsewhere and resumed there overwrites last.ckpt,
    # which the next --resume reads
    ckpt = ModelCheckpoint(dirpath=str(ckpt_dir), filename="iter-{iteration:07.0f}",
                           auto_insert_metric_name=False, save_last=True,
                           save_top_k=-1, every_n_train_steps=2 * max(1, checkpoint_every),
                           enable_version_counter=False)
    n_proc = (int(devices) if str(devices).isdigit() else 1) * int(num_nodes)
    if (strategy == "auto" and n_proc > 1) or strategy == "ddp":
        # G and D are updated from separate backward passes with the other net's parameters
        # frozen (toggle_optimizer): DDP must look for parameters without gradients
        strategy = "ddp_find_unused_parameters_true"
    reporter = ProgressCallback(max_steps, start, progress_every_s)
    with _quiet_lightning():
        trainer = pl.Trainer(accelerator="gpu" if cuda else ("cpu" if accelerator == "auto"
                                                             else accelerator),
                             devices=devices, num_nodes=num_nodes, strategy=strategy,
                             precision=precision, max_steps=2 * max_steps, max_epochs=-1,
                             logger=loggers,
                             callbacks=[ckpt, reporter, RngStateCallback(), SaveOnSigterm(str(last))],
                             log_every_n_steps=max(1, log_every), enable_model_summary=False,
                             enable_progress_bar=False, deterministic=False, benchmark=cuda,
                             use_distributed_sampler=True, enable_checkpointing=True,
                             plugins=[atomic_checkpoint_io()])
        t0 = time.perf_counter()
        try:
            trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None,
                        weights_only=True if resume else None)
        except SystemExit as e:  # Lightning's answer to Ctrl-C (exit 1) and SIGTERM (exit 0)
            if not trainer.interrupted:
                raise
            raise interrupted(e, int(trainer.global_step) // 2, max_steps,
                              resume_iteration(last) if last.is_file() else None,
                              checkpoint_every, out, (extra_config or {}).get("manifest")) from None
        seconds = time.perf_counter() - t0
        trainer.save_checkpoint(str(last), weights_only=False)
    iterations = int(trainer.global_step) // 2
    if trainer.is_global_zero:
        warm = config.get("init_from")
        export_generator(module.g_ema, codec, out, crop_size=dm.crop_size,
                         um_per_px=dm.target_um_per_px,
                         extra={"iterations": iterations, "seed": seed,
                                "downscale": dm.downscale,
                                # calibrate-imaging fits on the same training split
                                "holdout": float(config.get("holdout") or 0.0),
                                **({"init_from": warm} if warm else {})})
    done = max(0, iterations - start)
    return {"run_dir": str(out), "iterations": iterations, "start_iteration": start,
            "seconds": round(seconds, 3),
            "images_per_s": round(done * dm.batch_size * n_proc / max(seconds, 1e-9), 2),
            "precision": precision, "generator": str(out / "generator.safetensors"),
            "world_size": trainer.world_size, "rank": trainer.global_rank}


def _same_codec(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two condition codecs (``to_dict`` form) have the same labels and normalisation."""
    return all(a.get(k) == b.get(k) for k in ("mode", "label_names", "names", "log")) and all(
        np.allclose(a[k], b[k], rtol=1e-6, atol=0) for k in ("mean", "std", "min", "max"))


def _warm_start(module: Any, init_from: str | Path, codec: Any) -> dict[str, Any]:
    """Copy a trained generator's weights into ``module`` (generator and EMA); returns what to
    record (the model given, its training iterations and the SHA-256 of its weights)."""
    import hashlib

    from shapekit.errors import ModelFormatError
    from shapekit.generate.export import WEIGHTS, load_generator
    from shapekit.generate.formats import trained_iterations
    from shapekit.registry import resolve

    folder = resolve(init_from, "generator")
    try:
        src = load_generator(folder, device="cpu")
    except ModelFormatError as e:
        raise InputError(f"init_from {init_from}: {e}") from None
    a, b = src.codec.to_dict(), codec.to_dict()
    if not _same_codec(a, b):
        raise InputError(f"init_from {init_from}: it was trained with other conditions "
                         f"({a['mode']}: {', '.join(a['label_names'] + a['names'])}) or on other "
                         "data (condition normalisation differs); fine-tune on its own manifest")
    # the margin is how fields are cut, not a weight: a model trained with one cell may be
    # fine-tuned with another; a detector may be added (it starts near noise-free) or dropped
    src_net, own_net = ({k: v for k, v in g.config().items() if k not in ("margin", "detector")}
                        for g in (src.generator, module.generator))
    if src_net != own_net:
        raise InputError(f"init_from {init_from}: its network {src_net} differs "
                         f"from this run's {own_net} (give the same channel widths)")
    own = module.generator.state_dict()
    state = {k: v for k, v in src.generator.state_dict().items() if k in own}
    state.update({k: v for k, v in own.items() if k not in state})   # a new detector as built
    module.generator.load_state_dict(state)
    module.g_ema.load_state_dict(state)
    sha = hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()
    return {"model": str(init_from), "iterations": trained_iterations(src.config), "sha256": sha}
