"""What the ``shapekit analyze`` geometry commands share: their options and their inputs.

The options the commands of :mod:`shapekit.cli.analysis_geometry` take (``--layers``,
``--plot``, ``--max-images``, ``--tiles-per-image``), their figures (:func:`pyplot`, and
:func:`save_plot` for ``--plot``), a check of comma-separated choices
(:func:`subset_of`), and the inputs: model directories checked before torch loads
(:func:`models_exist`) and their kind (:func:`torch_model_kind`; :func:`checked_kind` also
refuses the options of the other kind), enough tiles of each class
(:func:`enough_tiles`), a model's default layers, a CNN's tiles of a manifest's images
(:func:`cnn_inputs`) and two CNNs' tiles of the same images (:func:`two_models`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import OutputPath, info, require_exists

layers_option = click.option("--layers", default=None,
                             help="Comma-separated module names (default: a model-specific set).")
plot_option = click.option("--plot", type=OutputPath("file", suffix=".png"), default=None,
                           help="Write a PNG figure here.")
images_option = click.option("--max-images", type=click.IntRange(1, 10000), default=24,
                             show_default=True,
                             help="Images of the manifest to use (class-balanced subset).")
tiles_option = click.option("--tiles-per-image", type=click.IntRange(1, 1000), default=4,
                            show_default=True, help="Tiles drawn per image.")


def pyplot():  # noqa: ANN201 - matplotlib.pyplot, imported on use
    """``matplotlib.pyplot`` on a headless backend, imported only when a figure is drawn."""
    from shapekit._mpl import headless

    headless()
    import matplotlib.pyplot as plt

    return plt


def save_plot(fig: Any, path: Path | None) -> None:
    """Write ``fig`` as a PNG at ``path`` (``--plot``) atomically and say so; nothing if None."""
    if path is None:
        return
    from shapekit._atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    info(f"wrote {path}")

def subset_of(*allowed: str):  # noqa: ANN202 - a click callback
    """Callback: a comma-separated option whose items must be among ``allowed``."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        bad = [v for v in split(value) or [] if v not in allowed]
        if bad:
            raise click.BadParameter(f"unknown {', '.join(bad)[:80]}; choose from {', '.join(allowed)}")
        return value

    return check


def models_exist(*paths: Path | None) -> None:
    """Every path exists; model and run directories have valid configs (read without torch)."""
    from shapekit.generate.formats import CONFIG, read_generator_config
    from shapekit.temper.modeldir import read_config

    for p in paths:
        if p is None:
            continue
        require_exists(p, "model directory or manifest")
        if (Path(p) / CONFIG).is_file():
            read_generator_config(p)
        elif (Path(p) / "config.json").is_file():
            read_config(p)


def torch_model_kind(model_dir: Path) -> str:
    """``"generator"`` or ``"cnn"``, read from the directory's JSON (no torch, no weights); a
    model without a torch network (TopTemp) is refused as loading it would refuse it."""
    from shapekit.errors import InputError
    from shapekit.generate.formats import CONFIG
    from shapekit.temper.modeldir import read_config

    if (Path(model_dir) / CONFIG).is_file():
        return "generator"
    kind = read_config(model_dir).get("kind")
    if kind != "cnn":
        raise InputError(f"{model_dir}: a {kind} model has no torch network; analyse a CNN model "
                         "directory (train-classifier --model cnn) or a GAN run directory")
    return "cnn"


#: options of ``id``/``frames`` that one kind of model ignores: option -> (flag, the kind using it)
KIND_ONLY = {"max_images": ("--max-images", "cnn"), "tiles_per_image": ("--tiles-per-image", "cnn"),
             "root": ("--root", "cnn"), "n_latent": ("--n", "generator")}


def checked_kind(model_dir: Path) -> str:
    """:func:`torch_model_kind`, refusing an option given that this kind of model would ignore
    (a CNN's images for a generator, whose inputs are latent samples; ``--n`` for a CNN)."""
    from shapekit.cli._common import given

    kind = torch_model_kind(model_dir)
    params = click.get_current_context().params
    for name, (flag, user) in KIND_ONLY.items():
        if user != kind and name in params and given(name):
            raise click.UsageError(
                f"{flag} sets the tiles of a CNN's MANIFEST; a generator's inputs are latent "
                "samples: leave it out" if user == "cnn" else
                f"{flag} sets a generator's latent samples; a CNN's inputs are tiles of its "
                "MANIFEST (--max-images, --tiles-per-image): leave it out")
    return kind


