"""CLI commands: ``shapekit train-gan`` and ``shapekit generate`` (the conditional GAN)."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit.cli._common import (OutputPath, device_option, emit_json, info, json_option,
                                  require_exists, root_option, seed_option)
from shapekit.errors import InputError, brief


def _image_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 16 or value & (value - 1):
        raise click.BadParameter(f"must be a power of two >= 16, got {value}")
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
@click.option("--image-size", type=click.IntRange(min=16), default=128, show_default=True,
              callback=_image_size, help="Tile side in pixels (power of two, 64-256 typical).")
@click.option("--max-steps", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Training iterations (one discriminator + one generator update each).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Batch size per device.")
@click.option("--devices", default="1", show_default=True, callback=_devices,
              help="Devices per node (an integer or 'auto'); >1 runs Lightning DDP.")
@click.option("--num-nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Nodes for multi-node DDP.")
@click.option("--strategy", default="auto", show_default=True,
              help="Lightning strategy (auto, ddp, ddp_spawn, ...).")
@click.option("--accelerator", type=click.Choice(["auto", "cpu", "gpu", "cuda", "mps", "tpu"]),
              default="auto", show_default=True,
              help="auto (CUDA when present, else CPU), cpu or gpu.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Save a checkpoint every N iterations (and always at the end).")
@click.option("--sample-every", type=click.IntRange(min=0), default=500, show_default=True,
              help="Write a sample grid PNG every N iterations (0: never).")
@click.option("--channels", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Base channel width of generator and discriminator.")
@click.option("--z-dim", type=click.IntRange(1, 4096), default=128, show_default=True,
              help="Latent dimension.")
@click.option("--r1-gamma", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="R1 penalty weight.")
@click.option("--loss", type=click.Choice(["hinge", "ns"]), default="hinge", show_default=True,
              help="Adversarial loss: hinge or non-saturating.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the networks (CUDA).")
@root_option
@seed_option
@json_option
def train_gan_cmd(manifest: Path, out: Path, condition: str, image_size: int, max_steps: int,
                  batch_size: int, devices: int | str, num_nodes: int, strategy: str, accelerator: str,
                  resume: bool, checkpoint_every: int, sample_every: int, channels: int,
                  z_dim: int, r1_gamma: float, loss: str, compile_: bool, root: Path | None,
                  seed: int, as_json: bool) -> None:
    """Train a conditional GAN on the images of MANIFEST.

    Random tiles at a common physical scale; conditions: temper class, plus the manifest's
    process parameters or properties. Writes checkpoints, CSV logs, sample grids and finally
    generator.safetensors + generator.json in --out.
    """
    from shapekit.io.budget import check_pixel_budget

    if not resume:
        require_exists(manifest, "manifest")
    check_pixel_budget((batch_size, image_size, image_size),
                       f"train-gan --batch-size {batch_size} --image-size {image_size}")
    from pytorch_lightning.strategies import StrategyRegistry

    from shapekit.generate.train import train_gan

    if strategy != "auto" and strategy not in StrategyRegistry:
        raise InputError(f"unknown --strategy {brief(strategy)}; known: auto, ddp, ddp_spawn, "
                         f"fsdp, ... ({len(StrategyRegistry)} in all, see Lightning's docs)")
    dev = devices
    model = {} if resume else dict(g_channels=channels, d_channels=channels, z_dim=z_dim,
                                   r1_gamma=r1_gamma, loss=loss)
    info(f"training a {condition}-conditioned GAN on {manifest} -> {out}")
    summary = train_gan(manifest, out, condition=condition, image_size=image_size,
                        max_steps=max_steps, batch_size=batch_size, root=root, seed=seed,
                        resume=resume, devices=dev, num_nodes=num_nodes, strategy=strategy,
                        accelerator=accelerator, checkpoint_every=checkpoint_every,
                        sample_every=sample_every, compile=compile_, **model)
    if summary.get("rank", 0) != 0:  # DDP worker processes stay quiet
        return
    if as_json:
        emit_json(summary)
    else:
        info(f"done: {summary['iterations']} iterations in {summary['seconds']:.1f} s "
             f"({summary['images_per_s']:.1f} images/s); generator in {out}")


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
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images to generate (per sweep value with --sweep).")
@click.option("--out", "out", required=True, type=OutputPath("dir"),
              help="Output folder for the images and conditions.csv.")
@click.option("--label", default=None, help="Temper class (default: drawn at random per image).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Fix a continuous condition (repeatable); others default to the training mean.")
@click.option("--sweep", default=None, metavar="NAME=LO:HI:K",
              help="Vary one condition over K values (same latents) and write a labelled grid.")
@click.option("--grid", type=OutputPath("file"), default=None,
              help="Also write a grid PNG here (default for --sweep: OUT/sweep_grid.png).")
@click.option("--format", "fmt", type=click.Choice(["png", "tif"]), default="png",
              show_default=True, help="Image file format.")
@device_option
@click.option("--checkpoint", default=None, metavar="NAME",
              help="Use this training checkpoint (e.g. iter-0007500, or a .ckpt path) instead of "
                   "the final generator.")
@seed_option
@json_option
def generate_cmd(run_dir: Path, n: int, out: Path, label: str | None, sets: tuple[str, ...],
                 sweep: str | None, grid: Path | None, fmt: str, device: str | None,
                 checkpoint: str | None, seed: int, as_json: bool) -> None:
    """Generate micrographs from a trained run directory for a temper and conditions.

    Writes OUT/gen_*.png (or .tif) and OUT/conditions.csv (file, label, every condition, seed).
    A sweep varies one condition over K evenly spaced values with the same latents, so the
    columns of the grid show the effect of that condition alone.
    """
    import csv
    import io
    import warnings

    import numpy as np

    from shapekit.generate.formats import read_generator_config
    from shapekit.io.budget import check_pixel_budget

    # everything that can be checked from the arguments and generator.json, before torch loads
    fixed = _parse_set(sets)
    columns: list[tuple[str, list[float]]] = []
    if sweep is not None:
        columns = [_parse_sweep(sweep)]
    cfg = read_generator_config(run_dir)
    codec = cfg["conditions"]
    labels_known = [str(v) for v in codec["label_names"]]
    if label is not None and label not in labels_known:
        raise InputError(f"unknown label {brief(label)}; known labels: {', '.join(labels_known)}")
    for kind, name in [("condition", n) for n in fixed] + [("sweep condition", c[0]) for c in columns]:
        if name not in codec["names"]:
            known = ", ".join(codec["names"]) or "none (class-conditioned model)"
            raise InputError(f"unknown {kind} {brief(name)}; this model's conditions: {known}")
    size = int(cfg["net"]["image_size"])
    n_images = n * max(1, len(columns[0][1]) if columns else 1)
    check_pixel_budget((n_images, size, size), f"generate --n {n}"
                       + (f" --sweep with {len(columns[0][1])} values" if columns else "")
                       + f" of {size}x{size} images")

    from shapekit import _atomic
    from shapekit.generate.export import load_generator
    from shapekit.generate.grid import save_grid, save_image, save_labelled_grid

    gen = load_generator(run_dir, device=device, checkpoint=checkpoint)
    settings = [dict(fixed)] if not columns else [{**fixed, columns[0][0]: v}
                                                  for v in columns[0][1]]
    rows, batches = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for cond in settings:
            full = gen.check_conditions(cond)
            imgs = gen.sample(n, label=label, conditions=full, seed=seed)
            labels = [gen.label_names[i] for i in gen.labels_for(n, label, seed)]
            batches.append(imgs)
            for i, im in enumerate(imgs):
                fname = f"gen_{len(rows):05d}.{fmt}"
                save_image(im, out / fname)
                rows.append({"file": fname, "label": labels[i], **full, "seed": seed,
                             "index": i})
    for msg in sorted({str(w.message) for w in caught}):
        info(f"warning: {msg}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    _atomic.write_text(out / "conditions.csv", buf.getvalue())
    if columns and grid is None:
        grid = out / "sweep_grid.png"
    if grid is not None:
        if columns:
            name, values = columns[0]
            stack = np.stack(batches, axis=1).reshape(-1, *batches[0].shape[1:])
            save_labelled_grid(stack, grid, nrows=n, ncols=len(values),
                               col_labels=[f"{name}={v:.4g}" for v in values],
                               row_labels=[str(r["label"]) for r in rows[:n]],
                               title=f"sweep of {name} (rows: same latent)")
        else:
            save_grid(batches[0], grid, ncols=min(8, n))
    info(f"wrote {len(rows)} images and conditions.csv to {out}")
    if as_json:
        emit_json({"out": str(out), "n_images": len(rows), "grid": None if grid is None else
                   str(grid), "conditions": rows})
