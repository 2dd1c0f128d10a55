"""Tiny synthetic "tempers" for tests, docs and notebooks: spheroids, lamellae, networks.

Three classes that differ in topology the way the UHCS microconstituents do: isolated bright
particles (spheroidite: many H0 superlevel features), parallel lamellae (pearlite: long thin
components, few loops) and a closed bright network (carbide network: H1 loops). Each image gets a
random brightness, contrast and noise so that only the structure identifies the class. This is
a toy generator for fast checks; ``shapekit.synth`` is the physical simulator.
"""

from __future__ import annotations

import numpy as np

TOY_CLASSES = ("network", "lamellae", "spheroids")


def toy_micrograph(kind: str, size: int = 96, rng: np.random.Generator | None = None) -> np.ndarray:
    """One ``size`` x ``size`` float32 image in ``[0, 1]`` of the toy class ``kind``.

    Examples
    --------
    >>> im = toy_micrograph("spheroids", 64, np.random.default_rng(0))
    >>> im.shape, im.dtype, bool(0 <= im.min() and im.max() <= 1)
    ((64, 64), dtype('float32'), True)
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0) if rng is None else rng
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    if kind == "spheroids":
        img = np.zeros((size, size))
        n = int(rng.integers(size * size // 300, size * size // 150))
        cy, cx = rng.uniform(0, size, n), rng.uniform(0, size, n)
        r = rng.uniform(1.2, 3.0, n)
        for y0, x0, r0 in zip(cy, cx, r):
            img = np.maximum(img, np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * r0 ** 2)))
    elif kind == "lamellae":
        th = rng.uniform(0, np.pi)
        period = rng.uniform(5.0, 8.0)
        warp = gaussian_filter(rng.normal(0, 1, (size, size)), 8) * 25
        img = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(th) * xx + np.sin(th) * yy + warp) / period)
    elif kind == "network":
        n = int(rng.integers(8, 14))
        pts = rng.uniform(0, size, (n, 2))
        d = np.sort(np.stack([np.hypot(yy - p[0], xx - p[1]) for p in pts]), axis=0)
        img = np.exp(-((d[1] - d[0]) ** 2) / 4.0)
    else:
        raise ValueError(f"unknown toy class {kind!r}; known: {TOY_CLASSES}")
    img = gaussian_filter(img, 0.7)
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    img = rng.uniform(0.1, 0.3) + rng.uniform(0.4, 0.6) * img + rng.normal(0, 0.03, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def toy_dataset(n_per_class: int = 6, size: int = 96, seed: int = 0,
                classes: tuple[str, ...] = TOY_CLASSES) -> tuple[list[np.ndarray], list[str]]:
    """``(images, labels)``: ``n_per_class`` toy micrographs of each class, interleaved.

    Examples
    --------
    >>> imgs, labels = toy_dataset(2, 32)
    >>> len(imgs), labels[:3]
    (6, ['network', 'lamellae', 'spheroids'])
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n_per_class):
        for c in classes:
            images.append(toy_micrograph(c, size, rng))
            labels.append(c)
    return images, labels


def write_toy_manifest(folder: str, n_per_class: int = 6, size: int = 96, seed: int = 0,
                       groups: int | None = None) -> str:
    """Write toy PNGs, a ``labels.csv`` and a ``toy.yaml`` manifest into ``folder``; return its path.

    ``groups=g`` adds a ``sample`` column cycling through ``g`` ids (for grouped CV).

    Examples
    --------
    >>> import tempfile
    >>> from shapekit.io import load_manifest
    >>> m = load_manifest(write_toy_manifest(tempfile.mkdtemp(), 2, 32))
    >>> len(m), m.label_names
    (6, ['lamellae', 'network', 'spheroids'])
    """
    from pathlib import Path

    import cv2
    import pandas as pd

    d = Path(folder)
    (d / "images").mkdir(parents=True, exist_ok=True)
    images, labels = toy_dataset(n_per_class, size, seed)
    rows = []
    for i, (im, lab) in enumerate(zip(images, labels)):
        name = f"toy_{i:03d}.png"
        cv2.imwrite(str(d / "images" / name), np.round(im * 255).astype(np.uint8))
        row = {"file": name, "label": lab}
        if groups:
            row["sample"] = f"s{(i // len(TOY_CLASSES)) % groups}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(d / "labels.csv", index=False)
    spec = ["name: toy", "root: .", "table: labels.csv", "images_dir: images", "image: file",
            "label: label", f"group: {'sample' if groups else 'null'}", "parameters: []",
            "properties: []", "um_per_px: null"]
    (d / "toy.yaml").write_text("\n".join(spec) + "\n")
    return str(d / "toy.yaml")
