"""CLI command ``shapekit generate``: micrographs from a trained run or a shipped generator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from shapekit._device import passive_omp_threads
from shapekit.cli._common import (OutputPath, device_option, emit_json, info, json_option,
                                  seed_option, warn)
from shapekit.cli.signals import Terminated, sigterm_deferred, sigterm_raises
from shapekit.errors import InputError, Interrupted, ShapekitWarning, brief

if TYPE_CHECKING:
    from shapekit.generate.staging import Stage


#: latents (rows) a sweep's preview grid shows: matplotlib draws a cell in about 50 ms
PREVIEW_ROWS = 16


def register(app: click.Group) -> None:
    """Add this module's command to the application."""
    app.add_command(generate_cmd)


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
@click.option("--grid", type=OutputPath("file", suffix=".png"), default=None,
              help="Also write a grid PNG here, not directly in OUT (default for --sweep: "
                   "OUT/preview/sweep_grid.png), so that `shapekit score REAL OUT` sees only the "
                   "images.")
@click.option("--format", "fmt", type=click.Choice(["tif", "png"]), default="tif",
              show_default=True,
              help="tif: float32 TIFF with the pixel size in its resolution tags and the "
                   "conditions in its description; png: 8-bit, no scale.")
@click.option("--raw", is_flag=True, help="The network's output at the requested input, without "
              "the model's condition map (`shapekit calibrate-conditions`) and imaging stage "
              "(probe blur, shot noise, magnification and turn: `shapekit calibrate-imaging`).")
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
    so the columns of the grid show the effect of that condition alone. The same --seed, --n and
    --size give the same images; another --n or --size draws other ones (also for the first).
    """
    passive_omp_threads()  # before torch is imported
    from shapekit.generate.formats import parse_size
    from shapekit.registry import resolve

    if grid is not None and grid.resolve().parent == out.resolve():
        raise click.BadParameter(f"{grid} would lie among the images in --out, where `shapekit "
                                 "score` would read it as one more micrograph; write it elsewhere "
                                 f"(e.g. {out / 'preview' / grid.name})", param_hint="'--grid'")
    fixed = _parse_set(sets)
    sweep_spec = _parse_sweep(sweep) if sweep is not None else None
    hw = parse_size(size) if size is not None else None
    folder = resolve(model, "generator")
    if checkpoint is not None:
        _check_checkpoint_source(model, folder, checkpoint)
    if device is not None:  # an unknown or absent device: before the model loads (8 s)
        from shapekit._device import default_device

        default_device(device)
    try:  # a SIGTERM raises, so that _generate removes what it wrote (it ended the process at
        with sigterm_raises():  # once, leaving gen_* files without their conditions.csv)
            _generate(folder, n, out, hw, label, fixed, sweep_spec, grid, fmt, device, checkpoint,
                      seed, as_json, raw)
    except (Terminated, KeyboardInterrupt) as e:  # _generate removed what it wrote
        how, code = ("SIGTERM", 15) if isinstance(e, Terminated) else ("Ctrl-C", 2)
        raise Interrupted(f"stopped by {how}: no half-written set is left in {out}; run the same "
                          "command again", code) from None


def _check_checkpoint_source(model: str, folder: Path, checkpoint: str) -> None:
    """Refuse ``--checkpoint`` for a model that has no training checkpoints: a shipped model
    (its final generator only), or a folder without a run's ``checkpoints/``."""
    from shapekit.registry import pretrained_root

    if folder.resolve().parent == pretrained_root().resolve():
        raise InputError(f"--checkpoint {checkpoint}: {model} is a shipped model, which carries no "
                         "training checkpoints (only its final generator); --checkpoint samples a "
                         "run directory of `shapekit train-gan`, or leave it out")
    if not (folder / "checkpoints").is_dir() and not Path(checkpoint).is_file():
        raise InputError(f"--checkpoint {checkpoint}: {folder} holds no training checkpoints (no "
                         "checkpoints/ folder: not a run directory of `shapekit train-gan`)")
    from shapekit.generate.checkpoints import checkpoint_path

    checkpoint_path(folder, checkpoint)  # a wrong name: before the model loads


