"""CLI commands: shapekit synth (the micrograph simulator)."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit.cli._common import OutputPath, emit_json, info, json_option, seed_option


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a positive number, got {value}")
    return value


@click.command(name="synth")
@click.option("--n", "n", type=click.IntRange(1, 10**6), required=True,
              help="Number of images to simulate (> 0).")
@click.option("--out", "out", required=True, type=OutputPath("dir"),
              help="Output folder: images/, labels.csv, manifest.yaml (created if needed).")
@seed_option
@click.option("--size", type=click.IntRange(min=32), default=256, show_default=True,
              help="Image side in pixels (>= 32; over-aged particles reach 12 px radius).")
@click.option("--um-per-px", "um_per_px", type=float, default=None, callback=_positive,
              help="Pixel size in micrometres  [default: 0.002]")
@click.option("--info-bar", is_flag=True, help="Append a black SEM info band with a scale bar.")
@click.option("--fields-per-sample", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per simulated sample (same conditions, new field of view).")
@click.option("--unbalanced", is_flag=True,
              help="Draw conditions uniformly over the domain instead of balancing the tempers.")
@json_option
def synth_cmd(n: int, out: Path, seed: int, size: int, um_per_px: float | None, info_bar: bool,
              fields_per_sample: int, unbalanced: bool, as_json: bool) -> None:
    """Simulate SEM micrographs of an aged alloy with known ground truth.

    Aging conditions (120-220 C, 0.1-100 h) are drawn so that under-, peak- and over-aged tempers
    are balanced; each image comes with its temper, hardness (HV) and realised area fraction,
    mean precipitate radius and number density. Writes OUT/images/*.png (16-bit), OUT/labels.csv
    and OUT/manifest.yaml (usable by every command that takes a manifest).
    """
    import time

    from shapekit.io.budget import check_pixel_budget

    check_pixel_budget((size, size), f"synth --size {size}")
    _check_out(out)
    from shapekit.synth import UM_PER_PX_DEFAULT, synthesize

    t0 = time.perf_counter()
    s = synthesize(n, out_dir=out, seed=seed, size=size, info_bar=info_bar,
                   um_per_px=UM_PER_PX_DEFAULT if um_per_px is None else um_per_px,
                   balanced=not unbalanced, fields_per_sample=fields_per_sample, keep_images=False)
    counts = {k: int(v) for k, v in s.table["temper"].value_counts().sort_index().items()}
    summary = {"n": len(s), "out": str(out), "manifest": str(s.manifest), "seed": seed,
               "size": size, "um_per_px": float(s.table["um_per_px"].iloc[0]),
               "info_bar": info_bar, "counts": counts,
               "hardness_HV": [float(s.table["hardness_HV"].min()),
                               float(s.table["hardness_HV"].max())],
               "seconds": round(time.perf_counter() - t0, 3)}
    if as_json:
        emit_json(summary)
    else:
        per = ", ".join(f"{k}: {v}" for k, v in counts.items())
        info(f"wrote {len(s)} images to {out} ({per}); manifest {s.manifest}")


def _check_out(out: Path) -> None:
    """Refuse, before simulating, a folder whose labels.csv or manifest.yaml synth did not write
    (a data set given as --out by mistake: they were overwritten); an earlier synth's is fine."""
    import yaml

    from shapekit.errors import InputError

    ours = False
    try:
        ours = yaml.safe_load((out / "manifest.yaml").read_text()).get("citation", "").startswith(
            "shapekit micrograph simulator")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        pass
    for name in ("labels.csv", "manifest.yaml"):
        if (out / name).exists() and not ours:
            raise InputError(f"--out {out}: its {name} was not written by synth (another data "
                             "set?) and would be replaced; give a new or empty folder")


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    app.add_command(synth_cmd)
