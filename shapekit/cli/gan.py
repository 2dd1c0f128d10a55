"""CLI command ``shapekit train-gan`` (the conditional GAN; ``generate`` is in :mod:`shapekit.cli.generate`)."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit._device import passive_omp_threads
from shapekit.cli._common import (OutputPath, emit_json, given, info, json_option,
                                  require_exists, root_option, seed_option)
from shapekit.errors import brief


#: Lightning's registered strategy names (``pytorch_lightning.strategies.StrategyRegistry``),
#: listed here so that a wrong name is refused before Lightning loads (several seconds);
#: tests/test_generate.py checks the list against the installed Lightning
STRATEGIES = frozenset({
    "auto", "ddp", "ddp_find_unused_parameters_false", "ddp_find_unused_parameters_true",
    "ddp_fork", "ddp_fork_find_unused_parameters_false", "ddp_fork_find_unused_parameters_true",
    "ddp_notebook", "ddp_notebook_find_unused_parameters_false",
    "ddp_notebook_find_unused_parameters_true", "ddp_spawn",
    "ddp_spawn_find_unused_parameters_false", "ddp_spawn_find_unused_parameters_true", "deepspeed",
    "deepspeed_stage_1", "deepspeed_stage_2", "deepspeed_stage_2_offload", "deepspeed_stage_3",
    "deepspeed_stage_3_offload", "deepspeed_stage_3_offload_nvme", "fsdp", "fsdp_cpu_offload",
    "single_device", "single_tpu", "single_xla", "xla", "xla_debug"})


def _strategy(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value not in STRATEGIES:
        raise click.BadParameter(f"unknown strategy {brief(value)}; known: auto, ddp, ddp_spawn, "
                                 f"ddp_fork, fsdp, deepspeed, ... ({len(STRATEGIES)} in all, "
                                 "Lightning's names)")
    return value


def _crop_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 16 or value % 8:
        raise click.BadParameter(f"must be a multiple of 8 and >= 16, got {value}")
    return value


def _devices(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"must be a positive integer or 'auto', got {value!r}")
    return int(value)


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    app.add_command(train_gan_cmd)


@click.command(name="train-gan")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=OutputPath("dir"),
              help="Run directory (checkpoints, logs, sample grids, exported generator).")
@click.option("--condition", type=click.Choice(["class", "parameters", "properties"]),
              default="class", show_default=True,
              help="Temper only, temper + the manifest's parameters, or temper + its properties.")
@click.option("--crop-size", "--image-size", "crop_size", type=int, default=64, show_default=True,
              callback=_crop_size, help="Side of the random training crops in pixels (a multiple of 8; 64-96 typical). "
                   "The trained generator makes images of any size.")
@click.option("--downscale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Train at this many times the manifest's median pixel size (or 1/N of the "
                   "pixels when it gives none); generated images have that scale.")
@click.option("--holdout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Keep this fraction of each class's images out of training (listed in "
                   "RUN/config.json) for evaluation.")
@click.option("--max-steps", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Training iterations (one discriminator + one generator update each).")
@click.option("--augment", type=click.Choice(["dihedral", "flips", "none"]), default="dihedral",
              show_default=True,
              help="Augmentation of the training crops: flips and 90-degree turns (for a "
                   "structure without a direction), flips only (keeps the scans' axes: a rolling "
                   "direction, or the raster's lean in real scans), or none.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Batch size per device.")
@click.option("--devices", default="1", show_default=True, callback=_devices,
              help="Devices per node (an integer or 'auto'); >1 runs Lightning DDP.")
@click.option("--num-nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes for multi-node DDP.")
@click.option("--strategy", default="auto", show_default=True, callback=_strategy,
              help="Lightning strategy (auto, ddp, ddp_spawn, ...).")
@click.option("--accelerator", type=click.Choice(["auto", "cpu", "gpu", "cuda", "mps", "tpu"]),
              default="auto", show_default=True,
              help="auto (CUDA when present, else CPU), cpu or gpu.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint, up to --max-steps, with "
                   "its own data, crops, batch, network and seed (another value is refused).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Save a checkpoint every N iterations (and always at the end).")
@click.option("--sample-every", type=click.IntRange(min=0), default=200, show_default=True,
              help="Write a sample grid PNG after the first iteration and every N (0: never).")
@click.option("--progress-every", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between progress lines when stderr is not a terminal.")
@click.option("--channels", type=click.IntRange(1, 4096), default=16, show_default=True,
              help="Base channel width of generator and discriminator.")
@click.option("--d-blocks", type=click.IntRange(1, 8), default=3, show_default=True,
              help="Downsampling blocks of the patch discriminator: each doubles the context it "
                   "judges (3 suits 64-px crops, 4 suits 128).")
@click.option("--r1-gamma", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="R1 penalty weight.")
@click.option("--loss", type=click.Choice(["hinge", "ns"]), default="hinge", show_default=True,
              help="Adversarial loss: hinge or non-saturating.")
@click.option("--fraction-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the phase-fraction term: each generated crop's bright-phase area "
                   "fraction should match the real crop of the same conditions (0: off, the "
                   "default; RESULTS.md section 6 tells what 1000 did on the simulator data). "
                   "With --resume it changes the run's weight from there on.")
@click.option("--fraction-window", type=click.IntRange(min=0), default=None,
              help="Neighbourhood (px) in which the phase-fraction term finds each particle's own "
                   "peak, as the simulator's measurement does (0: one half-maximum for the whole "
                   "crop, the default). With --resume it changes the run's setting from there on.")
@click.option("--fraction-map", type=click.Choice(["half_max", "measure", "exact"]), default=None,
              help="How the phase-fraction and two-point terms draw particles: half-way to the "
                   "crop's brightest (half_max, the default), at the levels of the simulator's "
                   "measurement (measure: Otsu on the flattened crop, noise rejection) or as the "
                   "measurement's own particle mask (exact, with measure's gradient). With "
                   "--resume it changes the run's setting from there on.")
@click.option("--two-point-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the two-point term: the two-point correlation of each generated "
                   "crop's particles (lags 0..--two-point-lag px; area fraction at lag 0, particle "
                   "size in its decay) should match the real crop's of the same conditions (0: "
                   "off, the default). With --resume it changes the run's weight from there on.")
@click.option("--two-point-lag", type=click.IntRange(min=1), default=None,
              help="Largest lag (px) of the two-point term, about the largest particle diameter "
                   "(default 16); only with the term on (--two-point-weight > 0, or the run's).")
@click.option("--fraction-dual", type=click.FloatRange(min=0), default=None,
              help="Step size of multipliers that hold the generated crops' mean phase fraction on "
                   "the real crops' per class and along the conditions, growing until the gap is "
                   "0 (0: off, the default). With --resume it changes the run's setting.")
@click.option("--count-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the particle-count term: each generated crop's measured particle "
                   "count (edge-corrected) should match the real crop's of the same conditions, "
                   "as a squared relative gap; it holds the number density, which the area terms "
                   "leave free (0: off, the default). With --resume it changes the run's weight.")
@click.option("--shape-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the particle-shape term: each generated crop's mean measured "
                   "particle elongation (major over minor axis) should match the real crop's of "
                   "the same conditions; it keeps area and count from being met with streaks "
                   "(0: off, the default). With --resume it changes the run's weight.")
@click.option("--lattice-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the lattice term: the fixed pattern that generated fields repeat in "
                   "every latent cell (8 px), squared, should be 0 (0: off, the default). With "
                   "--resume it changes the run's weight from there on.")
@click.option("--lattice-image-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the per-image lattice term: each generated field's own pattern in "
                   "its 8-px cells above what it draws at random (read at 7 and 9 px), which the "
                   "shared --lattice-weight term cannot see (0: off, the default). With --resume "
                   "it changes the run's weight from there on.")
@click.option("--margin-cells", type=click.IntRange(min=0, max=64), default=None,
              help="Latent cells generated beyond each side of a crop or image and cropped away "
                   "(default: the generator's reach, 6 cells, so crops are computed as a whole "
                   "image's interior; a training step costs 1.1-1.4x what 1 did; runs saved "
                   "without one keep 1). With --resume it changes the run's setting.")
@click.option("--twin-aux", is_flag=True,
              help="Add a twin auxiliary classifier (TAC-GAN): it learns the classes of generated "
                   "images and the generator is rewarded for its error, against the auxiliary "
                   "classifier's pull towards one easily classified look per class. New runs only.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the networks (CUDA).")
@root_option
@seed_option
@json_option
def train_gan_cmd(manifest: Path, out: Path, condition: str, crop_size: int, downscale: float,
                  holdout: float, max_steps: int, augment: str, batch_size: int,
                  devices: int | str, num_nodes: int, strategy: str,
                  accelerator: str, resume: bool, checkpoint_every: int, sample_every: int,
                  progress_every: float, channels: int, d_blocks: int, r1_gamma: float, loss: str,
                  fraction_weight: float | None, fraction_window: int | None,
                  fraction_map: str | None, two_point_weight: float | None,
                  two_point_lag: int | None, fraction_dual: float | None,
                  count_weight: float | None, shape_weight: float | None,
                  lattice_weight: float | None, lattice_image_weight: float | None,
                  margin_cells: int | None, twin_aux: bool,
                  compile_: bool,
                  root: Path | None, seed: int, as_json: bool) -> None:
    """Train a conditional GAN on the images of MANIFEST.

    Random crops at a common physical scale; conditions: temper class, plus the manifest's
    process parameters or properties. The generator is fully convolutional: trained on crops, it
    makes whole micrographs of any size. Prints progress (iterations, rate, ETA, losses), writes
    checkpoints, CSV logs, sample grids and finally generator.safetensors + generator.json in
    --out.
    """
    from shapekit.generate.checkpoints import check_run_dir, resume_point
    from shapekit.io.budget import check_pixel_budget

    _refuse_idle_two_point_lag(out, resume, two_point_weight, two_point_lag)
    if not resume:
        require_exists(manifest, "manifest")
        _check_manifest(manifest, root, condition, holdout)
    elif twin_aux:
        raise click.UsageError("--twin-aux starts a new run; --resume keeps the run's "
                               "discriminator as it was trained")
    check_run_dir(out, resume)  # an existing run, or none to resume: before the data loads
    if resume:
        _refuse_changed_settings(click.get_current_context(), out, manifest)
    check_pixel_budget((batch_size, crop_size, crop_size),
                       f"train-gan --batch-size {batch_size} --crop-size {crop_size}")
    passive_omp_threads()  # before torch is imported
    _check_accelerator(accelerator)
    if resume:  # a --max-steps below the run's iteration: before the data loads
        resume_point(out, max_steps)
    else:  # crops larger than a training image: from the headers, before the pixels are read
        from shapekit.generate.datasplit import check_crop_from_headers

        check_crop_from_headers(manifest, root, crop_size, downscale, holdout, seed)
    from shapekit.generate.train import train_gan

    dev = devices
    model = {} if resume else dict(g_channels=channels, d_channels=channels,
                                   d_blocks=d_blocks, r1_gamma=r1_gamma, loss=loss,
                                   twin_aux=twin_aux)
    # loss settings: given ones apply (also on --resume), omitted ones keep the run's
    for key, value in (("fraction_weight", fraction_weight), ("fraction_window", fraction_window),
                       ("fraction_map", fraction_map), ("two_point_weight", two_point_weight),
                       ("two_point_lag", two_point_lag), ("fraction_dual", fraction_dual),
                       ("count_weight", count_weight), ("shape_weight", shape_weight),
                       ("lattice_weight", lattice_weight),
                       ("lattice_image_weight", lattice_image_weight),
                       ("margin_cells", margin_cells)):
        if value is not None:
            model[key] = value
    grids = f"samples in {out / 'samples'}" if sample_every else "no sample grids"
    def announce() -> None:  # once train_gan has checked everything (it refused after it)
        if resume:
            info(f"continuing the run in {out} up to iteration {max_steps} ({grids})")
        else:
            info(f"training a {condition}-conditioned GAN on {manifest} -> {out} "
                 f"({max_steps} iterations; {grids})")

    summary = train_gan(manifest, out, condition=condition, crop_size=crop_size,
                        downscale=downscale, holdout=holdout, max_steps=max_steps, batch_size=batch_size,
                        root=root, seed=seed, resume=resume, augment=augment, devices=dev,
                        num_nodes=num_nodes,
                        strategy=strategy, accelerator=accelerator,
                        checkpoint_every=checkpoint_every, sample_every=sample_every,
                        progress_every_s=progress_every, compile=compile_,
                        metric=_realism_metric(), on_start=announce, **model)
    if summary.get("rank", 0) != 0:  # DDP worker processes stay quiet
        return
    start, end = summary["start_iteration"], summary["iterations"]
    if as_json:
        emit_json(summary)
    elif resume and end == start:
        info(f"nothing to train: the run was already at iteration {end} (--max-steps "
             f"{max_steps}); its generator was exported again to {out}")
    else:
        what = (f"{end} iterations" if not start else f"iteration {end}" if end == start + 1
                else f"iterations {start + 1}-{end}")
        info(f"done: {what} in {summary['seconds']:.1f} s "
             f"({summary['images_per_s']:.1f} images/s); generator in {out}")


#: options whose value a run keeps for good: --resume refuses another value (option -> how it is
#: found in the run's config.json)
FIXED_ON_RESUME = {"condition": ("--condition", ("condition",)),
                   "crop_size": ("--crop-size", ("crop_size",)),
                   "downscale": ("--downscale", ("downscale",)),
                   "holdout": ("--holdout", ("holdout",)),
                   "augment": ("--augment", ("augment",)),
                   "batch_size": ("--batch-size", ("batch_size",)),
                   "seed": ("--seed", ("seed",)),
                   "channels": ("--channels", ("model", "g_channels")),
                   "d_blocks": ("--d-blocks", ("model", "d_blocks")),
                   "r1_gamma": ("--r1-gamma", ("model", "r1_gamma")),
                   "loss": ("--loss", ("model", "loss"))}


def _refuse_changed_settings(ctx: click.Context, out: Path, manifest: Path) -> None:
    """Refuse a --resume whose command line gives another value than the run's for a setting
    that the run keeps (its data, network and crops: they were silently ignored); the same
    value, or none, is fine."""
    from click.core import ParameterSource

    from shapekit.generate.formats import RUN_DEFAULTS, RUN_SCHEMA
    from shapekit.io.jsonfile import check_json, load_json

    path = out / "config.json"
    cfg = {**RUN_DEFAULTS, **check_json(load_json(path, {"type": "object"}, what="run config"),
                                        RUN_SCHEMA, where=str(path), what="run config")}
    changed = []
    for name, (flag, keys) in FIXED_ON_RESUME.items():
        if ctx.get_parameter_source(name) not in (ParameterSource.COMMANDLINE,
                                                  ParameterSource.ENVIRONMENT):
            continue
        saved = cfg
        for k in keys:
            saved = saved.get(k) if isinstance(saved, dict) else None
        given = ctx.params[name]
        if saved is not None and given != saved:
            changed.append(f"{flag} {given} (the run's: {saved})")
    own = Path(cfg["manifest"])
    if manifest.is_file() and own.is_file() and not manifest.samefile(own):
        changed.append(f"manifest {manifest} (the run's: {own})")
    if changed:
        raise click.UsageError(f"--resume continues the run in {out} with its own settings, but "
                               f"{'; '.join(changed)}: give the run's, or start a new run with "
                               "another --out")


def _refuse_idle_two_point_lag(out: Path, resume: bool, weight: float | None,
                               lag: int | None) -> None:
    """Refuse a given --two-point-lag while the two-point term is off: the lag is used only with
    a weight > 0 (it was silently ignored). The weight is --two-point-weight or, on --resume, the
    run's saved ``model.two_point_weight`` (absent: 0); a config.json that cannot be read is
    left for the checks of the run to report."""
    if not given("two_point_lag"):
        return
    whose = "--two-point-weight 0" if weight is not None else "two-point weight 0, the default"
    if weight is None and resume:
        import json

        try:
            model = json.loads((out / "config.json").read_text()).get("model") or {}
            weight = float(model.get("two_point_weight") or 0.0)
            whose = "the run's two_point_weight 0"
        except (OSError, ValueError, TypeError, AttributeError):
            return
    if not (weight or 0.0) > 0:
        raise click.UsageError(f"--two-point-lag {lag} sets the two-point term, which is off "
                               f"({whose}): give --two-point-weight W > 0 with it, or leave it out")


def _check_manifest(manifest: Path, root: Path | None, condition: str, holdout: float) -> None:
    """Refuse, from the manifest alone (before its images are read), a --condition whose columns
    it does not declare and a --holdout that holds out a whole class (as the data module would,
    after reading them: ``shapekit.generate.data.holdout_split``'s rule)."""
    from collections import Counter

    from shapekit.io import load_manifest

    m = load_manifest(manifest, root=root)
    if condition != "class" and not getattr(m, condition):
        raise click.UsageError(f"{manifest}: --condition {condition} needs `{condition}` columns "
                               f"in the manifest, but it declares none")
    counts = Counter(m.labels.tolist()) if m.labels is not None else Counter({"all": len(m)})
    for name, n in sorted(counts.items()):
        if 0 < round(holdout * n) >= n:
            raise click.UsageError(f"--holdout {holdout} holds out all {n} images of class "
                                   f"{brief(str(name))}; give a smaller --holdout")


def _check_accelerator(accelerator: str) -> None:
    """Refuse an --accelerator this machine lacks before the data loads (Lightning said it after
    reading the data, as an internal error, exit 1, leaving a run folder without checkpoints)."""
    import importlib.util

    import torch

    if accelerator in ("gpu", "cuda", "mps"):
        mps = torch.backends.mps.is_available()
        if not ((accelerator != "mps" and torch.cuda.is_available()) or
                (accelerator in ("gpu", "mps") and mps)):
            raise click.UsageError(f"--accelerator {accelerator}: no such device on this machine "
                                   "(torch sees none); use --accelerator cpu, or auto (a GPU "
                                   "when present)")
    elif accelerator == "tpu" and importlib.util.find_spec("torch_xla") is None:
        raise click.UsageError("--accelerator tpu needs torch_xla, which is not installed; use "
                               "--accelerator cpu, or auto")


def _realism_metric():
    """The topological realism distance of :mod:`shapekit.realism`, as the GAN's sample metric."""

    def metric(real, fake) -> float:
        from shapekit.realism import TopologicalRealism

        # rank 0 only: no cross-process synchronisation (the other ranks never call compute)
        m = TopologicalRealism(sync_on_compute=False)
        m.update(real=real, fake=fake)
        return float(m.compute()["topological_distance"])

    return metric