def _precheck(codec: dict, default_side: int, n: int, hw: tuple[int, int] | None,
              label: str | None, fixed: dict[str, float],
              columns: list[tuple[str, list[float]]]) -> None:
    """Refuse a bad label, condition or size from the model's condition codec (``to_dict`` form)."""
    import math

    from shapekit.io.budget import check_pixel_budget

    labels_known = [str(v) for v in codec["label_names"]]
    if label is not None and label not in labels_known:
        raise InputError(f"unknown label {brief(label)}; known labels: {', '.join(labels_known)}")
    for kind, name in [("condition", k) for k in fixed] + [("sweep condition", c[0]) for c in columns]:
        if name not in codec["names"]:
            known = ", ".join(codec["names"]) or "none (class-conditioned model)"
            raise InputError(f"unknown {kind} {brief(name)}; this model's conditions: {known}")
    log = dict(zip(codec["names"], codec.get("log") or [False] * len(codec["names"])))
    asked = [(k, v) for k, v in fixed.items()] + [(c[0], v) for c in columns for v in c[1]]
    for name, v in asked:  # as the sampler refuses them, before it loads
        if not math.isfinite(v):
            raise InputError(f"condition {name}={v!r} is not finite")
        if log[name] and v <= 0:
            raise InputError(f"condition {name}={v:g}: it is log-scaled and must be > 0")
    hw = hw or (default_side, default_side)
    n_images = n * max(1, len(columns[0][1]) if columns else 1)
    check_pixel_budget((n_images, *hw), f"generate --n {n}"
                       + (f" --sweep with {len(columns[0][1])} values" if columns else "")
                       + f" of {hw[1]}x{hw[0]} images")
    if columns:  # the grid's figure: a fixed size a cell, whatever the images' size
        from shapekit.generate.grid import labelled_grid_pixels

        rows, k = min(n, PREVIEW_ROWS), len(columns[0][1])
        check_pixel_budget(labelled_grid_pixels(rows, k),
                           f"the sweep's preview grid of {rows} latents x {k} values (give fewer "
                           "--sweep values)")


