"""Per-image topological features at a common physical scale (diagrams, summaries, Betti curves).

For each image and each (filtration, homology dimension) pair -- sublevel/superlevel x H0/H1 by
default -- the cubical persistence diagram comes from :func:`shapekit.topology.cubical_persistence_batch`
and its scalar summaries from :func:`shapekit.topology.vectorize.diagram_summaries` (counts above
persistence thresholds, total/max/mean persistence, entropy, lifetime/birth/death quantiles).
Extensive summaries (pair counts, total persistence) are divided by the image area in units of
10^4 pixels and the persistence entropy by ``log(n_pairs)`` (its maximum: an evenness in [0, 1]),
so sets of different image sizes at one scale compare fairly. Betti curves are
sampled on a fixed grid of grey levels and divided by the area in the same way.

Diagrams kept for diagram distances are the finite pairs with persistence above
``diagram_min_persistence``, written as ``(b, d)`` with ``b <= d`` (superlevel diagrams negated),
truncated to the ``max_points`` most persistent pairs.

:func:`common_scale` brings two image sets to one pixel size (the coarsest known) with
:func:`shapekit.io.resample` and warns (:class:`ScaleWarning`) when the scale is unknown.

References
----------
.. [1] Kassab, L., Howland, S., Kvinge, H., Kappagantula, K., Emerson, T. "TopTemp: Parsing
   precipitate structure from temper topology", arXiv:2204.00629 (2022).
.. [2] Howland, S. et al. "Parameters, properties, and process: conditional neural generation of
   realistic SEM imagery towards ML-assisted advanced manufacturing", arXiv:2302.08495 (2023).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from shapekit.errors import InputError

__all__ = ["ScaleWarning", "FeatureSet", "common_scale", "image_features", "concat_features", "diagram_keys",
           "EXTENSIVE"]

THRESHOLDS = (0.05, 0.1, 0.2, 0.4)
QUANTILES = (0.1, 0.5, 0.9)
EXTENSIVE = ("n_pairs", "count_above_0", "count_above_1", "count_above_2", "count_above_3",
             "total_persistence", "total_persistence_sq")
AREA_UNIT = 1e4


class ScaleWarning(UserWarning):
    """Two image sets are compared without knowing that they share a physical scale."""


def diagram_keys(filtrations: tuple[str, ...] = ("sublevel", "superlevel"),
                 dims: tuple[int, ...] = (0, 1)) -> list[str]:
    """Names of the (filtration, dimension) diagrams, e.g. ``"sub_h0"``.

    Examples
    --------
    >>> diagram_keys()
    ['sub_h0', 'sub_h1', 'sup_h0', 'sup_h1']
    """
    return [f"{f[:3]}_h{d}" for f in filtrations for d in dims]


@dataclass
class FeatureSet:
    """Per-image topological features of one image set.

    Attributes
    ----------
    summaries : ndarray (n, p)
        Summary vectors, columns named by ``names``.
    names : list of str
        ``"<diagram key>.<summary>"``, e.g. ``"sub_h1.count_above_1"``.
    diagrams : list of dict
        Per image ``{diagram key: (k, 2) array}`` (filtered, ``b <= d``, most persistent first).
    betti : ndarray (n, n_keys, n_grid)
        Betti curves per 10^4 pixels on ``grid`` (superlevel curves on the same increasing grid).
    grid : ndarray (n_grid,)
    keys : list of str
    shapes : list of tuple
        Image shapes after scaling.
    """

    summaries: np.ndarray
    names: list[str]
    diagrams: list[dict[str, np.ndarray]]
    betti: np.ndarray
    grid: np.ndarray
    keys: list[str]
    shapes: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.summaries)


def _scale_values(um: object, n: int) -> np.ndarray:
    if um is None:
        return np.full(n, np.nan)
    arr = np.atleast_1d(np.asarray(um, dtype=np.float64))
    if arr.size == 1:
        arr = np.full(n, float(arr[0]))
    if arr.size != n:
        raise InputError(f"um_per_px has {arr.size} values for {n} images")
    bad = np.isfinite(arr) & (arr <= 0)
    if bad.any():
        raise InputError(f"um_per_px must be positive, got {arr[bad][0]!r}")
    return arr


def common_scale(real: list[np.ndarray], fake: list[np.ndarray], real_um: object = None,
                 fake_um: object = None) -> tuple[list[np.ndarray], list[np.ndarray], float | None]:
    """Resample both sets to one pixel size, the coarsest one known.

    Rules: when every image's ``um_per_px`` is known, all are resampled to the largest (coarsest)
    value. When only some are known, the images without a value are assumed to be at that target
    already, with a :class:`ScaleWarning`. When none is known, the images are compared pixel for
    pixel; a :class:`ScaleWarning` is raised when the two sets' median image sizes differ by more
    than 10 %, a hint that they were taken at different magnifications.

    Returns
    -------
    real, fake : list of ndarray
    um_per_px : float or None
        The common pixel size, None when unknown.

    Examples
    --------
    >>> import numpy as np
    >>> r, f, um = common_scale([np.zeros((40, 40))], [np.zeros((20, 20))], 0.1, 0.2)
    >>> r[0].shape, f[0].shape, um
    ((20, 20), (20, 20), 0.2)
    """
    ur = _scale_values(real_um, len(real))
    uf = _scale_values(fake_um, len(fake))
    allu = np.concatenate([ur, uf])
    known = np.isfinite(allu)
    if not known.any():
        sr = np.median([np.prod(np.shape(im)) for im in real]) if real else 0
        sf = np.median([np.prod(np.shape(im)) for im in fake]) if fake else 0
        if sr and sf and abs(np.sqrt(sr / sf) - 1.0) > 0.1:
            warnings.warn("no um/px known for either set and their image sizes differ "
                          f"(median {int(sr)} vs {int(sf)} px): comparing at pixel scale; pass "
                          "um_per_px (or a manifest with um_per_px) if magnifications differ",
                          ScaleWarning, stacklevel=2)
        return list(real), list(fake), None
    target = float(np.nanmax(allu))
    if not known.all():
        which = "real" if not np.isfinite(ur).all() else "synthetic"
        warnings.warn(f"um/px unknown for some {which} images: assuming they are at "
                      f"{target:.4g} um/px already", ScaleWarning, stacklevel=2)
    from shapekit.io import resample

    def _res(ims: list[np.ndarray], us: np.ndarray) -> list[np.ndarray]:
        return [resample(np.asarray(im, np.float32), float(u), target)
                if np.isfinite(u) and abs(u - target) > 1e-9 * target else np.asarray(im, np.float32)
                for im, u in zip(ims, us)]

    return _res(real, ur), _res(fake, uf), target


def _normalise(dgm: np.ndarray, superlevel: bool, min_pers: float, max_points: int) -> np.ndarray:
    d = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    life = np.abs(d[:, 1] - d[:, 0])
    keep = np.flatnonzero(np.isfinite(life) & (life > min_pers))   # also drops essential bars
    if len(keep) > max_points:
        keep = keep[np.argpartition(-life[keep], max_points - 1)[:max_points]]
    keep = keep[np.argsort(-life[keep], kind="stable")]
    out = d[keep]
    return -out if superlevel else out


def image_features(images: list[np.ndarray], *, filtrations: tuple[str, ...] = ("sublevel", "superlevel"),
                   dims: tuple[int, ...] = (0, 1), min_persistence: float = 1.5 / 255,
                   diagram_min_persistence: float = 0.02, max_points: int = 500,
                   n_grid: int = 64, n_jobs: int | None = 1, betti: bool = True) -> FeatureSet:
    """Diagrams, named summary vectors and Betti curves of every image.

    Parameters
    ----------
    images : list of ndarray (h, w)
        Grey images in [0, 1] at a common scale (see :func:`common_scale`).
    filtrations, dims
        Diagrams computed (both filtrations, H0 and H1 by default).
    min_persistence : float
        Persistence below which pairs are dropped before anything else (default 1.5 grey levels
        of 8 bits: quantisation noise).
    diagram_min_persistence : float
        Extra filter for the diagrams kept for diagram distances.
    max_points : int
        At most this many (most persistent) pairs per kept diagram.
    n_grid : int
        Points of the Betti-curve grid on [0, 1].
    n_jobs : int or None
        Threads for the persistence computation.
    betti : bool
        Compute the Betti curves (only the report uses them); when False ``betti`` has a
        length-1 grid of zeros.

    Returns
    -------
    FeatureSet

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fs = image_features([rng.random((32, 32)) for _ in range(3)])
    >>> fs.summaries.shape[0], fs.betti.shape, fs.names[0]
    (3, (3, 4, 64), 'sub_h0.n_pairs')
    """
    from shapekit.topology import cubical_persistence_batch
    from shapekit.topology.vectorize import betti_curve, diagram_summaries, summary_names

    if len(images) == 0:
        raise InputError("image set is empty")
    imgs = []
    for i, im in enumerate(images):
        a = np.asarray(im, dtype=np.float64)
        if a.ndim != 2 or min(a.shape) < 2:
            raise InputError(f"image {i}: expected a 2-D image of at least 2x2 pixels, got shape {a.shape}")
        imgs.append(a)
    keys = diagram_keys(filtrations, dims)
    base = [n for n in summary_names(THRESHOLDS, QUANTILES) if n != "n_essential"]
    names = [f"{k}.{n}" for k in keys for n in base]
    grid = np.linspace(0.0, 1.0, n_grid if betti else 1)
    n = len(imgs)
    S = np.zeros((n, len(names)))
    B = np.zeros((n, len(keys), len(grid)))
    kept: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    areas = np.array([a.size / AREA_UNIT for a in imgs])
    col = 0
    for filt in filtrations:
        dg = cubical_persistence_batch(imgs, filtration=filt, dims=dims,
                                       min_persistence=min_persistence, n_jobs=n_jobs)
        for dim in dims:
            key = f"{filt[:3]}_h{dim}"
            ki = keys.index(key)
            for i in range(n):
                d = dg[i][dim]
                s = diagram_summaries(d, THRESHOLDS, QUANTILES)
                if s["n_pairs"] > 1:   # evenness in [0, 1]: the raw entropy grows like log(area)
                    s["persistence_entropy"] /= np.log(s["n_pairs"])
                row = np.array([s[b] for b in base])
                for j, b in enumerate(base):
                    if b in EXTENSIVE:
                        row[j] /= areas[i]
                S[i, col: col + len(base)] = row
                if betti:
                    B[i, ki] = betti_curve(d, grid, filtration=filt) / areas[i]
                kept[i][key] = _normalise(d, filt == "superlevel", diagram_min_persistence, max_points)
            col += len(base)
    return FeatureSet(S, names, kept, B, grid, keys, [a.shape for a in imgs])


def concat_features(parts: list[FeatureSet]) -> FeatureSet:
    """Concatenate feature sets computed on consecutive chunks of one image list.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = image_features([rng.random((16, 16))]); b = image_features([rng.random((16, 16))] * 2)
    >>> len(concat_features([a, b]))
    3
    """
    if not parts:
        raise InputError("no feature sets to concatenate")
    first = parts[0]
    return FeatureSet(np.vstack([p.summaries for p in parts]), list(first.names),
                      [d for p in parts for d in p.diagrams], np.concatenate([p.betti for p in parts]),
                      first.grid, list(first.keys), [s for p in parts for s in p.shapes])
