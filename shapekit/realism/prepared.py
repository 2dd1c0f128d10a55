"""Loading image sets and computing their per-image features once (``prepare_set``).

:func:`load_image_set` reads a manifest, a folder or arrays and :func:`set_name` names the set
after what the user passed; :func:`prepare_set` also brings the images to one pixel size and
computes their per-image features (topology of the raw images, imaging descriptors, structure
features at the set's own resolution), so a real set can be scored against many synthetic sets
(or degraded copies) without recomputing it. :func:`~shapekit.realism.perimage.per_image` does
the per-image work in one pass on joblib processes over chunks of images (it lives in
:mod:`shapekit.realism.perimage` and stays importable from here).

References
----------
.. [1] Kassab, L. et al. "TopTemp: Parsing precipitate structure from temper topology",
   arXiv:2204.00629 (2022).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.realism.perimage import PerImage, per_image
from shapekit.realism.summaries import FeatureSet, ScaleWarning, scale_values

__all__ = ["load_image_set", "set_groups", "set_name", "set_names", "shared_images", "prepare_set", "PreparedSet", "per_image", "PerImage", "probe_indices",
           "scale_to"]


#: how far beyond [0, 1] an image given as an array may reach (resampling ringing) before it is refused
UNIT_SLACK = 0.05


def load_image_set(src: Any, root: str | os.PathLike[str] | None = None, *,
                   what: str = "image set") -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Images, per-image ``um_per_px`` (NaN where unknown) and names of a set.

    ``src`` is a manifest (``.yaml``, or a loaded :class:`~shapekit.io.Manifest`, e.g. one label's
    images from :meth:`~shapekit.io.Manifest.of_label`), a folder of images, a list of 2-D arrays
    or an ``(n, h, w)`` array. A manifest's ``um_per_px`` wins over the file's own metadata. Float
    arrays must hold images in [0, 1] (up to :data:`UNIT_SLACK` beyond); unsigned integer
    (``uint8``, ``uint16``) and boolean arrays are scaled by their type's range and files are read
    to [0, 1], both as :func:`shapekit.io.readers.unit_image` does (``uint8`` 255 -> 1.0).

    Raises
    ------
    InputError
        Empty set, unreadable or non-image file (the message names it), non-2-D array, an array
        beyond [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> ims, um, names = load_image_set(np.zeros((2, 8, 8)))
    >>> len(ims), names
    (2, ['image 0', 'image 1'])
    """
    from shapekit.io import Manifest

    if isinstance(src, (str, os.PathLike, Manifest)):
        from shapekit.io import open_image_set, read_image

        p = src.source or src.root if isinstance(src, Manifest) else Path(src)
        if not isinstance(src, Manifest) and not p.exists():
            raise InputError(f"{what} not found: {p}")
        man = src if isinstance(src, Manifest) else open_image_set(p, root=root)
        if len(man) == 0:
            raise InputError(f"{what} is empty: {p}")
        mum = man.um_per_px_values
        ims, um = [], []
        for path, u in zip(man.paths, mum):
            img, meta = read_image(path)
            ims.append(img)
            um.append(u if np.isfinite(u) else (meta.um_per_px or np.nan))
        return ims, np.asarray(um, dtype=np.float64), [str(x) for x in man.paths]
    if isinstance(src, np.ndarray) and src.ndim != 3:
        raise InputError(f"{what}: expected an (n, h, w) array or a list of images, got shape {src.shape}")
    from shapekit.io.readers import unit_pixels

    ims = [np.asarray(unit_pixels(a, f"{what}: image {i}"), np.float32)
           for i, a in enumerate(src)]   # uint8 255 -> 1.0, as a file's
    if not ims:
        raise InputError(f"{what} is empty")
    for i, a in enumerate(ims):
        if a.ndim != 2:
            raise InputError(f"{what}: image {i} has shape {a.shape}, expected (h, w)")
        if not np.isfinite(a).all():
            raise InputError(f"{what}: image {i} contains NaN or infinite pixels")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
        if lo < -UNIT_SLACK or hi > 1 + UNIT_SLACK:   # 8-bit or tanh images would be scored as they are
            raise InputError(f"{what}: image {i} holds values in [{lo:.4g}, {hi:.4g}], outside [0, 1]: scale "
                             "the images to [0, 1] (8-bit: / 255, tanh outputs: (x + 1) / 2), or pass "
                             "uint8/uint16 arrays or a folder")
    return ims, np.full(len(ims), np.nan), [f"image {i}" for i in range(len(ims))]


