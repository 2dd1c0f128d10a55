"""DNA on scikit-learn's digits: the class-symmetry known answer of Dynamic Network Augmentation.

Digits 0, 1 and 8 are rotated at random, 6 and 9 stay upright (a rotated 6 is a 9): a per-input
policy should learn wide rotation ranges for 0/1/8 and narrow ones for 6/9, a global (Augerino)
range something in between. ``python benchmarks/dna_digits.py --seed 0`` gives the figures in
RESULTS.md (section 5). The helpers are also used by tests/test_analysis_invariance_models.py.
This is experiment code, not part of the shapekit package (which runs DNA on micrographs:
:func:`shapekit.analysis.dna_scans.dna_on_scans`, ``shapekit analyze dna MANIFEST``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shapekit.analysis.dna import (AugmentationPolicy, DynamicAugmentation, GlobalAugmentation,
                                   affine_warp, fit_dna, ranges_by_class)


def rotated_digits(classes: tuple[int, ...] = (0, 1, 6, 8, 9), rotated: tuple[int, ...] = (0, 1, 8),
                   size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8x8 digits with class-dependent rotation symmetry.

    Digits of ``rotated`` classes are rotated by ``U(-180, 180)`` degrees, the others stay upright.
    Images are upsampled to ``size - 4`` pixels, zero-padded to ``size`` and scaled to ``[0, 1]``.

    Returns
    -------
    x : Tensor ``(N, 1, size, size)``; y : Tensor ``(N,)`` of class indices ``0..len(classes)-1``;
    digit : Tensor ``(N,)`` of the original digit labels.

    Examples
    --------
    >>> x, y, d = rotated_digits()
    >>> tuple(x.shape[1:]), sorted(set(d.tolist()))
    ((1, 16, 16), [0, 1, 6, 8, 9])
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    keep = np.isin(data.target, classes)
    img = torch.as_tensor(data.images[keep] / 16.0, dtype=torch.float32)[:, None]
    img = F.interpolate(img, size=(size - 4, size - 4), mode="bilinear", align_corners=False)
    img = F.pad(img, (2, 2, 2, 2))
    digit = torch.as_tensor(data.target[keep])
    rng = np.random.default_rng(seed)
    angle = np.where(np.isin(digit.numpy(), rotated), rng.uniform(-np.pi, np.pi, len(digit)), 0.0)
    z = torch.zeros(len(digit))
    img = affine_warp(img, torch.as_tensor(angle, dtype=torch.float32), z, z, z).clamp(0, 1)
    lut = {c: i for i, c in enumerate(classes)}
    y = torch.as_tensor([lut[int(d)] for d in digit])
    return img, y, digit


def small_cnn(in_channels: int = 1, n_classes: int = 5, width: int = 16) -> nn.Sequential:
    """A small CNN that keeps the spatial layout (4x4 pooled map, then an MLP head).

    Unlike a global-average-pooled CNN it can tell orientation apart (a 6 from a 9); it is the
    digits classifier of the DNA check.

    Examples
    --------
    >>> import torch
    >>> small_cnn(1, 5)(torch.rand(2, 1, 16, 16)).shape
    torch.Size([2, 5])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(32 * width, 64), nn.ReLU(), nn.Linear(64, n_classes))


def run_digits_check(epochs: int = 40, width_weight: float = 0.1, policy_warmup: int = 3,
                     lr: float = 3e-3, policy_lr: float = 1e-2, init: float = 0.25, seed: int = 0,
                     device: str | None = None) -> dict:
    """The class-symmetry known answer: DNA and a global range on :func:`rotated_digits`.

    Both policies start at ``init`` (a quarter of the maximal 180 degrees), the classifier learns
    alone for ``policy_warmup`` epochs, then everything trains jointly with the log width reward.
    Returns the median learned rotation range per digit (degrees) of the per-input policy, the
    global (Augerino) range, ``ratio`` = mean range of 0/1/8 over mean range of 6/9, and the
    final training accuracies.

    Examples
    --------
    >>> r = run_digits_check(epochs=1)  # doctest: +SKIP
    >>> sorted(r)  # doctest: +SKIP
    ['accuracy', 'dna_rotation_deg', 'global_rotation_deg', 'ratio']
    """
    x, y, digit = rotated_digits(seed=seed)
    out: dict = {"accuracy": {}}
    for kind in ("dna", "global"):
        torch.manual_seed(seed)
        policy = AugmentationPolicy(1, init=init) if kind == "dna" else GlobalAugmentation(init)
        model = fit_dna(DynamicAugmentation(small_cnn(1, 5), policy), x, y, epochs=epochs,
                        width_weight=width_weight, lr=lr, policy_lr=policy_lr,
                        policy_warmup=policy_warmup, seed=seed, device=device)
        per = {str(k): v["rotation"] for k, v in ranges_by_class(model, x, digit).items()}
        out["accuracy"][kind] = round(model.history_[-1]["acc"], 4)
        if kind == "dna":
            out["dna_rotation_deg"] = per
        else:
            out["global_rotation_deg"] = float(np.mean(list(per.values())))
    r = out["dna_rotation_deg"]
    sym = np.mean([r[k] for k in ("0", "1", "8")])
    upright = np.mean([r[k] for k in ("6", "9")])
    out["ratio"] = float(sym / max(upright, 1e-6))
    return out


def main() -> None:
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(run_digits_check(epochs=args.epochs, seed=args.seed), indent=2))


if __name__ == "__main__":
    main()
