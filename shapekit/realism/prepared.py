"""Loading image sets and computing their per-image features once (``prepare_set``).

:func:`load_image_set` reads a manifest, a folder or arrays; :func:`prepare_set` also brings the
images to one pixel size and computes their topological features and materials statistics, so a
real set can be scored against many synthetic sets (or degraded copies) without recomputing it.

References
----------
.. [1] Kassab, L. et al. "TopTemp: Parsing precipitate structure from temper topology",
   arXiv:2204.00629 (2022).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.realism.summaries import FeatureSet, ScaleWarning, image_features, scale_values

__all__ = ["load_image_set", "prepare_set", "PreparedSet"]


def load_image_set(src: Any, root: str | os.PathLike[str] | None = None, *,
                   what: str = "image set") -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Images, per-image ``um_per_px`` (NaN where unknown) and names of a set.

    ``src`` is a manifest (``.yaml``), a folder of images, a list of 2-D arrays or an
    ``(n, h, w)`` array. A manifest's ``um_per_px`` wins over the file's own metadata.

    Raises
    ------
    InputError
        Empty set, unreadable or non-image file (the message names it), non-2-D array.

    Examples
    --------
    >>> import numpy as np
    >>> ims, um, names = load_image_set(np.zeros((2, 8, 8)))
    >>> len(ims), names
    (2, ['image 0', 'image 1'])
    """
    if isinstance(src, (str, os.PathLike)):
        from shapekit.io import open_image_set, read_image

        p = Path(src)
        if not p.exists():
            raise InputError(f"{what} not found: {p}")
        man = open_image_set(p, root=root)
        if len(man) == 0:
            raise InputError(f"{what} is empty: {p}")
        mum = man.um_per_px_values
        ims, um = [], []
        for path, u in zip(man.paths, mum):
            img, meta = read_image(path)
            ims.append(img)
            um.append(u if np.isfinite(u) else (meta.um_per_px or np.nan))
        return ims, np.asarray(um, dtype=np.float64), [str(x) for x in man.paths]
    if isinstance(src, np.ndarray) and src.ndim == 3:
        ims = [np.asarray(a, np.float32) for a in src]
    elif isinstance(src, np.ndarray):
        raise InputError(f"{what}: expected an (n, h, w) array or a list of images, got shape {src.shape}")
    else:
        ims = [np.asarray(a, np.float32) for a in src]
    if not ims:
        raise InputError(f"{what} is empty")
    for i, a in enumerate(ims):
        if a.ndim != 2:
            raise InputError(f"{what}: image {i} has shape {a.shape}, expected (h, w)")
        if not np.isfinite(a).all():
            raise InputError(f"{what}: image {i} contains NaN or infinite pixels")
    return ims, np.full(len(ims), np.nan), [f"image {i}" for i in range(len(ims))]


def _per_image(ims: list[np.ndarray], min_persistence: float, threshold: float | None,
               r_max: int, betti: bool = True) -> tuple[FeatureSet, dict, dict]:
    from shapekit.realism.materials import materials_statistics

    t0 = time.perf_counter()
    fs = image_features(ims, min_persistence=min_persistence, n_jobs=1, betti=betti)
    t1 = time.perf_counter()
    ms = materials_statistics(ims, threshold=threshold, r_max=r_max)
    return fs, ms, {"topology": t1 - t0, "materials": time.perf_counter() - t1}


