"""Runners behind ``shapekit analyze frames|symmetry`` on shapekit model directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shapekit.analysis._hooks import collect_activations, resolve_layers
from shapekit.analysis.sources import (ConditionedGenerator, default_layers, latent_inputs,
                                        load_torch_model, manifest_tiles)
from shapekit.analysis.frames import frame_statistics, frame_vectors, perturbation_directions
from shapekit.analysis.intertwiners import intertwiner_similarity, random_group_element
from shapekit.errors import InputError


def _default(net: nn.Module, kind: str) -> list[str]:
    return default_layers(kind, net)


def _kind_of(name: str) -> str:
    return name.split("_")[0] if name.startswith(("noise_", "latent_")) else name


def run_frames(model_dir: Path, manifest: Path | None, layers: Sequence[str] | None,
               kinds: Sequence[str], n_noise: int, n_inputs: int, max_images: int,
               root: Path | None, seed: int, device: str | None) -> dict[str, Any]:
    """Neural-frame statistics averaged over ``n_inputs`` tiles (CNN) or latent points (generator).

    Returns a dict with ``kinds`` (direction families), and per layer the mean ``relative_norm`` of
    each family (norm / mean noise norm), the mean numerical ``rank`` and ``effective_rank``.

    Examples
    --------
    See ``shapekit analyze frames --help``.
    """
    model = load_torch_model(model_dir)
    per_input: list[list[dict[str, Any]]] = []
    if model.kind == "cnn":
        if manifest is None:
            raise InputError("a CNN model directory needs a MANIFEST of images")
        names_l = resolve_layers(model.net, list(layers) if layers else _default(model.net, "cnn"))
        x, _, _ = manifest_tiles(manifest, model, root=root, max_images=max_images,
                                 tiles_per_image=1, seed=seed)
        pick = np.linspace(0, len(x) - 1, min(n_inputs, len(x))).round().astype(int)
        for i in pick:
            names, V = perturbation_directions(x[i].double(), kinds, n_noise=n_noise, seed=seed + int(i))
            per_input.append(frame_statistics(frame_vectors(model.net, x[i], V, names_l,
                                                            device=device), names))
    else:
        torch.manual_seed(seed)
        z = latent_inputs(model, n_inputs, seed)
        d = z.shape[1]
        names_l = ["net." + n for n in resolve_layers(  # the generator's own names, unwrapped
            model.net, list(layers) if layers else _default(model.net, "generator"))]
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(n_noise, d, generator=g)
        V = torch.cat([torch.eye(d), noise / noise.norm(dim=1, keepdim=True)])
        names = [f"latent_{j}" for j in range(d)] + [f"noise_{j}" for j in range(n_noise)]
        for i in range(len(z)):
            wrapped = ConditionedGenerator(model.net, i % max(len(model.label_names), 1),
                                           cond=model.cond)
            stats = frame_statistics(frame_vectors(wrapped, z[i], V, names_l, device=device), names)
            for s in stats:
                s["layer"] = s["layer"].removeprefix("net.")
            per_input.append(stats)
    fams = list(dict.fromkeys(_kind_of(n) for n in names if not n.startswith("noise_")))
    rows = []
    for j, first in enumerate(per_input[0]):
        rel: dict[str, float] = {}
        for fam in fams:
            vals = [v for st in per_input for k, v in (st[j]["relative_norms"] or {}).items()
                    if _kind_of(k) == fam]
            rel[fam] = float(np.mean(vals)) if vals else float("nan")
        rows.append({"layer": first["layer"], "relative_norm": rel,
                     "rank": float(np.mean([st[j]["rank"] for st in per_input])),
                     "effective_rank": float(np.mean([st[j]["effective_rank"] for st in per_input])),
                     "min_angle_to_noise": float(np.mean([min(st[j]["angles_to_noise"] or [90.0])
                                                          for st in per_input]))})
    return {"model": str(model_dir), "kind": model.kind, "kinds": fams, "n_inputs": len(per_input),
            "n_noise": n_noise, "layers": rows}


def _units(t: torch.Tensor, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """``(N, C, H, W)`` maps -> ``(N*H*W, C)`` unit responses (sub-sampled rows); vectors as is."""
    a = t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]) if t.ndim == 4 else t.reshape(len(t), -1)
    a = a.double().numpy()
    if len(a) > max_rows:
        a = a[np.sort(rng.choice(len(a), max_rows, replace=False))]
    return a


def run_symmetry(net_a: nn.Module, net_b: nn.Module, xa: torch.Tensor, xb: torch.Tensor,
                 layers: Sequence[str], group: str, seed: int, device: str | None,
                 max_rows: int = 20000) -> list[dict[str, Any]]:
    """Per layer: symmetry-aware similarity of the two nets' units, plain CKA, and a sanity check
    (model A against itself moved by a random element of ``group``: similarity 1, CKA lower).
    """
    acts_a = collect_activations(net_a, xa, layers, flatten=False, device=device)
    acts_b = collect_activations(net_b, xb, layers, flatten=False, device=device)
    rows = []
    for name in layers:
        rng = np.random.default_rng(seed)
        ha = _units(acts_a[name], max_rows, rng)
        rng = np.random.default_rng(seed)
        hb = _units(acts_b[name], max_rows, rng)
        if ha.shape != hb.shape:
            raise InputError(f"layer {name!r}: {ha.shape[1]} vs {hb.shape[1]} units; compare layers "
                             "of equal width")
        r = intertwiner_similarity(ha, hb, group=group)
        g = random_group_element(ha.shape[1], group, seed=seed, scale_range=(0.2, 5.0))
        moved = g.act(torch.as_tensor(ha), dim=1).numpy()
        s = intertwiner_similarity(ha, moved, group=group)
        rows.append({"layer": name, "units": int(ha.shape[1]), **r,
                     "sanity_similarity": s["similarity"], "sanity_cka": s["cka"]})
    return rows
