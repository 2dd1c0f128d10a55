"""Which of a manifest's images a GAN run trains on, and whether its crops fit them, from the
manifest's table and the images' headers alone (numpy only: no torch, no pixel read), so that
``shapekit train-gan`` can refuse a bad ``--crop-size`` before Lightning loads and the images
are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError, brief

__all__ = ["holdout_split", "check_crop_from_headers", "manifest_labels", "too_small"]


def too_small(name: str, shape: tuple[int, ...], crop: int, target_um_per_px: float | None,
              downscale: float) -> InputError:
    """The error for an image of ``shape`` (at the common scale) smaller than the crop."""
    scale = (f"{target_um_per_px:.4g} um/px" if target_um_per_px
             else f"1/{downscale:g} of its pixels" if downscale != 1 else "its own pixel size")
    return InputError(f"{name}: {shape[1]}x{shape[0]} px at {scale} is smaller than the "
                      f"{crop}px crop; use a smaller --crop-size or --downscale")


def check_crop_from_headers(manifest: str | Path, root: str | Path | None, crop_size: int,
                            downscale: float = 1.0, holdout: float = 0.0, seed: int = 0) -> None:
    """Refuse, from the manifest's table and its images' headers (no pixel read), a crop larger
    than a training image at the common scale, as :class:`~shapekit.generate.data.GANDataModule`
    would after reading every image: the same split (:func:`holdout_split`), target and sizes
    (:func:`~shapekit.generate.data.to_common_scale`, :func:`shapekit.io.resample`'s rounding).
    What the headers do not tell (an unreadable file, unknown pixel sizes mixed with known ones)
    is left to the read."""
    from shapekit.io import header_shape, load_manifest

    m = load_manifest(manifest, root=root)
    paths = [Path(p) for p in m.paths]
    if not paths or not (np.isfinite(downscale) and downscale > 0):
        return
    names, labels = manifest_labels(m, len(paths))
    train, _ = holdout_split(labels, holdout, seed, names)
    ump = np.asarray(m.um_per_px_values, dtype=np.float64)[train]
    known = np.isfinite(ump) & (ump > 0)
    if known.any() and not known.all():
        return
    target = float(np.median(ump)) * float(downscale) if known.any() else None
    for u, i in zip(ump, train):
        shape = header_shape(paths[i])
        s = 1.0 / float(downscale) if target is None else float(u) / target
        if shape is not None and s != 1.0:
            shape = tuple(max(1, int(round(d * s))) for d in shape)
        if shape is not None and min(shape) < crop_size:
            raise too_small(str(paths[i]), shape, int(crop_size), target, float(downscale))


def holdout_split(labels: np.ndarray, fraction: float, seed: int = 0,
                  label_names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: ``round(fraction * n_k)`` images of each class ``k`` held
    out, drawn with ``seed`` (the same split for the same labels, fraction and seed);
    ``label_names`` name the classes in the error for a fraction that holds out a whole class.

    Examples
    --------
    >>> tr, te = holdout_split(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 0.25)
    >>> len(tr), len(te), sorted(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])[te].tolist())
    (7, 3, [0, 1, 1])
    """
    labels = np.asarray(labels)
    if not 0.0 <= float(fraction) < 1.0:
        raise InputError(f"--holdout must be in [0, 1), got {fraction}")
    rng = np.random.default_rng([int(seed), 0x401D])
    test = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        m = int(round(float(fraction) * len(idx)))
        if m >= len(idx) and m > 0:
            name = label_names[int(k)] if label_names is not None else k
            raise InputError(f"--holdout {fraction} holds out all {len(idx)} images of class "
                             f"{brief(str(name))}; give a smaller --holdout")
        test.extend(rng.permutation(idx)[:m].tolist())
    test_idx = np.array(sorted(test), dtype=np.int64)
    return np.setdiff1d(np.arange(len(labels)), test_idx), test_idx


def manifest_labels(m: Any, n: int) -> tuple[list[str], np.ndarray]:
    """The manifest's class names and each of its ``n`` rows' class index (one class, "all",
    without a label column).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> manifest_labels(SimpleNamespace(labels=["b", "a", "b"], label_names=None), 3)
    (['a', 'b'], array([1, 0, 1]))
    >>> manifest_labels(SimpleNamespace(labels=None), 2)
    (['all'], array([0, 0]))
    """
    raw = getattr(m, "labels", None)
    names = list(getattr(m, "label_names", None) or [])
    if raw is None:
        return ["all"], np.zeros(n, dtype=np.int64)
    raw = list(raw)
    if all(isinstance(v, (int, np.integer)) for v in raw):
        idx = np.asarray(raw, dtype=np.int64)
        names = names or [str(i) for i in range(int(idx.max()) + 1)]
        return [str(s) for s in names], idx
    names = names or sorted({str(v) for v in raw})
    names = [str(s) for s in names]
    return names, np.asarray([names.index(str(v)) for v in raw], dtype=np.int64)
