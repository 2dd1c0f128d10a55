"""Train the conditional GAN with a Lightning ``Trainer`` and export the EMA generator.

A run directory holds ``config.json`` (everything needed to rebuild data and model),
``conditions.json`` (label names, condition normalisation and ranges), ``checkpoints/``
(``step-*.ckpt`` every N iterations and ``last.ckpt``), ``logs/`` (CSV, and TensorBoard when it is
installed), ``samples/step_*.png`` grids, and finally ``generator.safetensors`` +
``generator.json``. ``resume=True`` continues from ``checkpoints/last.ckpt`` at the same global
step with the optimizer states restored (checkpoints are read with ``weights_only=True``).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from shapekit import _atomic
from shapekit.errors import InputError, ShapekitWarning

__all__ = ["train_gan", "fit_gan", "MODEL_DEFAULTS"]

MODEL_DEFAULTS: dict[str, Any] = dict(z_dim=128, g_channels=32, d_channels=32, max_channels=256,
                                      loss="hinge", r1_gamma=1.0, r1_every=4, lr_g=1e-4, lr_d=4e-4,
                                      beta1=0.0, beta2=0.99, ema_decay=0.999,
                                      diffaug="brightness,contrast,translation,cutout",
                                      aux_weight=1.0, ms_weight=0.1, upsample="bilinear")


def train_gan(manifest: str | Path, out: str | Path, *, condition: str = "class",
              image_size: int = 128, max_steps: int = 2000, batch_size: int = 16,
              root: str | Path | None = None, seed: int = 0, resume: bool = False,
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
    image_size, max_steps, batch_size, seed :
        Tile side (64-256 typical), training iterations (one D + one G update each), batch size
        per device, random seed.
    root : path, optional
        Data root overriding the manifest's.
    resume : bool
        Continue the run in ``out`` from its last checkpoint (its saved configuration is used;
        ``max_steps`` may be raised).
    **kwargs
        Passed to :func:`fit_gan` (devices, strategy, checkpoint_every, model settings ...).

    Returns
    -------
    dict
        Summary: iterations, seconds, images/s, paths.

    Examples
    --------
    >>> # train_gan("data/manifest.yaml", "runs/gan", condition="parameters", image_size=64)
    """
    from shapekit.generate.data import GANDataModule
    from shapekit.generate.nets import LEGACY_UPSAMPLE

    out = Path(out)
    if resume:
        cfg = _read_config(out)
        condition, image_size = cfg["condition"], cfg["image_size"]
        batch_size, seed = cfg["batch_size"], cfg["seed"]
        root = cfg.get("root") if root is None else root
        manifest = cfg["manifest"]
        # runs saved before the auxiliary heads / mode-seeking term / upsampling option existed
        # trained without them (nearest-neighbour upsampling)
        model = {"aux_weight": 0.0, "ms_weight": 0.0, "upsample": LEGACY_UPSAMPLE,
                 **cfg.get("model", {})}
        kwargs = {**model, **{k: v for k, v in kwargs.items() if k not in model}}
    dm = GANDataModule.from_manifest(manifest, condition, root, image_size=image_size,
                                     batch_size=batch_size, steps=max_steps, seed=seed,
                                     num_workers=kwargs.pop("num_workers", 0))
    return fit_gan(dm, out, max_steps=max_steps, seed=seed, resume=resume,
                   extra_config={"manifest": str(Path(manifest).resolve()),
                                 "root": None if root is None else str(root)}, **kwargs)




def _read_config(out: Path) -> dict[str, Any]:
    from shapekit.generate.formats import RUN_SCHEMA
    from shapekit.io.jsonfile import load_json

    p = out / "config.json"
    if not p.is_file():
        raise InputError(f"cannot resume: {p} not found (no earlier run in {out})")
    return load_json(p, RUN_SCHEMA, what="run config")


