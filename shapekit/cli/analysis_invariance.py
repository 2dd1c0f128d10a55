"""CLI commands: ``shapekit analyze invariance|frequency|fibres|dna``.

* ``invariance MODEL_DIR IMAGES...``: empirical equivariance deviation of a temper model (CNN:
  output and hidden layers; TopTemp: class probabilities) under rot90/flips/rotation/...;
* ``frequency MODEL_DIR IMAGES...``: frequency sensitivity of a CNN model beside the images'
  power spectrum;
* ``fibres --target HV``: inverse design on the simulator (process settings reaching a hardness,
  both aging branches) with a Bundle Network;
* ``dna MANIFEST``: Dynamic Network Augmentation of a temper CNN on a labelled manifest (held-out
  accuracy without augmentation, with DNA and with a global range; rotation range per class).
"""

from __future__ import annotations

from pathlib import Path

import click

from shapekit.cli._common import (OutputPath, emit_json, info, json_option, model_path,
                                  require_exists, root_option, seed_option)


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


_size_option = click.option("--size", type=click.IntRange(8, 1024), default=128, show_default=True,
                            help="CNN input: centre square crop resized to SIZE pixels.")


def _image_paths(items: tuple[Path, ...], limit: int) -> list[Path]:
    from shapekit.errors import InputError
    from shapekit.io import IMAGE_SUFFIXES

    paths: list[Path] = []
    for item in items:
        require_exists(item, "image or folder")
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths.append(item)
    if not paths:
        raise InputError(f"no images found in {', '.join(map(str, items))}")
    return paths[:limit]


