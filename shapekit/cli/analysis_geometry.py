"""CLI commands: ``shapekit analyze id|frames|cka|stitch|symmetry`` (representation geometry).

MODEL arguments are a temper CNN model directory (``shapekit train-classifier --model cnn``) or,
for ``id`` and ``frames``, a GAN run directory (``shapekit train-gan``), whose latent space is then
the input. Inputs of a CNN are the covering tiles of a manifest's images (``--max-images`` of them,
class-balanced). Results go to stdout as JSON with ``--json``; ``--plot`` writes a PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import (available_device_option, emit_json, given, info, json_option,
                                  model_path, root_option, seed_option)
from shapekit.cli.analysis_inputs import (checked_kind, cnn_inputs, default_layers, enough_tiles,
                                          images_option, layers_option, models_exist, plot_option,
                                          pyplot, save_plot, split, subset_of, tiles_option,
                                          two_cnns, two_models)

_device_option = available_device_option


@click.command("id", context_settings={"max_content_width": 100})
@click.argument("model_dir", type=click.Path(path_type=Path), callback=model_path)
@click.argument("manifest", type=click.Path(path_type=Path), required=False)
@layers_option
@click.option("--methods", default="twonn,mle,lpca", show_default=True, help="ID estimators.",
              callback=subset_of("twonn", "mle", "lpca"))
@click.option("--k", "k", type=click.IntRange(2, 1000), default=20, show_default=True,
              help="Neighbours of the MLE.")
@click.option("--k-lpca", "k_lpca", type=click.IntRange(2, 10000), default=100, show_default=True,
              help="Neighbours of each point's local PCA (it shows at most k_lpca - 1 dimensions).")
@click.option("--n", "n_latent", type=click.IntRange(4, 100000), default=500, show_default=True,
              help="Latent samples per class (generators).")
@images_option
@tiles_option
@root_option
@seed_option
@_device_option
@plot_option
@json_option
def id_cmd(model_dir: Path, manifest: Path | None, layers: str | None, methods: str, k: int,
           k_lpca: int, n_latent: int, max_images: int, tiles_per_image: int, root: Path | None,
           seed: int, device: str | None, plot: Path | None, as_json: bool) -> None:
    """Intrinsic dimension (TwoNN, MLE, local PCA) of each layer's activations, per class.

    For a CNN model directory the inputs are tiles of MANIFEST's images grouped by label; for a GAN
    run directory they are latent samples, one point cloud per temper class, any continuous
    conditions at the centre of their training range (MANIFEST unused).

    TwoNN and MLE are global; local PCA is the mean over points of the PCA dimension (variances
    above 5% of the largest) of each point's --k-lpca nearest neighbours, so points on pieces of
    different dimension each count their own.

    Each row reports the k the MLE used and the k_lpca of local PCA (each at most the group's
    points - 1). An estimate above the dimensions the group's points can span (points - 1) is
    reported as nan, one above the layer's width is kept; both with a note (stderr; "note" in the
    JSON rows).
    """
    models_exist(model_dir, manifest)
    if checked_kind(model_dir) == "cnn":  # before the model loads and the images are tiled
        enough_tiles(manifest, root, max_images, tiles_per_image, 3, "intrinsic dimension")
    import torch

    from shapekit.analysis import layer_intrinsic_dimension, resolve_layers
    from shapekit.analysis.sources import ConditionedGenerator, latent_inputs, load_torch_model

    model = load_torch_model(model_dir)
    meths = split(methods) or []
    rows: list[dict[str, Any]] = []
    if model.kind == "cnn":
        names = resolve_layers(model.net, split(layers) or default_layers("cnn", model.net))
        x, labels, _ = cnn_inputs(model, manifest, root, max_images, tiles_per_image, seed)
        rows = layer_intrinsic_dimension(model.net, x, names, groups=labels, methods=meths, k=k,
                                         k_lpca=k_lpca, device=device)
    else:
        names = ["net." + n for n in resolve_layers(  # the generator's own names, unwrapped
            model.net, split(layers) or default_layers("generator", model.net))]
        torch.manual_seed(seed)  # the generator's noise inputs
        z = latent_inputs(model, n_latent, seed)
        for c, lab in enumerate(model.label_names):
            wrapped = ConditionedGenerator(model.net, c, cond=model.cond)
            for r in layer_intrinsic_dimension(wrapped, z, names, methods=meths, k=k,
                                               k_lpca=k_lpca, device=device):
                rows.append({**r, "layer": r["layer"].removeprefix("net."), "group": lab})
    result = {"model": str(model_dir), "kind": model.kind, "k_requested": k,
              "k_lpca_requested": k_lpca, "rows": rows}
    if plot is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        layer_order = list(dict.fromkeys(r["layer"] for r in rows))
        for g in dict.fromkeys(r["group"] for r in rows):
            for m in [m for m in meths if m != "lpca"]:
                ys = [next(r[m] for r in rows if r["layer"] == l and r["group"] == g) for l in layer_order]
                ax.plot(range(len(layer_order)), ys, marker="o", label=f"{g} {m}")
        ax.set_xticks(range(len(layer_order)), layer_order, rotation=45, ha="right")
        ax.set_ylabel("intrinsic dimension")
        ax.legend(fontsize=7)
        save_plot(fig, plot)
    if as_json:
        emit_json(result)
    else:
        for r in rows:
            vals = " ".join(f"{m}={r[m]:.2f}" for m in meths)
            kk = "".join(f" {c}={int(r[c])}" for c in ("k", "k_lpca") if c in r)
            click.echo(f"{r['layer']:<24} {r['group']:<18} n={int(r['n_points']):<6} {vals}{kk}")
    notes = [(r, part) for r in rows if r.get("note") for part in r["note"].split("; ")]
    n_nan, more = sum("set to NaN" in part for _, part in notes), \
        "a larger --n" if model.kind == "generator" else "more --max-images/--tiles-per-image"
    if n_nan:
        info(f"note: {n_nan} estimate(s) above n - 1, the dimensions their n points can span, are "
             f"nan: too few points ({more}); the values are in the --json rows' notes")
    n_low = sum(part.startswith("lpca ") for _, part in notes)
    if n_low:
        info(f"note: {n_low} local PCA estimate(s) from fewer than 2.5 neighbours per dimension read "
             f"low: more points ({more}) or a larger --k-lpca")
    for r, part in notes:
        if "set to NaN" not in part and not part.startswith("lpca "):
            info(f"note: {r['layer']}, {r['group']}: {part}")


@click.command("frames", context_settings={"max_content_width": 100})
@click.argument("model_dir", type=click.Path(path_type=Path), callback=model_path)
@click.argument("manifest", type=click.Path(path_type=Path), required=False)
@layers_option
@click.option("--kinds", default="rotation,translation,blur,noise", show_default=True,
              help="Perturbations (rotation, translation, blur, scale, noise); generators: latent.",
              callback=subset_of("rotation", "translation", "blur", "scale", "noise", "latent"))
@click.option("--n-noise", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Random noise directions.")
@click.option("--n-inputs", type=click.IntRange(1, 10000), default=4, show_default=True,
              help="Tiles (or latent points) the frames are averaged over.")
@images_option
@root_option
@seed_option
@_device_option
@plot_option
@json_option
def frames_cmd(model_dir: Path, manifest: Path | None, layers: str | None, kinds: str, n_noise: int,
               n_inputs: int, max_images: int, root: Path | None, seed: int, device: str | None,
               plot: Path | None, as_json: bool) -> None:
    """Neural frames: per-layer gain of perturbation directions relative to random noise (JVPs).

    For a CNN, frames of rotation/translation/blur/noise at tiles of MANIFEST; for a generator,
    frames of the latent coordinate directions against random latent directions.
    """
    models_exist(model_dir, manifest)
    if checked_kind(model_dir) == "cnn":  # before the model loads
        if manifest is None:
            raise click.UsageError("a CNN model directory needs a MANIFEST of images")
        if "latent" in (split(kinds) or []):
            raise click.BadParameter("latent directions are a generator's; a CNN's kinds are "
                                     "rotation, translation, blur, scale, noise",
                                     param_hint="'--kinds'")
    elif given("kinds") and set(split(kinds) or []) - {"latent"}:
        other = ", ".join(k for k in split(kinds) or [] if k != "latent")
        raise click.BadParameter(f"{other}: a generator's frames are its latent directions "
                                 "(--kinds latent); the image perturbations are a CNN's",
                                 param_hint="'--kinds'")
    from shapekit.analysis.runners import run_frames

    result = run_frames(model_dir, manifest, split(layers), split(kinds) or [], n_noise,
                        n_inputs, max_images, root, seed, device)
    if plot is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        order = [r["layer"] for r in result["layers"]]
        for kind in result["kinds"]:
            ax.plot(range(len(order)), [r["relative_norm"][kind] for r in result["layers"]],
                    marker="o", label=kind)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        from shapekit.analysis.plots import readable_log_axis

        readable_log_axis(ax.yaxis)  # a narrow range read '9.5x10^-1'
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
        ax.set_ylabel("frame norm / noise norm")
        ax.legend(fontsize=7)
        save_plot(fig, plot)
    if as_json:
        emit_json(result)
    else:
        for r in result["layers"]:
            vals = " ".join(f"{k}={v:.3g}" for k, v in r["relative_norm"].items())
            click.echo(f"{r['layer']:<24} rank={r['rank']:<3} {vals}")



@click.command("cka", context_settings={"max_content_width": 100})
@click.argument("model_a", type=click.Path(path_type=Path), callback=model_path)
@click.argument("model_b", type=click.Path(path_type=Path), callback=model_path)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--layers-a", default=None, help="Layers of MODEL_A (default: stem, stages, head).")
@click.option("--layers-b", default=None, help="Layers of MODEL_B.")
@click.option("--kernel", type=click.Choice(["linear", "rbf"]), default="linear", show_default=True,
              help="CKA kernel (rbf: bandwidth 0.8 x the median pairwise distance).")
@click.option("--batch-size", type=click.IntRange(4, 100000), default=64, show_default=True,
              help="Minibatch of the debiased minibatch CKA (>= 4).")
@images_option
@tiles_option
@root_option
@seed_option
@_device_option
@plot_option
@json_option
def cka_cmd(model_a: Path, model_b: Path, manifest: Path, layers_a: str | None, layers_b: str | None,
            kernel: str, batch_size: int, max_images: int, tiles_per_image: int, root: Path | None,
            seed: int, device: str | None, plot: Path | None, as_json: bool) -> None:
    """Layer-by-layer CKA between two CNN models on tiles of MANIFEST (debiased, minibatch)."""
    models_exist(model_a, model_b, manifest)
    if max_images * tiles_per_image < 4:  # before loading the models and tiling the images
        raise click.UsageError(f"CKA needs at least 4 tiles; --max-images {max_images} x "
                               f"--tiles-per-image {tiles_per_image} give {max_images * tiles_per_image}")
    two_cnns(model_a, model_b)
    from shapekit.analysis import layerwise_cka

    given_layers = tuple((f, w, n) for f, w, n in (("--layers-a", "a", split(layers_a)),
                                                   ("--layers-b", "b", split(layers_b))) if n)
    a, b, xa, xb, _, _ = two_models(model_a, model_b, manifest, root, max_images, tiles_per_image,
                                    seed, given_layers)
    la = split(layers_a) or default_layers("cnn", a.net)
    lb = split(layers_b) or default_layers("cnn", b.net)
    M = layerwise_cka(a.net, b.net, xa, xb, la, lb, kernel=kernel, batch_size=batch_size,
                      device=device)
    result = {"model_a": str(model_a), "model_b": str(model_b), "kernel": kernel, "layers_a": la,
              "layers_b": lb, "n_inputs": len(xa), "cka": M.round(6).tolist()}
    if plot is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        im = ax.imshow(M, vmin=0, vmax=1, cmap="magma")
        ax.set_xticks(range(len(lb)), lb, rotation=45, ha="right")
        ax.set_yticks(range(len(la)), la)
        ax.set_xlabel(str(model_b))
        ax.set_ylabel(str(model_a))
        fig.colorbar(im, ax=ax, label=f"{kernel} CKA")
        save_plot(fig, plot)
    if as_json:
        emit_json(result)
    else:
        click.echo(" " * 14 + " ".join(f"{n[:10]:>10}" for n in lb))
        for n, row in zip(la, M):
            click.echo(f"{n[:13]:<14}" + " ".join(f"{v:10.3f}" for v in row))


@click.command("stitch", context_settings={"max_content_width": 100})
@click.argument("model_a", type=click.Path(path_type=Path), callback=model_path)
@click.argument("model_b", type=click.Path(path_type=Path), callback=model_path)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--layer-a", "layer_as", multiple=True, help="Stitch point in MODEL_A (repeatable).")
@click.option("--layer-b", "layer_bs", multiple=True, help="Matching stitch point in MODEL_B.")
@click.option("--epochs", type=click.IntRange(1, 10000), default=5, show_default=True,
              help="Stitch training epochs.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=10), default=1e-3,
              show_default=True, help="Learning rate (Adam) of the stitch.")
@click.option("--init", type=click.Choice(["auto", "identity", "lstsq", "random"]), default="auto",
              show_default=True,
              help="Stitch initialisation (auto: identity for a model with itself, else least squares).")
@images_option
@tiles_option
@root_option
@seed_option
@_device_option
@plot_option
@json_option
def stitch_cmd(model_a: Path, model_b: Path, manifest: Path, layer_as: tuple[str, ...],
               layer_bs: tuple[str, ...], epochs: int, lr: float, init: str, max_images: int,
               tiles_per_image: int, root: Path | None, seed: int, device: str | None,
               plot: Path | None, as_json: bool) -> None:
    """Train affine (1x1 conv) stitches from MODEL_A into MODEL_B; report stitched accuracy.

    Tiles are split by image (every 4th image held out); the penalty is acc(B) - acc(stitched).
    """
    models_exist(model_a, model_b, manifest)
    if max_images < 2:  # before loading the models and tiling the images
        raise click.BadParameter("stitching needs at least 2 images (one is held out for testing)",
                                 param_hint="'--max-images'")
    two_cnns(model_a, model_b)
    if layer_as and layer_bs and len(layer_as) != len(layer_bs):  # before loading the models
        raise click.UsageError("give as many --layer-b as --layer-a")
    import numpy as np
    import torch

    from shapekit.analysis import stitching_report

    given_layers = tuple((f, w, list(n)) for f, w, n in (("--layer-a", "a", layer_as),
                                                         ("--layer-b", "b", layer_bs or layer_as))
                         if n)
    a, b, xa, xb, labels, idx = two_models(model_a, model_b, manifest, root, max_images,
                                           tiles_per_image, seed, given_layers)
    if list(a.label_names) != list(b.label_names):
        raise click.UsageError("the two models predict different classes")
    known = {n: i for i, n in enumerate(a.label_names)}
    if not set(labels) <= set(known):
        raise click.UsageError(f"manifest labels {sorted(set(labels) - set(known))} unknown to the models")
    y = torch.as_tensor([known[v] for v in labels])
    las = list(layer_as) or [n for n in default_layers("cnn", a.net) if n != "head"]
    lbs = list(layer_bs) or las
    if len(las) != len(lbs):  # --layer-b alone: one for each of A's default stitch points
        raise click.UsageError(f"give as many --layer-b as --layer-a (without --layer-a: "
                               f"{len(las)}, for {', '.join(las)})")
    if init == "auto":  # the identity is the natural start only when stitching a model to itself
        init = "identity" if Path(model_a).resolve() == Path(model_b).resolve() else "lstsq"
    images = np.unique(idx)
    if len(images) < 2:  # no training tiles: the least-squares start was a singular solve
        raise click.UsageError(f"{manifest} gives tiles of {len(images)} image; stitching needs at "
                               f"least 2 (one is held out for testing)")
    test_imgs = images[::4]
    te = torch.as_tensor(np.isin(idx, test_imgs))
    rows = []
    for la, lb in zip(las, lbs):
        rows.append(stitching_report(a.net, b.net, la, lb, (xa[~te], y[~te], xb[~te]),
                                     (xa[te], y[te], xb[te]), init=init, epochs=epochs, lr=lr,
                                     seed=seed, device=device))
        info(f"{la} -> {lb}: stitched {rows[-1]['acc_stitched']:.3f} (A {rows[-1]['acc_a']:.3f}, "
             f"B {rows[-1]['acc_b']:.3f})")
    result = {"model_a": str(model_a), "model_b": str(model_b), "n_train": int((~te).sum()),
              "n_test": int(te.sum()), "rows": rows}
    if plot is not None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        pos = range(len(rows))
        ax.plot(pos, [r["acc_stitched"] for r in rows], marker="o", label="stitched")
        ax.axhline(rows[0]["acc_a"], ls="--", color="C1", label="A")
        ax.axhline(rows[0]["acc_b"], ls=":", color="C2", label="B")
        ax.set_xticks(list(pos), [f"{r['layer_a']}->{r['layer_b']}" for r in rows], rotation=45, ha="right")
        ax.set_ylabel("test accuracy (tiles)")
        ax.legend()
        save_plot(fig, plot)
    if as_json:
        emit_json(result)
    else:
        for r in rows:
            click.echo(f"{r['layer_a']} -> {r['layer_b']}: stitched {r['acc_stitched']:.3f}  "
                       f"A {r['acc_a']:.3f}  B {r['acc_b']:.3f}  penalty {r['penalty']:+.3f}")


@click.command("symmetry", context_settings={"max_content_width": 100})
@click.argument("model_a", type=click.Path(path_type=Path), callback=model_path)
@click.argument("model_b", type=click.Path(path_type=Path), callback=model_path)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--layer", "layers", multiple=True, help="Layer to compare (repeatable; same name in both).")
@click.option("--group", type=click.Choice(["scaled_permutation", "signed_permutation", "permutation"]),
              default="scaled_permutation", show_default=True,
              help="Intertwiner group (ReLU: scaled permutations).")
@images_option
@tiles_option
@root_option
@seed_option
@_device_option
@plot_option
@json_option
def symmetry_cmd(model_a: Path, model_b: Path, manifest: Path, layers: tuple[str, ...], group: str,
                 max_images: int, tiles_per_image: int, root: Path | None, seed: int,
                 device: str | None, plot: Path | None, as_json: bool) -> None:
    """Symmetry-aware similarity of two CNNs' units (Hungarian alignment up to the intertwiner
    group) next to plain linear CKA; pass the same directory twice for a sanity check.
    """
    models_exist(model_a, model_b, manifest)
    two_cnns(model_a, model_b)  # before any model loads
    from shapekit.analysis.runners import run_symmetry

    given_layers = tuple(("--layer", w, list(layers)) for w in ("a", "b") if layers)
    a, b, xa, xb, _, _ = two_models(model_a, model_b, manifest, root, max_images, tiles_per_image,
                                    seed, given_layers)
    names = list(layers) or [n for n in default_layers("cnn", a.net) if n not in ("head",)]
    result = {"model_a": str(model_a), "model_b": str(model_b), "group": group,
              "rows": run_symmetry(a.net, b.net, xa, xb, names, group, seed, device)}
    if plot is not None:
        import numpy as np

        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        pos = np.arange(len(result["rows"]))
        for off, key, lab in ((-0.2, "similarity", "symmetry-aware"), (0.2, "cka", "linear CKA")):
            ax.bar(pos + off, [r[key] for r in result["rows"]], width=0.4, label=lab)
        ax.set_xticks(pos, [r["layer"] for r in result["rows"]], rotation=45, ha="right")
        ax.set_ylabel("similarity of A's and B's units")
        ax.set_ylim(0, 1.25)  # room above 1 for the legend
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(loc="upper center", ncol=2, fontsize=8)
        save_plot(fig, plot)
    if as_json:
        emit_json(result)
    else:
        for r in result["rows"]:
            click.echo(f"{r['layer']:<14} similarity {r['similarity']:.3f}  aligned CKA "
                       f"{r['aligned_cka']:.3f}  CKA {r['cka']:.3f}  (random G-element: "
                       f"similarity {r['sanity_similarity']:.3f}, CKA {r['sanity_cka']:.3f})")


def register(analyze_app: click.Group) -> None:
    """Add this module's commands to the `analyze` sub-application."""
    for cmd in (id_cmd, frames_cmd, cka_cmd, stitch_cmd, symmetry_cmd):
        analyze_app.add_command(cmd)