def fit_gan(dm: "GANDataModule", out: str | Path, *, max_steps: int = 2000,  # noqa: F821
            seed: int = 0, resume: bool = False, devices: int | str = 1, num_nodes: int = 1,
            strategy: str = "auto", accelerator: str = "auto", precision: str | None = None,
            checkpoint_every: int = 500, sample_every: int = 500, log_every: int = 10,
            channels_last: bool | None = None, compile: bool = False,
            extra_config: dict[str, Any] | None = None, progress: bool | None = None,
            **model_kwargs: Any) -> dict[str, Any]:
    """Fit the GAN on a ready :class:`~shapekit.generate.data.GANDataModule` (see :func:`train_gan`).

    ``accelerator="auto"`` uses CUDA when present (bf16 autocast, channels-last) and the CPU
    otherwise (fp32). ``devices``/``num_nodes``/``strategy`` go to Lightning unchanged, except
    that ``strategy="auto"`` with several processes selects DDP (gloo on CPU).
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
    if resume and not last.is_file():
        raise InputError(f"cannot resume: no checkpoint at {last}")
    if not resume and last.is_file():
        raise InputError(f"{out} already holds a run; pass --resume to continue it or choose "
                         "another --out")
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
    module = ConditionalGAN(image_size=dm.image_size, n_classes=len(codec.label_names),
                            n_cond=codec.n_cond, channels_last=channels_last, compile=compile,
                            sample_every=sample_every, **hp)
    out.mkdir(parents=True, exist_ok=True)
    config = {"condition": codec.mode, "image_size": dm.image_size, "batch_size": dm.batch_size,
              "seed": seed, "max_steps": max_steps, "target_um_per_px": dm.target_um_per_px
              if np.isfinite(dm.target_um_per_px) else None, "model": hp,
              **(extra_config or {})}
    if resume:
        config = {**_read_config(out), "max_steps": max_steps}
        dm.offset = _resume_iteration(last) * dm.batch_size
    _atomic.write_json(out / "config.json", config)
    _atomic.write_json(out / "conditions.json", codec.to_dict())

    module.sample_hook = _SampleWriter(out / "samples", dm, seed)
    loggers: list[Any] = [CSVLogger(str(out), name="logs")]
    try:
        from pytorch_lightning.loggers import TensorBoardLogger

        import tensorboard  # noqa: F401

        loggers.append(TensorBoardLogger(str(out), name="tb"))
    except ImportError:
        pass
    ckpt = ModelCheckpoint(dirpath=str(ckpt_dir), filename="iter-{iteration:07.0f}",
                           auto_insert_metric_name=False, save_last=True,
                           save_top_k=-1, every_n_train_steps=2 * max(1, checkpoint_every))
    n_proc = (int(devices) if str(devices).isdigit() else 1) * int(num_nodes)
    if (strategy == "auto" and n_proc > 1) or strategy == "ddp":
        # G and D are updated from separate backward passes with the other net's parameters
        # frozen (toggle_optimizer): DDP must look for parameters without gradients
        strategy = "ddp_find_unused_parameters_true"
    show = progress if progress is not None else None
    trainer = pl.Trainer(accelerator="gpu" if cuda else ("cpu" if accelerator == "auto"
                                                         else accelerator),
                         devices=devices, num_nodes=num_nodes, strategy=strategy,
                         precision=precision, max_steps=2 * max_steps, max_epochs=-1,
                         logger=loggers, callbacks=[ckpt], log_every_n_steps=max(1, log_every),
                         enable_model_summary=False, enable_progress_bar=bool(show),
                         deterministic=False, benchmark=cuda, use_distributed_sampler=True,
                         enable_checkpointing=True, plugins=[_atomic_checkpoint_io()])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*number of training batches.*")
        warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")
        warnings.filterwarnings("ignore", ".*no pre-optimization state was saved.*")
        # the tile stream resumes exactly (dm.offset above): Lightning's generic warning is moot
        warnings.filterwarnings("ignore", ".*your dataloader is not resumable.*")
        if resume:  # continuing a run: its checkpoint folder is meant to be there
            warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
        trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None,
                    weights_only=True if resume else None)
    seconds = time.perf_counter() - t0
    trainer.save_checkpoint(str(last), weights_only=False)
    iterations = int(trainer.global_step) // 2
    if trainer.is_global_zero:
        net = dict(image_size=dm.image_size, n_classes=len(codec.label_names), n_cond=codec.n_cond,
                   z_dim=hp["z_dim"], base_channels=hp["g_channels"],
                   max_channels=hp["max_channels"], upsample=hp["upsample"])
        export_generator(module.g_ema, codec, out, net=net, um_per_px=dm.target_um_per_px,
                         extra={"iterations": iterations, "seed": seed})
    done = max(0, iterations - (dm.offset // max(1, dm.batch_size) if resume else 0))
    return {"run_dir": str(out), "iterations": iterations, "seconds": round(seconds, 3),
            "images_per_s": round(done * dm.batch_size * n_proc / max(seconds, 1e-9), 2),
            "precision": precision, "generator": str(out / "generator.safetensors"),
            "world_size": trainer.world_size, "rank": trainer.global_rank}


def _atomic_checkpoint_io() -> Any:
    """Lightning CheckpointIO that writes through a temporary file + rename (never half-written)."""
    import torch
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                            storage_options: Any = None) -> None:
            with _atomic.atomic_path(path) as tmp:
                torch.save(checkpoint, str(tmp))

    return AtomicCheckpointIO()


def _resume_iteration(path: Path) -> int:
    import torch

    ck = torch.load(str(path), map_location="cpu", weights_only=True)
    return int(ck.get("global_step", 0)) // 2


class _SampleWriter:
    """Write a grid of EMA-generator samples (fixed latents) and, when available, a realism number."""

    def __init__(self, folder: Path, dm: Any, seed: int, n: int = 16) -> None:
        self.folder, self.dm, self.n = folder, dm, n
        rng = np.random.default_rng(seed)
        self.idx = rng.integers(0, len(dm.images), n)
        self.seed = seed

    def __call__(self, module: Any, iteration: int) -> None:
        import torch

        from shapekit.generate.grid import save_grid
        from shapekit.generate.module import to_unit

        g = torch.Generator().manual_seed(self.seed)
        z = torch.randn(self.n, module.hparams.z_dim, generator=g)
        labels = torch.as_tensor(self.dm.labels[self.idx])
        cond = torch.as_tensor(self.dm.cond[self.idx]) if self.dm.cond.shape[1] else None
        fake = to_unit(module.sample(labels, cond, z))
        save_grid(fake, self.folder / f"step_{iteration:07d}.png", ncols=4)
        value = _quick_realism(fake, self.dm, self.seed)
        if value is not None and module.logger is not None:
            module.logger.log_metrics({"realism": value}, step=int(module.global_step))


def _quick_realism(fake: np.ndarray, dm: Any, seed: int) -> float | None:
    """A quick topological realism number (shapekit.realism.TopologicalRealism) when installed."""
    try:
        from shapekit.realism import TopologicalRealism
    except ImportError:
        return None
    try:
        from shapekit.generate.data import TileDataset

        ds = TileDataset(dm.images, dm.labels, dm.cond, dm.image_size, len(fake), seed + 1,
                         augment=False)
        real = np.stack([(ds[i][0][0].numpy() + 1) / 2 for i in range(len(fake))])
        # rank 0 only: no cross-process synchronisation (the other ranks never call compute)
        metric = TopologicalRealism(sync_on_compute=False)
        metric.update(real=real, fake=fake)
        return float(metric.compute()["topological_distance"])
    except Exception as e:  # noqa: BLE001 - a logging extra must never stop training
        warnings.warn(f"realism logging skipped: {type(e).__name__}: {e}", ShapekitWarning)
        return None