def _square_crops(paths: list[Path], size: int):
    """Centre square crop of each image, resized to ``size`` (area), as ``(N, 1, size, size)``."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    from shapekit.io.readers import read_image

    out = []
    for p in paths:
        img = read_image(p)[0]
        h, w = img.shape
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        t = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
        out.append(F.interpolate(t, size=(size, size), mode="area"))
    return torch.cat(out)


def _check_crops(n: int, size: int) -> None:
    from shapekit.io.budget import check_pixel_budget

    check_pixel_budget((n, size, size), f"{n} crops of {size}x{size} px")


def _read_config(model_dir: Path) -> dict:
    from shapekit.temper.modeldir import read_config

    return read_config(require_exists(model_dir, "model directory"))


def _load_temper(model_dir: Path):
    from shapekit.temper import load_model

    return load_model(require_exists(model_dir, "model directory"))


def _bar_plot(scores: dict[str, dict[str, float]], path: Path, title: str) -> None:
    from shapekit._mpl import headless

    headless()
    import matplotlib.pyplot as plt

    from shapekit._atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 3.5))
    groups = list(scores)
    layers = list(next(iter(scores.values())))
    width = 0.8 / max(len(groups), 1)
    for i, g in enumerate(groups):
        ax.bar([j + i * width for j in range(len(layers))], [scores[g][k] for k in layers], width,
               label=g)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], layers, rotation=30, ha="right")
    ax.set_ylabel("normalised EED (0 = invariant)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def register(analyze_app: click.Group) -> None:
    """Add this module's commands to the `analyze` sub-application."""

    @analyze_app.command("invariance")
    @click.argument("model_dir", type=click.Path(path_type=Path), callback=model_path)
    @click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
    @click.option("--group", "groups", multiple=True, default=("rot90", "flips", "rotation"),
                  show_default=True,
                  type=click.Choice(["rot90", "flips", "d4", "shift", "rotation", "intensity"]),
                  help="Transformation group(s); repeat the option for several.")
    @click.option("--layers", default="stem,stages.0,stages.1,stages.2", show_default=True,
                  help="CNN layers (module names, comma-separated; '' for the output only).")
    @_size_option
    @click.option("--max-images", type=click.IntRange(1, 10000), default=24, show_default=True,
                  help="Use the first N of IMAGES (folders in sorted order).")
    @click.option("--plot", type=OutputPath("file", suffix=".png"), default=None, help="Write a PNG bar chart.")
    @json_option
    def invariance_cmd(model_dir: Path, images: tuple[Path, ...], groups: tuple[str, ...],
                       layers: str, size: int, max_images: int, plot: Path | None,
                       as_json: bool) -> None:
        """Empirical equivariance deviation (arXiv 2210.03773) of a temper model on IMAGES.

        Scores are normalised by the mean distance between different images' features: 0 means
        invariant, about 1 means a transformation moves an image as far as swapping it for
        another. CNN models are scored at the output (logits) and at hidden layers; TopTemp models
        at their class probabilities (whole scans; continuous rotations are resampled).
        """
        paths = _image_paths(images, max_images)
        if len(paths) < 2:  # before loading the model and transforming anything
            from shapekit.errors import InputError

            raise InputError(f"invariance needs at least 2 images (scores are normalised by the "
                             f"distance between different images), got 1"
                             + (" (--max-images 1)" if max_images < 2 else ""))
        _check_crops(len(paths), size)
        _read_config(model_dir)
        import numpy as np
        import torch

        from shapekit.analysis.invariance import equivariance_deviation, prediction_flip_rate

        model = _load_temper(model_dir)
        result: dict = {"model": str(model_dir), "kind": model.kind, "n_images": len(paths),
                        "scores": {}, "flip_rate": {}}
        if model.kind == "cnn":
            from shapekit.analysis import resolve_layers

            net = model.network  # the layer names checked before any image is read
            names = resolve_layers(net, [n for n in layers.split(",") if n])
            x = _square_crops(paths, size)
            for g in groups:
                info(f"invariance: {g}")
                res = equivariance_deviation(net, x, g, layers=names)
                result["scores"][g] = {k: round(v.score, 5) for k, v in res.items()}
                result["flip_rate"][g] = prediction_flip_rate(net, x, g)
        else:
            from shapekit.analysis.invariance import eed_from_features, group_transforms
            from shapekit.io.readers import read_image

            scans = [torch.from_numpy(np.ascontiguousarray(read_image(p)[0]))[None, None]
                     for p in paths]

            def proba(t: torch.Tensor) -> torch.Tensor:
                return torch.as_tensor(model.predict_proba([t[0, 0].numpy()]), dtype=torch.float32)

            base = torch.cat([proba(t) for t in scans])
            for g in groups:
                info(f"invariance: {g}")
                ts = group_transforms(g)
                moved = [torch.cat([proba(t(s)) for s in scans]) for t in ts]
                res = eed_from_features(base, moved, [None] * len(ts), [t.name for t in ts])
                result["scores"][g] = {"output": round(res.score, 5)}
                result["flip_rate"][g] = float(np.mean(
                    [float((m.argmax(1) != base.argmax(1)).float().mean()) for m in moved]))
        if plot is not None:
            _bar_plot(result["scores"], plot, f"invariance of {model_dir.name}")
            result["plot"] = str(plot)
        if as_json:
            emit_json(result)
        else:
            for g, sc in result["scores"].items():
                click.echo(f"{g}: " + ", ".join(f"{k}={v:.3f}" for k, v in sc.items())
                           + f"  (prediction flip rate {result['flip_rate'][g]:.3f})")

    @analyze_app.command("frequency")
    @click.argument("model_dir", type=click.Path(path_type=Path), callback=model_path)
    @click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
    @_size_option
    @click.option("--max-images", type=click.IntRange(1, 10000), default=16, show_default=True,
                  help="Use the first N of IMAGES (folders in sorted order).")
    @click.option("--plot", type=OutputPath("file", suffix=".png"), default=None,
                  help="Write a PNG: radial sensitivity and power curves plus both 2-D maps.")
    @json_option
    def frequency_cmd(model_dir: Path, images: tuple[Path, ...], size: int, max_images: int,
                      plot: Path | None, as_json: bool) -> None:
        """Frequency sensitivity (arXiv 2210.01257) of a CNN temper model beside the data spectrum.

        Sensitivity at frequency k = mean gradient norm of the logits w.r.t. the orthonormal FFT
        coefficient k of the input; the power map is sqrt(E|x_hat - mean|^2) of the same crops.
        """
        from shapekit.errors import InputError

        paths = _image_paths(images, max_images)
        _check_crops(len(paths), size)
        kind = _read_config(model_dir)["kind"]
        if kind != "cnn":
            raise InputError(f"{model_dir}: frequency sensitivity needs a differentiable (CNN) "
                             f"model, this one is {kind!r}")
        from shapekit.analysis.frequency import frequency_report

        model = _load_temper(model_dir)
        x = _square_crops(paths, size)
        rep = frequency_report(model.network, x)
        out = {"model": str(model_dir), "n_images": int(x.shape[0]), "size": size,
               "freqs": rep["freqs"], "sensitivity": rep["sensitivity"], "power": rep["power"],
               "spearman_sensitivity_power": rep["spearman"],
               "power_exponent": rep["power_exponent"]}
        if plot is not None:
            from shapekit.analysis.plots import plot_frequency

            plot_frequency(rep, plot)
            out["plot"] = str(plot)
        if as_json:
            emit_json(out)
        else:
            click.echo(f"spearman(sensitivity, power) = {rep['spearman']:.3f}; data spectrum "
                       f"~ |k|^-{rep['power_exponent']:.2f}")

    @analyze_app.command("fibres")
    @click.option("--target", type=float, required=True, callback=_finite,
                  help="Target hardness (HV).")
    @click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=5.0,
                  show_default=True, callback=_finite,
                  help="Keep a sample when the simulator gives it within this many HV of the target.")
    @click.option("--n", "n_samples", type=click.IntRange(1, 100000), default=200, show_default=True,
                  help="Accepted settings to keep (more candidates are drawn from the fibre).")
    @click.option("--steps", type=click.IntRange(1, 10**6), default=2000, show_default=True,
                  help="Bundle Network training steps.")
    @click.option("--n-train", type=click.IntRange(16, 10**6), default=3000, show_default=True,
                  help="Simulator evaluations used for training.")
    @click.option("--plot", type=OutputPath("file", suffix=".png"), default=None,
                  help="PNG: samples over the true iso-hardness curve.")
    @click.option("--out", type=OutputPath("file"), default=None,
                  help="CSV of the accepted (temperature_C, time_h, hardness_HV, branch).")
    @seed_option
    @json_option
    def fibres_cmd(target: float, tolerance: float, n_samples: int, steps: int, n_train: int,
                   plot: Path | None, out: Path | None, seed: int, as_json: bool) -> None:
        """Inverse design: sample aging (temperature, time) reaching a TARGET hardness.

        A Bundle Network (arXiv 2110.06983) learns the many-to-one simulator map (T, t) ->
        hardness; its fibre over the target is sampled, checked against the simulator within
        the tolerance, and each kept sample is labelled under- or over-aged.
        """
        import numpy as np

        from shapekit._atomic import write_text
        from shapekit.analysis.fibres_design import (inverse_design, plot_inverse_design,
                                                     simulator_hardness)

        f = simulator_hardness()
        res = inverse_design(target, f, tolerance=tolerance, n_samples=n_samples, steps=steps,
                             n_train=n_train, seed=seed)
        summary = {k: res[k] for k in ("target", "tolerance", "n_under", "n_over", "acceptance",
                                       "window")}
        summary["n_accepted"] = int(len(res["branch"]))
        summary["samples"] = [{"temperature_C": round(float(a), 3), "time_h": round(float(b), 5),
                               "hardness_HV": round(float(c), 3), "branch": d}
                              for a, b, c, d in zip(res["temperature_C"], res["time_h"],
                                                    res["hardness"], res["branch"])]
        if out is not None:
            rows = ["temperature_C,time_h,hardness_HV,branch"] + [
                f"{s['temperature_C']},{s['time_h']},{s['hardness_HV']},{s['branch']}"
                for s in summary["samples"]]
            write_text(out, "\n".join(rows) + "\n")
        if plot is not None:
            plot_inverse_design(res, f, plot)
            summary["plot"] = str(plot)
        if as_json:
            emit_json(summary)
        else:
            click.echo(f"{summary['n_accepted']} settings within {tolerance:g} HV of {target:g} HV: "
                       f"{res['n_under']} under-aged, {res['n_over']} over-aged "
                       f"(acceptance {res['acceptance']:.2f})")
            if len(res["branch"]):
                click.echo(f"temperature {np.min(res['temperature_C']):.0f}-"
                           f"{np.max(res['temperature_C']):.0f} C, time {np.min(res['time_h']):.2g}-"
                           f"{np.max(res['time_h']):.2g} h")

    @analyze_app.command("dna")
    @click.argument("manifest", type=click.Path(path_type=Path))
    @root_option
    @click.option("--tile-size", type=click.IntRange(16, 1024), default=64, show_default=True,
                  help="Side of the random square tiles the CNN sees (pixels).")
    @click.option("--tiles-per-image", type=click.IntRange(1, 256), default=4, show_default=True,
                  help="Random tiles cut from each image.")
    @click.option("--max-images", type=click.IntRange(4, 10000), default=60, show_default=True,
                  help="Class-balanced subset of the manifest's images.")
    @click.option("--epochs", type=click.IntRange(1, 10000), default=10, show_default=True,
                  help="Training epochs of each of the three CNNs (none, DNA, global range).")
    @click.option("--width-weight", type=click.FloatRange(min=0), default=0.1, show_default=True,
                  callback=_finite, help="Weight of the augmentation-width reward.")
    @click.option("--plot", type=OutputPath("file", suffix=".png"), default=None,
                  help="PNG: learned rotation range per class.")
    @seed_option
    @json_option
    def dna_cmd(manifest: Path, root: Path | None, tile_size: int, tiles_per_image: int,
                max_images: int, epochs: int, width_weight: float, plot: Path | None, seed: int,
                as_json: bool) -> None:
        """Dynamic Network Augmentation (arXiv 2112.09277) of a temper CNN on a labelled MANIFEST.

        A small CNN is trained on random tiles of the images without augmentation, with a learned
        per-input augmentation policy (DNA) and with one learned global range (Augerino); prints
        the held-out tile accuracy of each (split by image) and the rotation range learned per
        class: how much rotation each temper tolerates.
        """
        from shapekit.io import load_manifest

        man = load_manifest(require_exists(manifest, "manifest"), root)
        from shapekit.analysis.dna_scans import dna_on_manifest

        res = dna_on_manifest(man, max_images=max_images, tile_size=tile_size,
                              tiles_per_image=tiles_per_image, epochs=epochs,
                              width_weight=width_weight, seed=seed)
        if plot is not None:
            from shapekit.analysis.plots import plot_dna_ranges

            plot_dna_ranges(res, plot)
            res["plot"] = str(plot)
        if as_json:
            emit_json(res)
        else:
            click.echo("test tile accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in res["accuracy"].items()))
            click.echo("per-class rotation range (deg): " + ", ".join(
                f"{k}: {v:.0f}" for k, v in res["dna_rotation_deg"].items())
                + f"; global range {res['global_rotation_deg']:.0f}")
