"""CLI commands: ``shapekit train-gan`` and ``shapekit generate`` (the conditional GAN)."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit._device import passive_omp_threads
from shapekit.cli._common import (OutputPath, device_option, emit_json, info, json_option,
                                  require_exists, root_option, seed_option)
from shapekit.errors import InputError, brief


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
    app.add_command(generate_cmd)


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
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
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
                   "(default 16).")
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
                  holdout: float, max_steps: int, batch_size: int, devices: int | str, num_nodes: int,
                  strategy: str,
                  accelerator: str, resume: bool, checkpoint_every: int, sample_every: int,
                  progress_every: float, channels: int, d_blocks: int, r1_gamma: float, loss: str,
                  fraction_weight: float | None, fraction_window: int | None,
                  fraction_map: str | None, two_point_weight: float | None,
                  two_point_lag: int | None, fraction_dual: float | None,
                  count_weight: float | None, shape_weight: float | None,
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
    from shapekit.io.budget import check_pixel_budget

    if not resume:
        require_exists(manifest, "manifest")
    elif twin_aux:
        raise click.UsageError("--twin-aux starts a new run; --resume keeps the run's "
                               "discriminator as it was trained")
    check_pixel_budget((batch_size, crop_size, crop_size),
                       f"train-gan --batch-size {batch_size} --crop-size {crop_size}")
    passive_omp_threads()  # before torch is imported
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
                       ("margin_cells", margin_cells)):
        if value is not None:
            model[key] = value
    if resume:
        info(f"continuing the run in {out} up to iteration {max_steps} "
             f"(samples in {out / 'samples'})")
    else:
        info(f"training a {condition}-conditioned GAN on {manifest} -> {out} "
             f"({max_steps} iterations; samples in {out / 'samples'})")
    summary = train_gan(manifest, out, condition=condition, crop_size=crop_size,
                        downscale=downscale, holdout=holdout, max_steps=max_steps, batch_size=batch_size,
                        root=root, seed=seed, resume=resume, devices=dev, num_nodes=num_nodes,
                        strategy=strategy, accelerator=accelerator,
                        checkpoint_every=checkpoint_every, sample_every=sample_every,
                        progress_every_s=progress_every, compile=compile_,
                        metric=_realism_metric(), **model)
    if summary.get("rank", 0) != 0:  # DDP worker processes stay quiet
        return
    if as_json:
        emit_json(summary)
    else:
        info(f"done: {summary['iterations']} iterations in {summary['seconds']:.1f} s "
             f"({summary['images_per_s']:.1f} images/s); generator in {out}")


def _realism_metric():
    """The topological realism distance of :mod:`shapekit.realism`, as the GAN's sample metric."""

    def metric(real, fake) -> float:
        from shapekit.realism import TopologicalRealism

        # rank 0 only: no cross-process synchronisation (the other ranks never call compute)
        m = TopologicalRealism(sync_on_compute=False)
        m.update(real=real, fake=fake)
        return float(m.compute()["topological_distance"])

    return metric


def _parse_set(items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--set {item!r}: {value!r} is not a number") from None
    return out


def _parse_sweep(text: str) -> tuple[str, list[float]]:
    import numpy as np

    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    if not sep or len(parts) != 3:
        raise InputError(f"--sweep expects NAME=LO:HI:K, got {text!r}")
    try:
        lo, hi, k = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise InputError(f"--sweep {text!r}: LO and HI must be numbers, K an integer") from None
    if k < 2 or k > 1000:
        raise InputError(f"--sweep {text!r}: K must be between 2 and 1000")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"--sweep {text!r}: LO and HI must be finite")
    return name.strip(), [float(v) for v in np.linspace(lo, hi, k)]


@click.command(name="generate")
@click.argument("model", metavar="RUN_OR_MODEL")
@click.option("--n", "n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images to generate (per sweep value with --sweep).")
@click.option("--out", "out", required=True, type=OutputPath("dir"),
              help="Output folder for the images and conditions.csv.")
@click.option("--size", default=None, metavar="N|WxH",
              help="Image size in pixels at the model's scale: 512 or 1024x768 (width x height). "
                   "Default: the model's (4x its training crop).")
@click.option("--label", default=None, help="Temper class (default: drawn at random per image).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Fix a continuous condition (repeatable); others default to the training mean.")
@click.option("--sweep", default=None, metavar="NAME=LO:HI:K",
              help="Vary one condition over K values (same latents) and write a labelled grid.")
@click.option("--grid", type=OutputPath("file"), default=None,
              help="Also write a grid PNG here (default for --sweep: OUT/preview/sweep_grid.png, "
                   "outside OUT itself so that `shapekit score REAL OUT` sees only the images).")
@click.option("--format", "fmt", type=click.Choice(["tif", "png"]), default="tif",
              show_default=True,
              help="tif: float32 TIFF with the pixel size in its resolution tags and the "
                   "conditions in its description; png: 8-bit, no scale.")
@click.option("--raw", is_flag=True, help="The network's output, without the model's imaging "
              "stage (probe blur and shot noise: `shapekit calibrate-imaging`).")
@device_option
@click.option("--checkpoint", default=None, metavar="NAME",
              help="Use this training checkpoint of a run (e.g. iter-0007500, or a .ckpt path) "
                   "instead of its final generator.")
