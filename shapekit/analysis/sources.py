"""Glue between the geometry tools and shapekit's own models and data (used by the CLI).

* :func:`load_torch_model`: a temper CNN model directory (``shapekit train-classifier --model cnn``)
  or a GAN run directory (``shapekit train-gan``) as a plain ``nn.Module``;
* :func:`manifest_tiles`: CNN input tiles of a manifest's images, with their labels;
* :class:`ConditionedGenerator`: the generator with its condition fixed, ``forward(z)``, so latent
  points are the inputs of the analysis tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shapekit.errors import InputError


class ConditionedGenerator(nn.Module):
    """``z -> G(z_map, z, label, cond)`` for a fixed temper class (and continuous conditions) and
    a fixed local latent map (``cells`` latent cells drawn from ``seed``): the analysed latent
    ``z`` is the generator's global latent vector.

    Layer names of the wrapped generator are reachable as ``"net.<name>"``.

    Examples
    --------
    >>> from shapekit.generate import Generator
    >>> g = Generator(2, z_local=2, z_global=8, w_dim=8, channels=[8, 4, 4])
    >>> ConditionedGenerator(g, label=1)(torch.randn(3, 8)).shape
    torch.Size([3, 1, 16, 16])
    """

    def __init__(self, generator: nn.Module, label: int = 0, cond: torch.Tensor | None = None,
                 cells: tuple[int, int] = (4, 4), seed: int = 0) -> None:
        super().__init__()
        self.net = generator
        self.label = int(label)
        self.register_buffer("cond", None if cond is None else cond.reshape(1, -1).float())
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("z_map", torch.randn(1, generator.z_local, *cells, generator=g))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        lab = torch.full((n,), self.label, dtype=torch.long, device=z.device)
        cond = None if self.cond is None else self.cond.expand(n, -1).to(z.device)
        return self.net(self.z_map.expand(n, -1, -1, -1).to(z.device), z, lab, cond)


@dataclass
class LoadedModel:
    """A model directory read for analysis: the network plus what is needed to feed it."""

    kind: str  # "cnn" or "generator"
    net: nn.Module
    path: Path
    label_names: list[str] = field(default_factory=list)
    tile_size: int | None = None
    input_scale: int = 1
    target_um_per_px: float | None = None
    z_dim: int | None = None
    extra: Any = None
    #: a parameters/properties-mode generator's continuous conditions, encoded: the centre of
    #: its training conditions (``None`` for a class-mode generator and for CNNs)
    cond: torch.Tensor | None = None


def load_torch_model(model_dir: str | Path) -> LoadedModel:
    """Load a temper CNN model directory or an exported GAN run directory.

    Raises :class:`~shapekit.errors.InputError` (``ModelFormatError``) for anything else, e.g. a
    TopTemp (XGBoost) model directory, which has no torch network to analyse.
    """
    d = Path(model_dir)
    if not d.exists():
        raise InputError(f"model directory not found: {d}")
    if (d / "generator.json").is_file():
        from shapekit.generate import load_generator

        sampler = load_generator(d, device="cpu")
        gen = sampler.generator.float().eval()
        cond = None
        if sampler.codec.n_cond:  # analysed at the centre of the training conditions
            centre = sampler.default_conditions()
            values = np.array([[centre[k] for k in sampler.codec.names]], dtype=np.float64)
            cond = torch.from_numpy(sampler.codec.encode(values))
        return LoadedModel("generator", gen, d, list(sampler.label_names), z_dim=int(gen.z_global),
                           extra=sampler, cond=cond)
    from shapekit.temper import load_model

    tm = load_model(d)
    if tm.kind != "cnn" or tm.network is None:
        raise InputError(f"{d}: a {tm.kind} model has no torch network; analyse a CNN model "
                         "directory (train-classifier --model cnn) or a GAN run directory")
    cfg = tm.config
    return LoadedModel("cnn", tm.network.float().eval(), d, list(tm.label_names),
                       tile_size=int(tm.tile_size), input_scale=int(cfg["cnn"].get("input_scale", 1)),
                       target_um_per_px=tm.target_um_per_px)


def balanced_subset(labels: np.ndarray, max_n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_n`` items, drawn round-robin over the labels (so a small
    subset still covers every class); all indices when ``max_n`` is None or large enough.

    Examples
    --------
    >>> idx = balanced_subset(np.array(["a", "a", "a", "b"]), 2, np.random.default_rng(0))
    >>> len(idx), 3 in idx.tolist()   # one "a" and the only "b"
    (2, True)
    """
    labels = np.asarray(labels)
    if max_n is None or max_n >= len(labels):
        return np.arange(len(labels))
    per = {lab: rng.permutation(np.flatnonzero(labels == lab)).tolist() for lab in sorted(set(labels))}
    order: list[int] = []
    while len(order) < max_n:
        for lab in per:
            if per[lab] and len(order) < max_n:
                order.append(per[lab].pop())
    return np.array(sorted(order))