def set_groups(src: Any, groups: Any = "auto", n: int | None = None, *,
               root: str | os.PathLike[str] | None = None, what: str = "image set") -> np.ndarray | None:
    """Group ids (physical sample, spot, session) of a set's images, or None when independent.

    ``groups="auto"`` takes a manifest's ``group`` column (or a prepared set's groups); None
    treats the images as independent; a sequence gives one id per image (``n`` of them).
    :func:`shapekit.realism.score` then resamples whole groups
    (:class:`shapekit.realism.resampling.Units`).

    Examples
    --------
    >>> import numpy as np
    >>> set_groups(np.zeros((3, 8, 8))) is None
    True
    >>> set_groups(None, ["s1", "s1", "s2"], 3).tolist()
    ['s1', 's1', 's2']
    """
    if groups is None:
        return None
    if isinstance(groups, str) and groups == "auto":
        from shapekit.io import Manifest

        if isinstance(src, (PreparedSet, Manifest)):
            return src.groups
        if isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() in (".yaml", ".yml"):
            from shapekit.io import open_image_set

            return open_image_set(src, root=root).groups
        return None
    g = np.asarray(groups).astype(str)
    if g.ndim != 1 or (n is not None and len(g) != n):
        raise InputError(f"{what}: groups must give one id per image ({n}), got {len(g) if g.ndim else 0}")
    return g


def set_name(src: Any, default: str) -> str:
    """A set's name from what the user passed: a manifest's ``name``, a folder's name, else ``default``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "gan_epoch10"; d.mkdir()
    >>> set_name(d, "reference"), set_name([1, 2], "reference")
    ('gan_epoch10', 'reference')
    """
    from shapekit.io import Manifest

    if isinstance(src, (PreparedSet, Manifest)):
        return src.name or default
    if not isinstance(src, (str, os.PathLike)):
        return default
    p = Path(src)
    if p.suffix.lower() in (".yaml", ".yml") and p.is_file():
        from shapekit.io import open_image_set

        try:   # the manifest loader's own guards (size, nesting, aliases); a bad one is refused there
            name = str(open_image_set(p).name or "").strip()
        except InputError:
            name = ""
        return name or p.stem
    return p.resolve().name or str(p)


def set_names(real: Any, fake: Any, names: tuple[str, str] | None = None) -> dict[str, str]:
    """``{"real": ..., "synthetic": ...}``: the given names, else :func:`set_name` of each, made distinct.

    Examples
    --------
    >>> set_names([1], [2])
    {'real': 'reference', 'synthetic': 'candidate'}
    >>> set_names([1], [2], ("a", "a"))
    {'real': 'a (reference)', 'synthetic': 'a (compared)'}
    """
    if names is not None:
        a, b = (str(x) for x in names)
    else:
        a, b = set_name(real, "reference"), set_name(fake, "candidate")
        if a == b and all(isinstance(s, (str, os.PathLike)) for s in (real, fake)):
            pa, pb = Path(real).resolve(), Path(fake).resolve()
            a, b = f"{pa.parent.name}/{pa.name}", f"{pb.parent.name}/{pb.name}"
    if a == b:
        a, b = f"{a} (reference)", f"{b} (compared)"
    return {"real": a, "synthetic": b}


def shared_images(ref: list[np.ndarray], other: list[np.ndarray]) -> int:
    """How many images of ``other`` are pixel for pixel an image of ``ref`` (same shape and values).

    Examples
    --------
    >>> a = [np.zeros((2, 2)), np.ones((2, 2))]
    >>> shared_images(a, [np.ones((2, 2)), np.ones((2, 3)), np.full((2, 2), 2.0)])
    1
    """
    from shapekit.io import image_digests

    seen = set(image_digests(ref))
    return sum(d in seen for d in image_digests(other))