@seed_option
@json_option
def generate_cmd(model: str, n: int, out: Path, size: str | None, label: str | None,
                 sets: tuple[str, ...], sweep: str | None, grid: Path | None, fmt: str, raw: bool,
                 device: str | None, checkpoint: str | None, seed: int, as_json: bool) -> None:
    """Generate micrographs from a trained run directory or a shipped model (`shapekit models`).

    Writes OUT/gen_*.tif (or .png) and OUT/conditions.csv (file, label, every condition, seed,
    pixel size). A sweep varies one condition over K evenly spaced values with the same latents,
    so the columns of the grid show the effect of that condition alone.
    """
    passive_omp_threads()  # before torch is imported
    from shapekit.generate.formats import parse_size
    from shapekit.registry import resolve

    fixed = _parse_set(sets)
    sweep_spec = _parse_sweep(sweep) if sweep is not None else None
    hw = parse_size(size) if size is not None else None
    folder = resolve(model, "generator")
    _generate(folder, n, out, hw, label, fixed, sweep_spec, grid, fmt, device, checkpoint,
              seed, as_json, raw)


def _precheck(codec: dict, default_side: int, n: int, hw: tuple[int, int] | None,
              label: str | None, fixed: dict[str, float],
              columns: list[tuple[str, list[float]]]) -> None:
    """Refuse a bad label, condition or size from the model's condition codec (``to_dict`` form)."""
    from shapekit.io.budget import check_pixel_budget

    labels_known = [str(v) for v in codec["label_names"]]
    if label is not None and label not in labels_known:
        raise InputError(f"unknown label {brief(label)}; known labels: {', '.join(labels_known)}")
    for kind, name in [("condition", k) for k in fixed] + [("sweep condition", c[0]) for c in columns]:
        if name not in codec["names"]:
            known = ", ".join(codec["names"]) or "none (class-conditioned model)"
            raise InputError(f"unknown {kind} {brief(name)}; this model's conditions: {known}")
    hw = hw or (default_side, default_side)
    n_images = n * max(1, len(columns[0][1]) if columns else 1)
    check_pixel_budget((n_images, *hw), f"generate --n {n}"
                       + (f" --sweep with {len(columns[0][1])} values" if columns else "")
                       + f" of {hw[1]}x{hw[0]} images")


def _generate(folder: Path, n: int, out: Path, hw: tuple[int, int] | None, label: str | None,
              fixed: dict[str, float], sweep_spec: tuple[str, list[float]] | None,
              grid: Path | None, fmt: str, device: str | None, checkpoint: str | None,
              seed: int, as_json: bool, raw: bool = False) -> None:
    import csv
    import io
    import shutil
    import warnings

    import numpy as np

    from shapekit.generate.formats import CONFIG, read_generator_config

    columns = [sweep_spec] if sweep_spec is not None else []
    exported = checkpoint is None or (folder / CONFIG).is_file()
    if exported:  # everything the export's JSON can answer, before torch loads
        cfg = read_generator_config(folder)
        _precheck(cfg["conditions"], int(cfg.get("default_size") or 4 * int(cfg.get("crop_size", 64))),
                  n, hw, label, fixed, columns)

    from shapekit import _atomic
    from shapekit.generate.export import load_generator
    from shapekit.generate.grid import save_grid, save_image, save_labelled_grid

    gen = load_generator(folder, device=device, checkpoint=checkpoint)
    if not exported:  # a run still training: its checkpoint's codec answers the same questions
        _precheck(gen.codec.to_dict(), gen.default_size[0], n, hw, label, fixed, columns)
    settings = [dict(fixed)] if not columns else [{**fixed, columns[0][0]: v}
                                                  for v in columns[0][1]]
    hw = hw or gen.default_size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # every setting is checked (log-scaled conditions > 0 included) and every image made
        # before the first file is written: a bad sweep value leaves nothing behind
        fulls = [gen.check_conditions(cond) for cond in settings]
        if gen.codec.n_cond:
            gen.codec.encode(np.array([[f[k] for k in gen.codec.names] for f in fulls]))
        labels = [gen.label_names[i] for i in gen.labels_for(n, label, seed)]
        batches = [gen.sample(n, label=label, conditions=full, seed=seed, size=hw, raw=raw)
                   for full in fulls]
    for msg in sorted({str(w.message) for w in caught}):
        info(f"warning: {msg}")
    rows: list[dict] = []
    created = not out.exists()
    written: list[Path] = []
    try:
        for full, imgs in zip(fulls, batches):
            for i, im in enumerate(imgs):
                fname = f"gen_{len(rows):05d}.{fmt}"
                row = {"file": fname, "label": labels[i], **full, "seed": seed, "index": i,
                       "um_per_px": gen.um_per_px}
                written.append(save_image(im, out / fname, {**row, "model": str(folder)}))
                rows.append(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        _atomic.write_text(out / "conditions.csv", buf.getvalue())
        written.append(out / "conditions.csv")
        if columns and grid is None:
            grid = out / "preview" / "sweep_grid.png"
        if grid is not None:  # the last write, atomic: a failure leaves an earlier grid as it was
            if columns:
                name, values = columns[0]
                stack = np.stack(batches, axis=1).reshape(-1, *batches[0].shape[1:])
                save_labelled_grid(stack, grid, nrows=n, ncols=len(values),
                                   col_labels=[f"{name}={v:.4g}" for v in values],
                                   row_labels=[str(r["label"]) for r in rows[:n]],
                                   title=f"sweep of {name} (rows: same latent)")
            else:
                save_grid(batches[0], grid, ncols=min(8, n))
    except BaseException:  # nothing half-written: this call's files go, and OUT if it made it
        for p in written:
            p.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    scale = f"{gen.um_per_px:g} um/px" if gen.um_per_px else "the training scale (no um/px known)"
    info(f"wrote {len(rows)} images of {hw[1]}x{hw[0]} px at {scale} and conditions.csv to {out}")
    if as_json:
        emit_json({"out": str(out), "n_images": len(rows), "width": hw[1], "height": hw[0],
                   "um_per_px": gen.um_per_px, "grid": None if grid is None else str(grid),
                   "conditions": rows})
