"""CLI commands that use a temper classifier: classify, evaluate, robustness, explain. The
commands that build one (featurize, train-classifier) are in :mod:`shapekit.cli.temper_train`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import (OutputPath, emit_json, given, info, json_option, root_option,
                                  seed_option, warn_generated_scale)
from shapekit.errors import InputError, ShapekitWarning, brief
from shapekit.temper.model import TRAINING_SCAN_NOTE


def _manifest_labels(model_dir: str, man: Any, manifest: Path) -> Any:
    """The manifest's labels, refused unless the model (its config: before it loads) knows them."""
    import numpy as np

    from shapekit.temper.modeldir import read_config

    if man.labels is None:
        raise InputError(f"{manifest}: the manifest has no label column; nothing to evaluate")
    names = [str(x) for x in read_config(model_dir)["label_names"]]
    unseen = sorted(set(man.labels.tolist()) - set(names))
    if unseen:
        raise InputError(f"{manifest}: label(s) {unseen} were not seen in training "
                         f"(model labels: {names})")
    return np.asarray([str(v) for v in man.labels])


def _manifest_images(man: Any, model: Any) -> list:
    from shapekit.temper.scans import read_manifest_images

    return read_manifest_images(man, model.target_um_per_px)


def _check_model(model: Path) -> str:
    """Refuse a bad model (directory or shipped name) before heavy imports; its directory."""
    from shapekit.temper.modeldir import read_config, resolve_model

    read_config(model)
    return str(resolve_model(model))


def _training_scans(model: Any, manifest: Path, images: list) -> int | None:
    """How many of MANIFEST's scans the model was trained on
    (:meth:`~shapekit.temper.model.TemperModel.training_scans`), with a one-line warning when
    any: figures on them are training-set figures (``evaluate`` read 1.0 on uhcs3), not new-scan
    accuracy. For models saved without the digests of their training scans, only the manifest
    the model was trained on is recognised (its config's ``source``, as a path or, when stored
    relative, as the trailing part of MANIFEST's path), and None is returned."""
    cfg = model.config
    rows = (cfg.get("cv") or {}).get("table") or []
    row = next((r for r in rows if r.get("aggregation") == cfg.get("aggregation")), None) or \
        max(rows, key=lambda r: r.get("accuracy", 0), default=None)
    cv = f" (its cross-validated accuracy: {row['accuracy']:.3f})" if row and "accuracy" in row else ""
    flags = model.training_scans(images)
    if flags is not None:
        k = int(sum(flags))
        if k:
            warnings.warn(f"{k} of {len(images)} scans of {manifest} are scans this model was "
                          f"trained on (identical pixels): figures on them are training-set "
                          f"figures, not what to expect on new scans{cv}; give scans it has not "
                          "seen", ShapekitWarning, stacklevel=2)
        return k
    source = Path(str(cfg.get("source") or ""))
    if not source.name:
        return None
    given = Path(manifest).resolve().parts
    if source.is_absolute():
        same = source.resolve().parts == given
    else:
        parts = [p for p in source.parts if p not in (".", "..")]
        same = len(parts) <= len(given) and list(given[-len(parts):]) == parts
    if same:
        warnings.warn(f"{manifest} is the manifest this model was trained on: these are figures on "
                      f"its training scans, not what to expect on new ones{cv}; give a manifest of "
                      "scans it has not seen", ShapekitWarning, stacklevel=2)
    return None


#: notes of a verdict that ``classify`` prints as warnings whatever the verdict
_WARNED = ("pixel size unknown", "pixel size conflict", TRAINING_SCAN_NOTE)