def _generate(folder: Path, n: int, out: Path, hw: tuple[int, int] | None, label: str | None,
              fixed: dict[str, float], sweep_spec: tuple[str, list[float]] | None,
              grid: Path | None, fmt: str, device: str | None, checkpoint: str | None,
              seed: int, as_json: bool, raw: bool = False) -> None:
    import contextlib
    import csv
    import io
    import shutil
    import warnings

    import numpy as np

    from shapekit.generate.formats import CONFIG, read_generator_config

    columns = [sweep_spec] if sweep_spec is not None else []
    if sweep_spec is not None and sweep_spec[0] in fixed:
        raise InputError(f"condition {brief(sweep_spec[0])} is given both by --set and by --sweep; "
                         "give it once")
    exported = checkpoint is None or (folder / CONFIG).is_file()
    if exported:  # everything the export's JSON can answer, before torch loads
        cfg = read_generator_config(folder)
        _precheck(cfg["conditions"], int(cfg.get("default_size") or 4 * int(cfg.get("crop_size", 64))),
                  n, hw, label, fixed, columns)

    from shapekit import _atomic
    from shapekit.generate.export import load_generator
    from shapekit.generate.grid import save_grid, save_image, save_labelled_grid
    from shapekit.generate.simlabels import simulator_labels

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
        asked, told = simulator_labels(gen.codec.to_dict(), label, fulls)
        for msg in told:
            warnings.warn(msg, ShapekitWarning, stacklevel=1)
        # no --label on a model the simulator labelled: the temper it makes at each setting
        tempers = asked if label is None and asked[0] is not None else None
        if tempers is not None:
            per_setting = [[t] * n for t in tempers]
            info("no --label: each image gets the temper the simulator that labelled this "
                 f"model's training images makes at its conditions ({', '.join(sorted(set(tempers)))})")
        else:
            per_setting = [[gen.label_names[i] for i in gen.labels_for(n, label, seed)]] * len(fulls)
        batches = [gen.sample(n, label=lab, conditions=full, seed=seed, size=hw, raw=raw)
                   for lab, full in zip(asked, fulls)]
    for msg in sorted({str(w.message) for w in caught}):
        warn(msg)
    # training images' pixels per generated pixel (train-gan --downscale): with no um/px, the
    # only scale these images have; `shapekit score` reads it back from conditions.csv
    downscale = gen.config.get("downscale")
    rows: list[dict] = []
    earlier = _listed(out / "conditions.csv")  # what an earlier run wrote here
    created = not out.exists()
    # this run's files are written into a hidden folder in OUT and moved into place only once
    # all are written: a failure or SIGTERM midway leaves an earlier run's set in OUT as it was
    # (it deleted the earlier images this run had already overwritten, still listed in the
    # earlier conditions.csv)
    stage: Stage | None = None
    made: list[Path] = []  # the grid's temporary file, and any folder made for it
    committed = False
    try:
        stage = _staging(out)
        for full, imgs, labels in zip(fulls, batches, per_setting):
            for i, im in enumerate(imgs):
                fname = f"gen_{len(rows):05d}.{fmt}"
                row = {"file": fname, "label": labels[i], **full, "seed": seed, "index": i,
                       "um_per_px": gen.um_per_px, "downscale": downscale}
                save_image(im, stage.path / fname, {**row, "model": str(folder)})
                rows.append(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        _atomic.write_text(stage.path / "conditions.csv", buf.getvalue())
        if columns and grid is None:
            grid = out / "preview" / "sweep_grid.png"
        grid_tmp = None if grid is None else _beside(grid, made)
        if grid is not None:  # renamed onto its name with the images: a failure keeps an older one
            if columns:  # the first PREVIEW_ROWS latents: a preview, drawn in bounded time
                name, values = columns[0]
                shown = min(n, PREVIEW_ROWS)
                stack = np.stack([b[:shown] for b in batches], axis=1)
                save_labelled_grid(stack.reshape(-1, *stack.shape[2:]), grid_tmp, nrows=shown,
                                   ncols=len(values),
                                   col_labels=[f"{name}={v:.4g}" + ("" if tempers is None else
                                                                   f"\n{t}")
                                               for v, t in zip(values, tempers or values)],
                                   row_labels=[str(r["label"]) if tempers is None else f"latent {i}"
                                               for i, r in enumerate(rows[:shown])],
                                   title=f"sweep of {name} (rows: same latent"
                                         + (f"; the first {shown} of {n})" if shown < n else ")"))
            else:
                save_grid(batches[0], grid_tmp, ncols=min(8, n))
        with sigterm_deferred():  # a SIGTERM or Ctrl-C now is answered once the set is in place
            # an earlier run's images that this one did not overwrite would be read with it (score)
            stale = _commit(stage.path, out, [r["file"] for r in rows], earlier,
                            None if grid is None else (grid_tmp, grid))
            committed = True
            stage.release()
    except BaseException:  # nothing half-written: OUT as it was (gone if this run made it)
        if not committed:
            if stage is not None:
                stage.remove()
            for p in reversed(made):  # the grid's file, then the folders made for it
                with contextlib.suppress(OSError):
                    if p.is_dir():
                        p.rmdir()
                    else:
                        p.unlink()
            if created:
                shutil.rmtree(out, ignore_errors=True)
        raise
    if stale:
        info(f"removed {len(stale)} images of an earlier run from {out} (listed in its conditions.csv)")
    scale = f"{gen.um_per_px:g} um/px" if gen.um_per_px else "the training scale (no um/px known)"
    if not gen.um_per_px and downscale and downscale != 1:
        scale = (f"1/{downscale:g} of the training images' pixel scale (no um/px known; score them "
                 f"against the training images with --real-um-per-px 1 --fake-um-per-px {downscale:g})")
    images = f"{len(rows)} image{'s' * (len(rows) != 1)} of {hw[1]}x{hw[0]} px"
    if fmt == "png" and gen.um_per_px:  # the files have no scale: say where it is
        info(f"wrote {images} and conditions.csv to {out}; PNGs carry no pixel size: the model's "
             f"{gen.um_per_px:g} um/px is recorded in conditions.csv only (give `shapekit score` "
             f"--fake-um-per-px {gen.um_per_px:g})")
    else:
        info(f"wrote {images} at {scale} and conditions.csv to {out}")
    if as_json:
        emit_json({"out": str(out), "n_images": len(rows), "width": hw[1], "height": hw[0],
                   "um_per_px": gen.um_per_px, "downscale": downscale, "grid": None if grid is None else str(grid),
                   "conditions": rows})


def _staging(out: Path) -> Stage:
    """A new hidden folder in ``out`` (made if need be) for this run's files, after removing those
    of earlier runs that were killed outright (:mod:`shapekit.generate.staging`): hidden, so that
    ``score``, ``ingest`` and ``classify`` (which read the images directly in a folder, not
    hidden ones) never take it for part of the set."""
    from shapekit.generate.staging import open_stage, remove_dead_stages

    removed, unknown = remove_dead_stages(out)
    if removed:
        info(f"removed {len(removed)} staging folder{'s' * (len(removed) > 1)} of generate runs "
             f"into {out} that were killed before they finished ({', '.join(p.name for p in removed)})")
    if unknown:
        warn(f"{out} holds {len(unknown)} hidden staging folder{'s' * (len(unknown) > 1)} over an "
             f"hour old ({', '.join(p.name for p in unknown)}) whose run cannot be checked from "
             "here (another machine or an older shapekit); delete them if no other generate is "
             "writing into this folder")
    return open_stage(out)


def _beside(path: Path, made: list[Path]) -> Path:
    """A new hidden file beside ``path`` (same suffix), to be renamed onto it; the folders made
    for it and the file itself are appended to ``made``."""
    import os
    import tempfile

    from shapekit.errors import OutputError, describe_os_error

    made.extend(reversed([d for d in [path.parent, *path.parent.parents] if not d.exists()]))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:64]}.", suffix=path.suffix,
                                   dir=path.parent)
    except OSError as e:
        raise OutputError(f"output {describe_os_error(e, path)}") from None
    os.close(fd)
    made.append(Path(tmp))
    return Path(tmp)


def _commit(stage: Path, out: Path, files: list[str], earlier: set[str],
            grid: tuple[Path, Path] | None) -> list[str]:
    """Move the staged ``files`` and conditions.csv from ``stage`` into ``out`` (and the grid's
    temporary file onto its name), remove the earlier run's images that were not replaced and
    the staging folder; returns those removed names."""
    import os
    import shutil

    for f in [*files, "conditions.csv"]:
        os.replace(stage / f, out / f)
    if grid is not None:
        os.replace(*grid)
    stale = sorted(earlier - set(files))
    for f in stale:
        (out / f).unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)
    return stale


def _listed(table: Path) -> set[str]:
    """The image files an earlier ``generate`` listed in ``table`` (its own ``gen_NNNNN`` names
    only; nothing when there is no such table or it cannot be read)."""
    import csv
    import re

    try:
        with open(table, newline="") as f:
            names = {str(r.get("file") or "") for r in csv.DictReader(f)}
    except (OSError, csv.Error, UnicodeDecodeError):
        return set()
    return {n for n in names if re.fullmatch(r"gen_\d{5}\.(tif|png)", n)}