def per_image_features(ims: list[np.ndarray], min_persistence: float, threshold: float | None,
                        r_max: int, n_jobs: int | None, betti: bool = True) -> tuple[FeatureSet, dict, dict]:
    """Per-image features and materials statistics, on joblib processes over image chunks."""
    from joblib import effective_n_jobs

    from shapekit.realism.summaries import concat_features  # noqa: F811

    nj = effective_n_jobs(n_jobs) if n_jobs not in (None, 1) else 1
    if nj == 1 or len(ims) < 8:
        return _per_image(ims, min_persistence, threshold, r_max, betti)
    from joblib import Parallel, delayed

    bounds = np.linspace(0, len(ims), 2 * nj + 1).astype(int)
    chunks = [ims[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    parts = Parallel(n_jobs=nj)(delayed(_per_image)(c, min_persistence, threshold, r_max, betti)
                                       for c in chunks)
    fs = concat_features([p[0] for p in parts])
    ms = {k: (np.concatenate([p[1][k] for p in parts]) if k != "chord_bins" else parts[0][1][k])
          for k in parts[0][1]}
    return fs, ms, {k: sum(p[2][k] for p in parts) for k in parts[0][2]}


@dataclass
class PreparedSet:
    """An image set at one pixel size with its per-image features (see :func:`prepare_set`).

    Attributes
    ----------
    images : list of ndarray
    um_per_px : float or None
    features : FeatureSet
    materials : dict
        Output of :func:`shapekit.realism.materials.materials_statistics`.
    settings : dict
        ``min_persistence`` and ``threshold`` used (score() recomputes when its own differ).

    Examples
    --------
    >>> import numpy as np
    >>> ps = prepare_set(np.random.default_rng(0).random((4, 16, 16)))
    >>> type(ps).__name__, len(ps)
    ('PreparedSet', 4)
    """

    images: list[np.ndarray]
    um_per_px: float | None
    features: FeatureSet
    materials: dict
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)


def scale_to(ims: list[np.ndarray], um: Any, target: float | None,
              other: float | None = None) -> tuple[list[np.ndarray], float | None]:
    """Resample ``ims`` (pixel sizes ``um``) to ``target`` um/px, warning when a scale is unknown.

    With ``other`` given instead of images, only compare two prepared sets' scales.
    """
    if other is not None or not ims:
        a, b = target, other
        if a is None or b is None:
            if a != b:
                warnings.warn("one prepared set has no um/px: comparing at pixel scale", ScaleWarning,
                              stacklevel=3)
        elif abs(a - b) > 1e-6 * max(a, b):
            warnings.warn(f"prepared sets differ in scale ({a:.4g} vs {b:.4g} um/px): prepare them "
                          "at one um_per_px", ScaleWarning, stacklevel=3)
        return ims, a if a is not None else b
    us = scale_values(um, len(ims))
    if target is None:
        if np.isfinite(us).any():
            warnings.warn("the prepared set has no um/px: comparing at pixel scale", ScaleWarning, stacklevel=3)
        return ims, None
    if not np.isfinite(us).all():
        warnings.warn(f"um/px unknown for some images: assuming they are at {target:.4g} um/px already",
                      ScaleWarning, stacklevel=3)
    from shapekit.io import resample

    out = [resample(np.asarray(im, np.float32), float(u), target) if np.isfinite(u) and abs(u - target) > 1e-9
           else im for im, u in zip(ims, us)]
    return out, target


def prepare_set(src: Any, *, root: str | os.PathLike[str] | None = None, um_per_px: Any = None,
                target_um_per_px: float | None = None, min_persistence: float = 1.5 / 255,
                threshold: float | None = None, r_max: int = 64, n_jobs: int | None = 1,
                what: str = "image set") -> PreparedSet:
    """Load a set, bring it to one pixel size and compute its per-image features once.

    Parameters
    ----------
    src : path, list of ndarray or ndarray (n, h, w)
    root : path, optional
        Data root overriding a manifest's ``root``.
    um_per_px : float or array, optional
        Pixel sizes (override metadata).
    target_um_per_px : float, optional
        Resample to this pixel size (default: the coarsest known one of the set).
    min_persistence, threshold, r_max, n_jobs
        As in :func:`shapekit.realism.score`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ps = prepare_set([rng.random((24, 24)) for _ in range(5)])
    >>> len(ps), ps.features.summaries.shape[0], ps.um_per_px is None
    (5, 5, True)
    """
    ims, um, _ = load_image_set(src, root, what=what)
    if um_per_px is not None:
            um = scale_values(um_per_px, len(ims))
    known = np.isfinite(um)
    target = target_um_per_px if target_um_per_px is not None else (float(np.max(um[known])) if known.any() else None)
    if target is not None:
        ims, target = scale_to(ims, um, target)
    r_max = int(min([r_max] + [min(a.shape) - 1 for a in ims]))
    fs, ms, _ = per_image_features(ims, min_persistence, threshold, r_max, n_jobs)
    return PreparedSet(list(ims), target, fs, ms, {"min_persistence": min_persistence, "threshold": threshold})