def manifest_tiles(manifest: str | Path, model: LoadedModel, *, root: str | Path | None = None,
                   max_images: int | None = None, tiles_per_image: int | None = None,
                   seed: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """CNN input tiles of (a stratified subset of) a manifest's images.

    Returns
    -------
    tiles : Tensor (N, 1, s, s)
    labels : ndarray of str (N,)
        The image's label per tile (``"unlabeled"`` without a label column).
    image_index : ndarray of int (N,)
    """
    from shapekit.io import open_image_set
    from shapekit.temper.cnn_cv import cnn_tiles
    from shapekit.temper.scans import load_scan_image

    if model.kind != "cnn":
        raise InputError("manifest tiles feed a CNN model directory, not a generator")
    ms = open_image_set(manifest, root=root)
    rng = np.random.default_rng(seed)
    labels = ms.labels if ms.labels is not None else np.array(["unlabeled"] * len(ms))
    order = balanced_subset(labels, max_images, rng)
    ums = ms.um_per_px_values  # the manifest's pixel sizes (the file's own metadata beats them)
    tiles, labs, idx = [], [], []
    for i in order:
        um = float(ums[i]) if np.isfinite(ums[i]) else None
        img = load_scan_image(ms.paths[i], um_per_px=um, target_um_per_px=model.target_um_per_px)
        t, _ = cnn_tiles(img, model.tile_size, model.input_scale, str(ms.paths[i]))
        if tiles_per_image is not None and len(t) > tiles_per_image:
            t = t[np.sort(rng.choice(len(t), tiles_per_image, replace=False))]
        tiles.append(t)
        labs += [labels[i]] * len(t)
        idx += [int(i)] * len(t)
    if not tiles:
        raise InputError(f"{manifest}: no images selected")
    x = torch.from_numpy(np.concatenate(tiles)).unsqueeze(1)
    return x, np.array(labs), np.array(idx)


def default_layers(kind: str, net: nn.Module) -> list[str]:
    """Layers analysed by default: stem, stages and head of a SmallResNet; mapping, stem, blocks and
    output conv of a generator; else the first 12 leaf modules.

    Examples
    --------
    >>> from shapekit.temper.cnn import SmallResNet
    >>> default_layers("cnn", SmallResNet(width=4))
    ['stem', 'stages.0', 'stages.1', 'stages.2', 'head']
    """
    names = [n for n, _ in net.named_modules()]
    if kind == "cnn":
        wanted = ["stem"] + [n for n in names if n.count(".") == 1 and n.startswith("stages.")] + ["head"]
    else:
        wanted = ["mapping", "stem"] + [n for n in names if n.count(".") == 1
                                        and n.startswith("blocks.")] + ["to_img"]
    got = [n for n in wanted if n in names]
    if not got:
        got = [n for n, m in net.named_modules() if n and not list(m.children())][:12]
    return got


def latent_inputs(model: LoadedModel, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` standard-normal latent vectors for a generator, deterministic per ``seed``."""
    if model.kind != "generator" or model.z_dim is None:
        raise InputError("latent inputs need a GAN run directory")
    return torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(seed))