def _print_verdict(r: dict[str, Any]) -> None:
    probs = " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
    extra = ""
    if r.get("ood_score") is not None:
        from shapekit.temper.outside import over_limit

        v = r["ood_score"]  # just over the limit 1: never '1.00' beside "unknown"
        extra = f"\tood={over_limit(v) if v > 1 else f'{v:.2f}'}\tset={{{','.join(r['prediction_set'])}}}"
    click.echo(f"{r['image']}\t{r['temper']}\t{probs}\ttiles={r['tiles']}{extra}")
    for note in r.get("notes") or []:
        if note.startswith(_WARNED):
            warnings.warn(f"{r['image']}: {note}", ShapekitWarning, stacklevel=1)
    _why_unknown(r)


def _why_unknown(r: dict[str, Any]) -> None:
    """For an "unknown" verdict: why, and what to do: every note (not only the "outside" ones,
    whose remedy, e.g. for a 12-bit scan, follows them), on stderr."""
    if r["temper"] == "unknown":
        for note in r.get("notes") or []:
            if not note.startswith(_WARNED):  # warned
                info(f"  {r['image']}: {note}")


@click.command(name="classify")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", type=OutputPath("file"), default=None,
              help="Write one row per scan to this table (.csv or .parquet); an existing table is "
                   "resumed: scans already in it are skipped, failed ones retried.")
@click.option("--tiles", "tiles_out", type=OutputPath("file"), default=None,
              help="With --out: also write every tile's probabilities and coordinates (in the "
                   "file's pixels) here (.parquet or .csv).")
@click.option("--scheduler", default=None, envvar="DASK_SCHEDULER_ADDRESS", show_envvar=True,
              help="With --out: classify on this dask.distributed cluster (tcp://HOST:PORT).")