def two_cnns(model_a: Path, model_b: Path) -> None:
    """Refuse, before any model loads, a pair that is not two CNN model directories."""
    if "generator" in (torch_model_kind(model_a), torch_model_kind(model_b)):
        raise click.UsageError("cka/stitch/symmetry compare two CNN model directories")


def enough_tiles(manifest: Path | None, root: Path | None, max_images: int, tiles_per_image: int,
                 need: int, what: str) -> None:
    """Refuse, from the manifest's table alone (no image read, no model loaded), ``max_images``
    and ``tiles_per_image`` that give some class fewer than ``need`` tiles even when every image
    gives all its tiles (images are drawn round-robin over the classes, as
    :func:`shapekit.analysis.sources.balanced_subset` draws them)."""
    from collections import Counter

    from shapekit.io import open_image_set

    if manifest is None:
        raise click.UsageError("a CNN model directory needs a MANIFEST of images")
    ms = open_image_set(manifest, root=root)
    counts = Counter(str(v) for v in ms.labels) if ms.labels is not None else \
        Counter({"unlabeled": len(ms)})
    got, left = dict.fromkeys(sorted(counts), 0), min(max_images, sum(counts.values()))
    while left:
        for lab in got:
            if got[lab] < counts[lab] and left:
                got[lab], left = got[lab] + 1, left - 1
    short = [(lab, n) for lab, n in got.items() if 0 < n * tiles_per_image < need]
    if short:
        lab, n = short[0]
        raise click.UsageError(
            f"{what} needs at least {need} tiles of each class; --max-images {max_images} x "
            f"--tiles-per-image {tiles_per_image} give at most {n * tiles_per_image} of {lab} "
            f"({n} image{'s' * (n != 1)} of it, the images drawn in turn from {len(got)} "
            f"class{'es' * (len(got) != 1)}): raise --max-images or --tiles-per-image")


def split(text: str | None) -> list[str] | None:
    """The items of a comma-separated option (None when it is empty)."""
    return None if not text else [t.strip() for t in text.split(",") if t.strip()]


def default_layers(kind: str, net: Any) -> list[str]:
    """The layers a command reads by default (:func:`shapekit.analysis.sources.default_layers`)."""
    from shapekit.analysis import sources

    return sources.default_layers(kind, net)


def cnn_inputs(model: Any, manifest: Path, root: Path | None, max_images: int,
               tiles_per_image: int, seed: int):
    """Tiles of ``max_images`` of MANIFEST's images for a CNN model: ``(x, labels, image index)``."""
    from shapekit.analysis.sources import manifest_tiles

    if manifest is None:
        raise click.UsageError("a CNN model directory needs a MANIFEST of images")
    return manifest_tiles(manifest, model, root=root, max_images=max_images,
                          tiles_per_image=tiles_per_image, seed=seed)


def two_models(model_a: Path, model_b: Path, manifest: Path, root: Path | None, max_images: int,
               tiles_per_image: int, seed: int,
               layers: tuple[tuple[str, str, list[str]], ...] = ()):
    """Two CNN models and their tiles of the same images: ``(a, b, xa, xb, labels, image index)``.

    ``layers`` holds ``(option, "a"|"b", names)``: layer names the user gave (``--layers-a``),
    checked against that model's modules as soon as the models load, before any image is read.
    """
    models_exist(model_a, model_b, manifest)
    two_cnns(model_a, model_b)
    from shapekit.analysis import resolve_layers
    from shapekit.analysis.sources import load_torch_model
    from shapekit.errors import InputError

    a, b = load_torch_model(model_a), load_torch_model(model_b)
    if a.kind != "cnn" or b.kind != "cnn":
        raise click.UsageError("cka/stitch/symmetry compare two CNN model directories")
    for flag, which, names in layers:
        try:
            resolve_layers((a if which == "a" else b).net, names)
        except InputError as e:
            raise InputError(f"{flag}: {e}") from None
    xa, labels, idx = cnn_inputs(a, manifest, root, max_images, tiles_per_image, seed)
    same = (a.tile_size, a.input_scale, a.target_um_per_px) == (b.tile_size, b.input_scale,
                                                                b.target_um_per_px)
    xb = xa if same else cnn_inputs(b, manifest, root, max_images, tiles_per_image, seed)[0]
    if len(xb) != len(xa):
        raise click.UsageError("the two models tile the images differently; use models trained "
                               "with the same --tile-size")
    return a, b, xa, xb, labels, idx
