"""CLI commands that build a temper classifier: featurize (TopTemp features of a manifest's
images) and train-classifier (a model directory). The commands that use a model (classify,
evaluate, robustness, explain) are in :mod:`shapekit.cli.temper`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import (OutputPath, emit_json, info, json_option, ph_device_option,
                                  require_exists, root_option, seed_option)
from shapekit.errors import InputError, brief

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


def _check_model_out(out: Path) -> None:
    """Refuse, before training, a folder that holds other files and no shapekit model (a folder of
    scans given as --out by mistake): the model's files would be mixed with them, and a
    config.json of its own replaced. A new or empty folder, or an earlier model's, is fine."""
    if not out.is_dir():
        return
    from shapekit.io.jsonfile import load_json
    from shapekit.temper.modeldir import FORMAT

    cfg = out / "config.json"
    if cfg.is_file():
        try:
            ours = load_json(cfg, {"type": "object"}, what="config.json").get("format") == FORMAT
        except InputError:
            ours = False
        if ours:
            return
        raise InputError(f"--out {out}: its config.json is not a shapekit model's (not a shapekit "
                         "model directory); give a new or empty folder")
    if any(not p.name.startswith(".") for p in out.iterdir()):
        raise InputError(f"--out {out}: a folder with other files in it, not a shapekit model "
                         "directory; give a new or empty folder (or an earlier model's)")


def _check_tile_size(tile_size: int, scales: list[int] | None, preset: str | None) -> None:
    """Refuse, before any image is read, a tile too small to hold 2x2 pixels at its coarsest
    scale (TopTemp: the largest of ``scales``, else the preset's; the CNN, ``preset`` None: its
    input downsampling), and the CNN without a tile size (it crashed on the resize, exit 1)."""
    if preset is None:
        from shapekit.temper.train import CNN_DEFAULTS

        if not tile_size:
            raise InputError("--model cnn needs a tile size (--tile-size > 0; 0, one tile per "
                             "scan, is for the TopTemp models)")
        coarsest, flag = int(CNN_DEFAULTS["input_scale"]), "the CNN's input downsampling"
    else:
        from shapekit.temper.presets import feature_params

        coarsest = max(scales or feature_params(preset)["scales"])
        flag = f"its coarsest scale ({'--scales' if scales else 'the preset'}: {coarsest})"
    if tile_size and tile_size < 2 * coarsest:
        raise InputError(f"--tile-size {tile_size} is too small: a tile must keep 2x2 pixels at "
                         f"{flag}; give --tile-size {2 * coarsest} or more")


#: train-classifier options that only one kind of model uses (option -> the models that use it)
MODEL_ONLY = {"preset": ("--preset", "the TopTemp models (svm, logreg, xgboost)"),
              "scales": ("--scales", "the TopTemp models (svm, logreg, xgboost)"),
              "aggregation": ("--aggregation", "the TopTemp models (svm, logreg, xgboost)"),
              "augment": ("--augment", "the TopTemp models (svm, logreg, xgboost)"),
              "epochs": ("--epochs", "--model cnn")}


def _refuse_unused_options(ctx: click.Context, model: str) -> None:
    """Refuse an option given on the command line that the chosen --model would ignore."""
    from click.core import ParameterSource

    for name, (flag, users) in MODEL_ONLY.items():
        if (name == "epochs") == (model == "cnn"):
            continue
        if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                              ParameterSource.ENVIRONMENT):
            raise click.UsageError(f"{flag} applies to {users}, not --model {model}: leave it out "
                                   "or choose another --model")


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
    _check_tile_size(tile_size, scale_list, preset)
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
    _refuse_unused_options(click.get_current_context(), model)
    fp = None if scales is None else {"scales": _scales(scales)}
    _check_tile_size(tile_size, None if fp is None else fp["scales"],
                     None if model == "cnn" else preset)
    require_exists(manifest, "manifest")
    _check_model_out(out)
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


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    for cmd in (featurize_cmd, train_cmd):
        app.add_command(cmd)