@click.option("--um-per-px", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pixel size of every scan in micrometres (beats the files' own).")
@json_option
def classify_cmd(model: Path, inputs: tuple[str, ...], out: Path | None, tiles_out: Path | None,
                 scheduler: str | None, um_per_px: float | None, as_json: bool) -> int | None:
    """Classify the temper of scans with MODEL (a shipped model's name, see `shapekit models`,
    or a model directory).

    INPUTS are image files, folders (their images) or glob patterns ('scans/**/*.tif'). Raw
    microscope files work: the info bar is cropped and the pixel size read from the file or its
    scale bar. A scan unlike anything the model was trained on gets temper "unknown". With --out
    the verdicts go to a table, one row per scan (failures as rows with their error), resumable
    after an interruption; without it, to stdout, and a scan that cannot be read is an error line
    on stderr while the others are still classified (exit code 2 if any failed); with --json it
    is also {"image", "error"} in its place in the list of verdicts.
    """
    if tiles_out is not None and out is None:
        raise InputError("--tiles needs --out (the per-scan table)")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--out must end in .csv or .parquet, got {brief(str(out))}")
    if tiles_out is not None and tiles_out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--tiles must end in .csv or .parquet, got {brief(str(tiles_out))}")
    if scheduler and out is None:
        raise InputError("--scheduler needs --out: distributed runs write a table")
    model_dir = _check_model(model)
    from shapekit.temper.batch import expand_inputs

    paths = expand_inputs(inputs)
    warn_generated_scale(paths, model)
    from shapekit.io.readers import check_image_file
    from shapekit.temper.modeldir import load_model

    def _image(p: Path) -> bool:
        try:
            check_image_file(p)
        except (InputError, OSError):
            return False
        return True

    # no input an image (from its header): their errors below come without loading the model
    m = load_model(model_dir) if out is not None or any(map(_image, paths)) else None
    if out is not None:
        from shapekit.cli.signals import Terminated, sigterm_raises
        from shapekit.errors import Interrupted
        from shapekit.temper.batch import classify_batch
        from shapekit.temper.modeldir import model_identity

        try:  # a stop (SIGTERM, Ctrl-C) writes the scans done since the last flush first
            with sigterm_raises():
                res = classify_batch(m, [str(p) for p in paths], out, model_ref=model_identity(model),
                                     tiles_out=tiles_out, um_per_px=um_per_px,
                                     scheduler=scheduler or None)
        except (Terminated, KeyboardInterrupt) as e:
            signum, name = (15, "SIGTERM") if isinstance(e, Terminated) else (2, "Ctrl-C")
            raise Interrupted(f"stopped by {name}: the scans classified so far are in {out}; run "
                              "the same command again to classify the rest", signum) from None
        info(f"{res['classified']} classified, {res['failed']} failed, {res['skipped']} already in "
             f"{out} ({res['seconds']:.1f} s)")
        if as_json:
            emit_json(res)
        return
    from shapekit.errors import describe_os_error, is_user_os_error

    results, failed = [], 0
    for p in paths:  # each scan on its own (as ingest): a bad one is an error line, the rest go on
        try:
            scan = str(check_image_file(p)[0])  # m is None only when no input passes this
            r = m.classify([scan], um_per_px=um_per_px)[0]
        except (InputError, OSError) as e:
            if isinstance(e, OSError) and not is_user_os_error(e):
                raise
            failed += 1
            msg = " ".join((describe_os_error(e, p) if isinstance(e, OSError) else str(e)).split())
            click.echo(f"shapekit: error: {msg}", err=True)
            results.append({"image": str(p), "error": msg})  # in --json's list too, in its place
            continue
        results.append(r)
        if not as_json:
            _print_verdict(r)
    if as_json:
        emit_json(results)
    if failed and len(paths) > 1:
        info(f"{failed} of {len(paths)} scans could not be classified (--out writes a table with "
             "a row per scan, failures included)")
    return 2 if failed else 0


@click.command(name="evaluate")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@root_option
@click.option("--plot", type=OutputPath("file", suffix=".png"), default=None,
              help="Also write the confusion matrix as a PNG here.")
@json_option
def evaluate_cmd(model_dir: Path, manifest: Path, root: Path | None, plot: Path | None,
                 as_json: bool) -> None:
    """Accuracy, macro-F1, confusion matrix and the misclassified files (with their
    probabilities) of a model (directory or shipped name) on a labelled MANIFEST.

    Scans the model was trained on (identical pixels, whatever their names) are counted
    (``training_scans`` in the JSON; null for models saved without their training digests) and
    named in a warning: figures on them are not what to expect on new scans."""
    from shapekit.io import load_manifest
    from shapekit.temper.modeldir import load_model

    model_dir = _check_model(model_dir)
    man = load_manifest(manifest, root)
    y = _manifest_labels(model_dir, man, manifest)
    from shapekit.temper.selection import misclassified, scores

    model = load_model(model_dir)
    images = _manifest_images(man, model)
    seen = _training_scans(model, manifest, images)
    proba = model.predict_proba(images)
    res = scores(y, proba, model.label_names)
    res["training_scans"] = seen
    res["misclassified"] = misclassified([str(p) for p in man.paths], y, proba, model.label_names)
    if plot is not None:
        from shapekit._atomic import save_figure
        from shapekit.temper.explainplot import plot_confusion

        save_figure(plot, plot_confusion(res["confusion"], model.label_names), dpi=100)
    if as_json:
        emit_json(res)
    else:
        click.echo(f"n={res['n']} accuracy={res['accuracy']:.4f} macro_f1={res['macro_f1']:.4f}")
        click.echo("confusion (rows: true " + ", ".join(res["labels"]) + "):")
        for row in res["confusion"]:
            click.echo("  " + " ".join(f"{v:5d}" for v in row))
        for r in res["misclassified"]:
            probs = " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
            click.echo(f"  wrong: {r['image']}\ttrue={r['true']}\tpredicted={r['predicted']}\t{probs}")


@click.command(name="robustness")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@root_option
@click.option("--perturbation", "names", multiple=True, metavar="NAME",
              help="Only this perturbation (repeatable; default: all): noise_0.02, noise_0.05, "
                   "noise_0.1, blur_1, blur_2, contrast_x0.8, contrast_x1.2, brightness_+0.1, "
                   "brightness_-0.1, rot90, jpeg_q30.")
@seed_option
@json_option
def robustness_cmd(model_dir: Path, manifest: Path, root: Path | None, names: tuple[str, ...],
                   seed: int, as_json: bool) -> None:
    """Accuracy of a model on clean and perturbed copies of a labelled MANIFEST.

    Perturbations: Gaussian noise sigma 0.02/0.05/0.1, blur sigma 1/2, contrast x0.8/x1.2,
    brightness +-0.1, rotation by 90 degrees, JPEG quality 30.
    """
    from shapekit.io import load_manifest
    from shapekit.temper.modeldir import load_model
    from shapekit.temper.robustness import PERTURBATIONS, robustness_table

    bad = [n for n in names if n not in PERTURBATIONS]
    if bad:
        raise InputError(f"unknown perturbation(s) {brief(bad)}; known: {', '.join(PERTURBATIONS)}")
    model_dir = _check_model(model_dir)
    man = load_manifest(manifest, root)
    y = _manifest_labels(model_dir, man, manifest)
    model = load_model(model_dir)
    images = _manifest_images(man, model)
    seen = _training_scans(model, manifest, images)
    res = robustness_table(model.predict, images, y, list(names) or None, seed)
    res["training_scans"] = seen
    if as_json:
        emit_json(res)
    else:
        click.echo(f"clean accuracy {res['clean']:.4f} (n={res['n']})")
        for k, v in res["accuracy"].items():
            click.echo(f"  {k:16s} {v:.4f}  drop {res['drop'][k]:+.4f}")


@click.command(name="explain")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=OutputPath("file", suffix=".png"),
              help="Overlay PNG to write.")
@click.option("--top", type=click.IntRange(min=1), default=300, show_default=True,
              help="Number of most important persistence pairs to draw.")
@click.option("--map", "tile_map", is_flag=True,
              help="Draw the per-tile verdict map over the scan instead of the pairs (any model).")
@click.option("--um-per-px", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pixel size of the scan in micrometres (beats the file's own).")
@json_option
def explain_cmd(model_dir: Path, image: Path, out: Path, top: int, tile_map: bool,
                um_per_px: float | None, as_json: bool) -> None:
    """Why MODEL (a directory or shipped name) gives IMAGE its temper, in physical terms.

    Draws the persistence pairs that drive the verdict where they are born (bright or dark
    particles, cells of a bright or dark network; sizes in micrometres where the pixel size is
    known; pairs cut by the scan's edge left out) beside the diagram of the most important block,
    or, with --map, each tile's verdict over the scan.
    """
    from shapekit.io.readers import check_image_file

    if tile_map and given("top"):
        raise click.UsageError("--top (the persistence pairs to draw) does not apply to --map, "
                               "which draws each tile's verdict instead: leave one out")
    model_dir = _check_model(model_dir)
    check_image_file(image)  # from its header, before the model loads (2-3 s)
    if out.is_file() and out.samefile(image):
        raise InputError(f"--out {out} is IMAGE itself: the figure would replace the scan; give "
                         "another --out")
    from shapekit._atomic import save_figure
    from shapekit.temper.explain import explain_scan
    from shapekit.temper.explainplot import plot_explanation, plot_tile_map
    from shapekit.temper.modeldir import load_model

    model = load_model(model_dir)
    ex = explain_scan(model, image, top=top, pairs=not tile_map, um_per_px=um_per_px)
    save_figure(out, plot_tile_map(ex) if tile_map else plot_explanation(ex))
    res = {**ex.summary(), "out": str(out)}
    if tile_map:
        res["tile_map"] = ex.verdict["tile_map"]
    info(f"wrote {out}")
    if as_json:
        emit_json(res)
    else:
        click.echo(f"{res['image']}\t{res['temper']}\t-> {res['out']}")
        for line in res["reading"]:
            click.echo(f"  {line}")
        _why_unknown(res)  # the verdict alone said "outside the training data", not why


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    for cmd in (classify_cmd, evaluate_cmd, robustness_cmd, explain_cmd):
        app.add_command(cmd)
