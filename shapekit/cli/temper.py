"""CLI commands of the temper classifier: featurize, train-classifier, classify, evaluate,
robustness, explain."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import (OutputPath, emit_json, info, json_option, ph_device_option,
                                  require_exists, root_option, seed_option, warn_generated_scale)
from shapekit.errors import InputError, ShapekitWarning, brief

MODEL_CHOICES = ("svm", "logreg", "xgboost", "cnn")


def _scales(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        vals = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--scales must be comma-separated integers, got {brief(text)}") from None
    if not vals or min(vals) < 1 or max(vals) > 1024 or len(vals) > 16:
        raise InputError(f"--scales must be 1 to 16 integers in 1..1024, got {brief(text)}")
    return vals


def _manifest_labels(model: Any, man: Any, manifest: Path) -> Any:
    import numpy as np

    if man.labels is None:
        raise InputError(f"{manifest}: the manifest has no label column; nothing to evaluate")
    unseen = sorted(set(man.labels.tolist()) - set(model.label_names))
    if unseen:
        raise InputError(f"{manifest}: label(s) {unseen} were not seen in training "
                         f"(model labels: {model.label_names})")
    return np.asarray([str(v) for v in man.labels])


def _manifest_images(man: Any, model: Any) -> list:
    from shapekit.temper.scans import read_manifest_images

    return read_manifest_images(man, model.target_um_per_px)


@click.command(name="featurize")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=OutputPath("file"),
              help="Output table: .parquet (one row per tile) or .npz.")
@root_option
@click.option("--tile-size", type=click.IntRange(min=0), default=256, show_default=True,
              help="Tile side in pixels (0: each image is one tile).")
@click.option("--preset", type=click.Choice(["robust", "accurate"]), default="robust",
              show_default=True, help="Feature parameters (see train-classifier).")
@click.option("--scales", default=None, help="Override the preset's PH downsampling factors, e.g. 1,2,4.")
@ph_device_option
@json_option
def featurize_cmd(manifest: Path, out: Path, root: Path | None, tile_size: int, preset: str,
                  scales: str | None, device: str | None, as_json: bool) -> None:
    """Compute multi-scale TopTemp tile features of every image of MANIFEST."""
    if out.suffix not in (".parquet", ".npz"):
        raise InputError(f"--out must end in .parquet or .npz, got {out}")
    scale_list = _scales(scales)
    import numpy as np

    from shapekit._atomic import atomic_path
    from shapekit.io import load_manifest
    from shapekit.temper.presets import feature_params, fitted_features
    from shapekit.temper.scans import read_manifest_images, scan_features

    man = load_manifest(manifest, root)
    params = feature_params(preset, **({} if scale_list is None else {"scales": scale_list}))
    images = read_manifest_images(man)
    features = fitted_features(params, device=device)
    per_scan = scan_features(images, tile_size or None, features, names=man.paths)
    X = np.concatenate(per_scan)
    scan = np.repeat(np.arange(len(per_scan)), [len(f) for f in per_scan])
    names = [str(n) for n in features.get_feature_names_out()]
    paths = np.asarray([str(p) for p in man.paths])[scan]
    labels = None if man.labels is None else man.labels[scan]
    groups = None if man.groups is None else man.groups[scan]
    with atomic_path(out) as tmp:
        if out.suffix == ".npz":
            extra = {k: v for k, v in (("label", labels), ("group", groups)) if v is not None}
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, X=X, feature_names=np.asarray(names), image=paths,
                                    scan=scan, **extra)
        else:
            import pandas as pd

            df = pd.DataFrame(X, columns=names)
            df.insert(0, "image", paths)
            df.insert(1, "scan", scan)
            if labels is not None:
                df.insert(2, "label", labels)
            if groups is not None:
                df.insert(3 if labels is not None else 2, "group", groups)
            df.to_parquet(tmp, index=False)
    info(f"wrote {len(X)} tiles x {X.shape[1]} features of {len(images)} images to {out}")
    if as_json:
        emit_json({"out": str(out), "images": len(images), "tiles": int(len(X)),
                   "features": int(X.shape[1])})


@click.command(name="train-classifier")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=OutputPath("dir"),
              help="Model directory to write.")
@click.option("--model", type=click.Choice(MODEL_CHOICES), default="svm", show_default=True,
              help="TopTemp + svm/logreg/xgboost, or the CNN baseline.")
@click.option("--preset", type=click.Choice(["robust", "accurate"]), default="robust",
              show_default=True,
              help="TopTemp features: 'robust' (smoothed, per-scale z-scored, min persistence, "
                   "degraded training copies) or 'accurate' (plain multi-scale PH).")
@root_option
@seed_option
@click.option("--tile-size", type=click.IntRange(min=0), default=256, show_default=True,
              help="Tile side in pixels (0: each image is one tile; TopTemp only).")
@click.option("--scales", default=None, help="PH downsampling factors, e.g. 1,2,4 (TopTemp).")
@click.option("--aggregation", type=click.Choice(["auto", "features", "proba"]), default="auto",
              show_default=True, help="Tile -> scan aggregation (auto: chosen by CV).")
@click.option("--augment", type=click.IntRange(0, 100), default=None,
              help="TopTemp: randomly degraded (blur/noise/JPEG) training copies per scan "
                   "(default: the preset's, 2 for robust, 0 for accurate).")
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True,
              help="CNN training epochs.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Threads for featurisation, cross-validation and the outside check (default: "
                   "every core available); the model does not depend on it.")
@json_option
def train_cmd(manifest: Path, out: Path, model: str, preset: str, root: Path | None, seed: int,
              tile_size: int,
              scales: str | None, aggregation: str, augment: int | None, epochs: int,
              jobs: int | None, as_json: bool) -> None:
    """Train a temper classifier on MANIFEST and write it to a model directory.

    TopTemp models also fit their "outside the training data" check (feature and grey-level
    distances, the feature-size range, conformal prediction sets) from the same scans.
    """
    fp = None if scales is None else {"scales": _scales(scales)}
    require_exists(manifest, "manifest")
    from shapekit.temper.train import train_model

    kwargs: dict[str, Any] = {"tile_size": tile_size or None, "n_jobs": jobs or -1}
    if model == "cnn":
        kwargs["cnn_options"] = {"epochs": epochs}
    else:
        kwargs.update({"feature_params": fp, "aggregation": aggregation, "augment": augment,
                       "preset": preset})
    m = train_model(manifest, model=model, root=root, seed=seed, **kwargs)
    m.save(out)
    cv = m.config.get("cv") or {}
    table = cv.get("table") or []
    info(f"trained {m!r} -> {out}")
    for row in table:
        info(f"  CV {row['aggregation']:9s} accuracy={row['accuracy']:.4f} macro_f1={row['macro_f1']:.4f}")
    t = m.config.get("training") or {}
    info(f"  trained in {t.get('wall_s', float('nan')):.0f} s wall, {t.get('cpu_s', float('nan')):.0f} s CPU "
         f"({t.get('n_jobs')} threads)")
    if as_json:
        emit_json({"model_dir": str(out), "kind": m.kind, "labels": m.label_names,
                   "aggregation": m.aggregation, "cv": table, "training": t})


def _check_model(model: Path) -> str:
    """Refuse a bad model (directory or shipped name) before heavy imports; its directory."""
    from shapekit.temper.modeldir import read_config, resolve_model

    read_config(model)
    return str(resolve_model(model))


def _print_verdict(r: dict[str, Any]) -> None:
    probs = " ".join(f"{k}={v:.3f}" for k, v in r["probabilities"].items())
    extra = ""
    if r.get("ood_score") is not None:
        extra = f"\tood={r['ood_score']:.2f}\tset={{{','.join(r['prediction_set'])}}}"
    click.echo(f"{r['image']}\t{r['temper']}\t{probs}\ttiles={r['tiles']}{extra}")
    for note in r.get("notes") or []:
        if note.startswith(("pixel size unknown", "pixel size conflict")):
            warnings.warn(f"{r['image']}: {note}", ShapekitWarning, stacklevel=1)
    _why_unknown(r)


def _why_unknown(r: dict[str, Any]) -> None:
    """For an "unknown" verdict: why, and what to do: every note (not only the "outside" ones,
    whose remedy, e.g. for a 12-bit scan, follows them), on stderr."""
    if r["temper"] == "unknown":
        for note in r.get("notes") or []:
            if not note.startswith(("pixel size unknown", "pixel size conflict")):  # warned
                info(f"  {r['image']}: {note}")


@click.command(name="classify")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", type=OutputPath("file"), default=None,
              help="Write one row per scan to this table (.csv or .parquet); an existing table is "
                   "resumed: scans already in it are skipped, failed ones retried.")
@click.option("--tiles", "tiles_out", type=OutputPath("file"), default=None,
              help="With --out: also write every tile's probabilities and coordinates here "
                   "(.parquet or .csv).")
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
    on stderr while the others are still classified (exit code 2 if any failed).
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
    from shapekit.temper.modeldir import load_model

    m = load_model(model_dir)
    if out is not None:
        from shapekit.cli._common import Terminated, sigterm_raises
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
    from shapekit.io.readers import check_readable_file

    results, failed = [], 0
    for p in paths:  # each scan on its own (as ingest): a bad one is an error line, the rest go on
        try:
            r = m.classify([str(check_readable_file(p))], um_per_px=um_per_px)[0]
        except (InputError, OSError) as e:
            if isinstance(e, OSError) and not is_user_os_error(e):
                raise
            failed += 1
            msg = describe_os_error(e, p) if isinstance(e, OSError) else str(e)
            click.echo(f"shapekit: error: {' '.join(msg.split())}", err=True)
            continue
        results.append(r)
        if not as_json:
            _print_verdict(r)
    if as_json and results:
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
    probabilities) of a model (directory or shipped name) on a labelled MANIFEST."""
    from shapekit.io import load_manifest
    from shapekit.temper.modeldir import load_model

    model_dir = _check_model(model_dir)
    man = load_manifest(manifest, root)
    from shapekit.temper.selection import misclassified, scores

    model = load_model(model_dir)
    y = _manifest_labels(model, man, manifest)
    proba = model.predict_proba(_manifest_images(man, model))
    res = scores(y, proba, model.label_names)
    res["misclassified"] = misclassified([str(p) for p in man.paths], y, proba, model.label_names)
    if plot is not None:
        from shapekit._atomic import save_figure
        from shapekit.temper.explain import plot_confusion

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
@click.option("--perturbation", "names", multiple=True,
              help="Only these perturbations (repeatable; default: all).")
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
    model = load_model(model_dir)
    y = _manifest_labels(model, man, manifest)
    res = robustness_table(model.predict, _manifest_images(man, model), y,
                           list(names) or None, seed)
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
    from shapekit.io.readers import check_readable_file

    model_dir = _check_model(model_dir)
    check_readable_file(image)
    from shapekit._atomic import save_figure
    from shapekit.temper.explain import explain_scan, plot_explanation, plot_tile_map
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
    for cmd in (featurize_cmd, train_cmd, classify_cmd, evaluate_cmd, robustness_cmd, explain_cmd):
        app.add_command(cmd)