def probe_indices(n: int, k: int = 24) -> np.ndarray:
    """Up to ``k`` evenly spaced image indices: the images the common resolution is estimated on.

    Examples
    --------
    >>> probe_indices(5).tolist(), len(probe_indices(1000))
    ([0, 1, 2, 3, 4], 24)
    """
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int)) if n else np.zeros(0, int)


@dataclass
class PreparedSet:
    """An image set at one pixel size with its per-image features (see :func:`prepare_set`).

    Attributes
    ----------
    images : list of ndarray
    um_per_px : float or None
    features : FeatureSet or None
        Topology of the raw images (the combined headline); None when prepared for imaging or
        structure only.
    imaging : ndarray (n, 8)
        :func:`shapekit.realism.imaging.imaging_descriptors`.
    structure : dict
        ``{(sigma_px, step, target): (FeatureSet, materials)}``: structure features at the
        smoothing and reference grey levels (:func:`shapekit.realism.structure.reference_quantiles`)
        used so far
        (:func:`score` adds to it when another set needs a coarser common resolution).
    settings : dict
        ``min_persistence`` used (score() recomputes the raw topology when its own differs).
    name : str or None
        What the set is called in verdicts and reports (None: "reference" or "candidate").
    groups : ndarray of str or None
        The images' group ids (:func:`set_groups`), None when they are independent.

    Examples
    --------
    >>> import numpy as np
    >>> ps = prepare_set(np.random.default_rng(0).random((4, 16, 16)))
    >>> type(ps).__name__, len(ps), ps.name
    ('PreparedSet', 4, None)
    """

    images: list[np.ndarray]
    um_per_px: float | None
    features: FeatureSet | None
    imaging: np.ndarray
    structure: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    name: str | None = None
    groups: np.ndarray | None = None

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
                r_max: int = 64, mode: str = "both", n_jobs: int | None = 1, name: str | None = None,
                what: str = "image set", device: str | None = None, groups: Any = "auto") -> PreparedSet:
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
    min_persistence, r_max, n_jobs, device
        As in :func:`shapekit.realism.score`.
    mode : {"both", "structure", "imaging"}
        What it will be scored for: ``"both"`` also computes the raw-image topology of the
        combined headline; ``"imaging"`` skips the structure features.
    name : str, optional
        Its name in verdicts and reports (default: :func:`set_name`; for arrays, "reference" or
        "candidate" by the side it is scored on).
    groups : "auto", None or sequence
        The images' group ids (:func:`set_groups`; "auto": a manifest's ``group`` column).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ps = prepare_set([rng.random((24, 24)) for _ in range(5)])
    >>> len(ps), ps.features.summaries.shape[0], ps.um_per_px is None, len(ps.structure)
    (5, 5, True, 1)
    """
    from shapekit.realism.imaging import imaging_descriptors
    from shapekit.realism.structure import own_sigma, reference_quantiles, structure_step

    if mode not in ("both", "structure", "imaging"):
        raise InputError(f"mode must be 'both', 'structure' or 'imaging', got {mode!r}")
    ims, um, _ = load_image_set(src, root, what=what)
    grp = set_groups(src, groups, len(ims), root=root, what=what)
    if um_per_px is not None:
        um = scale_values(um_per_px, len(ims))
    known = np.isfinite(um)
    target = target_um_per_px if target_um_per_px is not None else (float(np.max(um[known])) if known.any() else None)
    if target is not None:
        ims, target = scale_to(ims, um, target)
    r_max = int(min([r_max] + [min(a.shape) - 1 for a in ims]))
    key = None
    if mode != "imaging":
        probe = [ims[i] for i in probe_indices(len(ims))]
        sigma = own_sigma(imaging_descriptors(probe)[0])
        step = structure_step(sigma, [a.shape for a in ims])
        key = (sigma, step, reference_quantiles(probe, sigma, step))
    r = per_image(ims, topology=mode == "both", structure=key, min_persistence=min_persistence, r_max=r_max,
                  n_jobs=n_jobs, device=device)
    ps = PreparedSet(list(ims), target, r.topology, r.imaging, {}, {"min_persistence": min_persistence, "r_max": r_max},
                     name or (set_name(src, "") or None), grp)
    if key is not None:
        ps.structure[key] = (r.structure, r.materials)
    return ps
