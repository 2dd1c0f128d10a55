"""CLI commands of the realism evaluator: ``shapekit score``."""

from __future__ import annotations

from pathlib import Path

import click

from shapekit.cli._common import (OutputPath, emit_json, generated_downscale, given, info,
                                  json_option, ph_device_option, require_exists, root_option,
                                  seed_option, warn)
from shapekit.errors import InputError


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a positive number, got {value}")
    return value


def _n_jobs(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value == 0 or value < -1:
        raise click.BadParameter(f"must be >= 1, or -1 for all cores; got {value}")
    return value


@click.command(name="score")
@click.argument("real", type=click.Path(path_type=Path))
@click.argument("fake", type=click.Path(path_type=Path))
@root_option
@json_option
@click.option("--mode", type=click.Choice(["both", "structure", "imaging"]), default="both", show_default=True,
              help="Which question to answer: structure (the material, with brightness, contrast, noise and "
                   "blur taken out), imaging (how it was imaged), or both (plus the combined headline).")
@click.option("--report", "report", type=OutputPath("dir"),
              default=None, help="Write report.html (verdict, thumbnails of both sets, tables, plots) and "
                                 "its PNGs to this folder.")
@click.option("--n-boot", type=click.IntRange(1, 100000), default=200, show_default=True,
              help="Bootstrap rounds (also the real-vs-real rounds).")
@click.option("--n-perm", type=click.IntRange(1, 100000), default=200, show_default=True,
              help="Permutation rounds of the p-value.")
@seed_option
@click.option("--kid-model", type=click.Path(path_type=Path), default=None,
              help="Local KID/FID extractor: a SmallResNet .safetensors (with <stem>.json) or a "
                   "shapekit CNN model dir. Without it KID is skipped; nothing is downloaded.")
@click.option("--metric", "diagram_metric", type=click.Choice(["wasserstein", "bottleneck"]),
              default="wasserstein", show_default=True,
              help="Diagram distance of the energy terms (GUDHI Hera W1 or bottleneck; modes "
                   "structure and both).")
@click.option("--real-um-per-px", type=float, default=None, callback=_positive,
              help="Pixel size of REAL in um (overrides the manifest and file metadata).")
@click.option("--fake-um-per-px", type=float, default=None, callback=_positive,
              help="Pixel size of FAKE in um (overrides the manifest and file metadata).")
@click.option("--real-label", default=None,
              help="Only REAL's images of this label (REAL a manifest with labels), e.g. the class "
                   "that FAKE was generated for.")
@click.option("--n-jobs", type=int, default=1, show_default=True, callback=_n_jobs,
              help="Worker processes (-1: all cores).")
@ph_device_option
def score_cmd(real: Path, fake: Path, root: Path | None, as_json: bool, mode: str, report: Path | None,
              n_boot: int, n_perm: int, seed: int, kid_model: Path | None, diagram_metric: str,
              real_um_per_px: float | None, fake_um_per_px: float | None, real_label: str | None,
              n_jobs: int, device: str | None) -> None:
    """Score micrographs FAKE against a reference set REAL: structure and imaging, separately.

    REAL and FAKE are each a manifest (.yaml) or a folder of images, named by the manifest's name
    or the folder's. Prints one sentence per question (structure, imaging, diversity; scale when
    the pixel sizes are unknown and the feature sizes differ), then the numbers: each distance
    with its real-vs-real baseline (random halves of REAL) and permutation p-value, and in mode
    both the combined topological distance of the raw images. With --kid-model, offline KID.
    Deterministic per --seed.
    """
    import warnings

    if mode == "imaging" and given("diagram_metric"):
        raise click.UsageError("--metric is the diagram distance of the structure and combined "
                               "scores; --mode imaging uses neither: leave it out or choose "
                               "--mode structure or both")
    require_exists(real, "REAL image set")
    require_exists(fake, "FAKE image set")
    for what, folder in (("REAL", real), ("FAKE", fake)):
        if report is not None and folder.is_dir() and report.resolve() == folder.resolve():
            raise click.BadParameter(
                f"{report} is {what}'s image folder: the report's PNGs would be read as micrographs "
                f"by the next score or classify of it; write it elsewhere (e.g. {report.name}-report)",
                param_hint="'--report'")
    if kid_model is not None:
        require_exists(kid_model, "--kid-model")
    from shapekit.realism.scoring import score

    if real_label is not None:
        from shapekit.io import open_image_set

        if real.is_dir():
            raise InputError("--real-label needs REAL to be a manifest with a label column, not a folder")
        real = open_image_set(real, root=root).of_label(real_label)
    extractor = None
    if kid_model is not None:
        from shapekit.temper.cnn import load_feature_extractor

        extractor = load_feature_extractor(kid_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collected in result["warnings"] and logged below
        res = score(real, fake, mode=mode, n_boot=n_boot, n_perm=n_perm, seed=seed, root=root,
                    real_um_per_px=real_um_per_px, fake_um_per_px=fake_um_per_px,
                    diagram_metric=diagram_metric, kid_extractor=extractor, report_dir=report,
                    n_jobs=n_jobs, device=device)
    down = generated_downscale(fake) if fake.is_dir() else None
    if down and real_um_per_px is None and fake_um_per_px is None and res.get("um_per_px") is None:
        res["warnings"].append(
            f"{fake} was generated at 1/{down:g} of its training images' pixel scale (downscale "
            f"{down:g} in its conditions.csv) and neither set has a pixel size, so the two were compared "
            f"pixel for pixel; if {res['names']['real']} is at the training images' scale (e.g. the training "
            f"manifest), score with --real-um-per-px 1 --fake-um-per-px {down:g}")
    for w in res["warnings"]:
        warn(w)
    if as_json:
        emit_json(res)
        return
    names = res["names"]
    info(f"{names['real']}: {res['n_real']} images (reference), {names['synthetic']}: {res['n_fake']} images")
    for line in res["verdict"]["lines"]:
        click.echo(line)
    click.echo("")
    for part in ("structure", "imaging"):
        b = res.get(part)
        if b:
            ci, rvr = b["ci"]["distance"], b["real_vs_real"]
            click.echo(f"{part + '_distance':22s}{b['distance']:.4f}  (95% CI {ci[0]:.4f}..{ci[1]:.4f}), "
                       f"baseline {rvr['mean']:.4f}, p = {b['p_value']:.4f}")
    if "topological_distance" in res:
        ci, rvr = res["ci"]["topological_distance"], res["real_vs_real"]
        click.echo(f"topological_distance  {res['topological_distance']:.4f}  (95% CI {ci[0]:.4f}..{ci[1]:.4f}), "
                   f"baseline {rvr['mean']:.4f}, p = {res['p_value']:.4f}  [combined, raw images]")
    cov = res.get("coverage")
    if cov:
        click.echo(f"coverage              {cov['coverage']:.3f} (expected if same {cov['expected_if_same']:.3f}), "
                   f"near-duplicates {cov['duplicate_fraction']:.2f}, diversity ratio {cov['diversity_ratio']:.3f}"
                   + ("  ** mode collapse **" if cov["collapsed"] else ""))
    if res["kid"] is not None:
        click.echo(f"KID                   {res['kid']['kid_mean']:.5f} +/- {res['kid']['kid_std']:.5f}")
    if report is not None:
        info(f"report written to {report / 'report.html'}")


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    app.add_command(score_cmd)
