"""DNA on micrographs: the learned augmentation of a temper CNN, against none and a global range.

:func:`dna_on_scans` cuts tiles from labelled scans (split by scan, never by tile) and trains a
:class:`~shapekit.temper.cnn.SmallResNet` three times with :mod:`shapekit.analysis.dna`: without
augmentation, with a per-input policy and with a global (Augerino) range;
:func:`dna_on_manifest` runs it on a labelled manifest (``shapekit analyze dna``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from shapekit.analysis.dna import (AugmentationPolicy, DynamicAugmentation, GlobalAugmentation, fit_dna,
                                   ranges_by_class)
from shapekit.errors import InputError

__all__ = ["dna_on_scans", "dna_on_manifest"]


def dna_on_scans(images: list[np.ndarray], labels: list[str], *, tile_size: int = 64,
                 tiles_per_image: int = 4, width: int = 8, epochs: int = 10,
                 width_weight: float = 0.1, test_every: int = 4, seed: int = 0,
                 device: str | None = None, sources: list[Any] | None = None) -> dict:
    """DNA as the augmentation of a temper CNN on labelled scans, against none and a global range.

    ``tiles_per_image`` random square tiles are cut from each scan; every ``test_every``-th scan of
    each class is held out (a split by scan, never by tile). A :class:`SmallResNet` is trained
    three times on the same tiles: without augmentation, with a per-input DNA policy and with a
    global (Augerino) range, all warps reflected at the border. ``sources`` (the images' files)
    name a scan in errors.

    Returns
    -------
    dict
        ``labels``; ``n_train_tiles``, ``n_test_tiles``; ``accuracy`` (test tiles) per variant;
        ``dna_rotation_deg`` (median learned rotation range per class) and
        ``global_rotation_deg``.

    Raises
    ------
    InputError
        Fewer than two classes, a class with fewer than two scans, scans smaller than a tile.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> imgs = [rng.random((40, 40)).astype(np.float32) for _ in range(4)]
    >>> r = dna_on_scans(imgs, ["a", "b", "a", "b"], tile_size=16, tiles_per_image=2, width=4,
    ...                  epochs=1, test_every=2)
    >>> sorted(r["accuracy"]), sorted(r["dna_rotation_deg"])
    (['dna', 'global', 'none'], ['a', 'b'])
    """
    from shapekit.temper.cnn import SmallResNet

    names = sorted(set(map(str, labels)))
    y_all = np.array([names.index(str(v)) for v in labels])
    counts = np.bincount(y_all, minlength=len(names))
    if len(names) < 2 or counts.min() < 2:
        raise InputError(f"DNA needs at least 2 classes with 2 scans each, got {dict(zip(names, counts.tolist()))}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(images), bool)
    for c in range(len(names)):
        test[np.flatnonzero(y_all == c)[::test_every]] = True
    tiles, ys, held = [], [], []
    for i, img in enumerate(images):
        h, w = img.shape
        if min(h, w) < tile_size:
            fits = min(min(im.shape) for im in images)
            raise InputError(f"{f'scan {i}' if sources is None else sources[i]}: image of {h}x{w} "
                             f"px is smaller than a {tile_size} px tile (--tile-size, at most "
                             f"{fits} for these scans)")
        for _ in range(tiles_per_image):
            r, c = int(rng.integers(0, h - tile_size + 1)), int(rng.integers(0, w - tile_size + 1))
            tiles.append(img[r:r + tile_size, c:c + tile_size])
            ys.append(y_all[i])
            held.append(test[i])
    x = torch.from_numpy(np.stack(tiles).astype(np.float32))[:, None]
    y, held = torch.as_tensor(ys), torch.as_tensor(held)
    out: dict = {"labels": names, "n_train_tiles": int((~held).sum()),
                 "n_test_tiles": int(held.sum()), "accuracy": {}}
    for kind in ("none", "dna", "global"):
        torch.manual_seed(seed)  # the same initial network (and policy) for every run
        policy = {"none": None, "dna": AugmentationPolicy(1, init=0.25),
                  "global": GlobalAugmentation(0.25)}[kind]
        model = DynamicAugmentation(SmallResNet(1, len(names), width=width), policy,
                                    max_rotation=180.0, max_scale=0.3, max_translation=0.2,
                                    padding_mode="reflection")
        model = fit_dna(model, x[~held], y[~held], epochs=epochs, batch_size=32,
                        width_weight=width_weight, policy_warmup=min(2, epochs - 1),
                        policy_lr=1e-2, seed=seed, device=device)
        model.eval()
        with torch.no_grad():
            pred = model.classifier(x[held].to(next(model.parameters()).device)).argmax(1).cpu()
        out["accuracy"][kind] = round(float((pred == y[held]).float().mean()), 4)
        if policy is not None:
            per = {names[k]: v["rotation"] for k, v in ranges_by_class(model, x, y).items()}
            if kind == "dna":
                out["dna_rotation_deg"] = per
            else:
                out["global_rotation_deg"] = float(np.mean(list(per.values())))
    return out


def dna_on_manifest(manifest: Any, *, max_images: int | None = 60, seed: int = 0,
                    **kwargs: Any) -> dict:
    """:func:`dna_on_scans` on (a class-balanced subset of) a labelled manifest's images.

    ``manifest`` is a :class:`shapekit.io.Manifest`; its images are read like the temper models
    read them (info bar cropped). ``kwargs`` go to :func:`dna_on_scans`.
    """
    from shapekit.analysis.sources import balanced_subset
    from shapekit.temper.scans import read_manifest_images

    if manifest.labels is None:
        raise InputError(f"{manifest.source or manifest.name}: DNA needs a label column")
    sub = manifest.subset(balanced_subset(manifest.labels, max_images, np.random.default_rng(seed)))
    return dna_on_scans(read_manifest_images(sub), list(sub.labels), seed=seed,
                        sources=sub.paths, **kwargs)

