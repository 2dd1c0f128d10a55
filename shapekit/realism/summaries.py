"""Per-image topological features at a common physical scale (diagrams, summaries, Betti curves).

The topology pipeline's own steps on the raw grey levels (no standardisation: realism compares
intensities too): :class:`~shapekit.topology.transformers.CubicalDiagrams` gives each image's
:class:`~shapekit.topology.diagrams.Diagrams` (sublevel/superlevel x H0/H1 by default), then
:class:`~shapekit.topology.vectorizers.PersistenceStatistics` its statistics (counts above
persistence thresholds in grey levels, total/max/mean persistence, entropy, lifetime/birth/death
quantiles) and :class:`~shapekit.topology.vectorizers.BettiCurves` its Betti curves on a fixed
grid of grey levels.  Extensive statistics (pair counts, total persistence) and Betti numbers are
divided by the image area in units of 10^4 pixels and the persistence entropy by
``log(n_pairs)`` (its maximum: an evenness in [0, 1]), so sets of different image sizes at one
scale compare fairly.  Names follow the topology scheme (``s1_superlevel_h1_count_above_1``).

Diagrams kept for diagram distances are the finite pairs with persistence above
``diagram_min_persistence``, most persistent first, truncated to the ``max_points`` most
persistent pairs (original orientation; :func:`distance_diagrams` writes them as ``b <= d``).

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

from shapekit.errors import InputError, ShapekitWarning
from shapekit.topology.diagrams import DIMS, FILTRATIONS, Block, Diagrams

__all__ = ["ScaleWarning", "FeatureSet", "common_scale", "image_features", "concat_features",
           "distance_diagrams", "scale_values"]

#: persistence thresholds of the counts, in grey levels of [0, 1] images, and the quantiles
THRESHOLDS = (0.05, 0.1, 0.2, 0.4)
QUANTILES = (0.1, 0.5, 0.9)
#: extensive statistics and Betti numbers are per this many pixels
AREA_UNIT = 1e4


class ScaleWarning(ShapekitWarning):
    """Two image sets are compared without knowing that they share a physical scale."""


@dataclass
class FeatureSet:
    """Per-image topological features of one image set.

    Attributes
    ----------
    summaries : ndarray (n, p)
        Summary vectors, columns named by ``names``.
    names : list of str
        ``"<block name>_<statistic>"``, e.g. ``"s1_sublevel_h1_count_above_1"``.
    diagrams : list of Diagrams
        Per image, the kept pairs of every block (finite, filtered, most persistent first).
    betti : ndarray (n, n_blocks, n_grid)
        Betti curves per 10^4 pixels on ``grid`` (superlevel curves on the same increasing grid).
    grid : ndarray (n_grid,)
    blocks : list of Block
        The diagram blocks, in the order of ``betti`` and of the summary columns.
    shapes : list of tuple
        Image shapes after scaling.
    """

    summaries: np.ndarray
    names: list[str]
    diagrams: list[Diagrams]
    betti: np.ndarray
    grid: np.ndarray
    blocks: list[Block]
    shapes: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.summaries)


def scale_values(um: object, n: int) -> np.ndarray:
    """Per-image pixel sizes from a scalar, an array or None (NaN: unknown); checked.

    Examples
    --------
    >>> scale_values(0.5, 2).tolist(), bool(np.isnan(scale_values(None, 1)).all())
    ([0.5, 0.5], True)
    """
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
    ur = scale_values(real_um, len(real))
    uf = scale_values(fake_um, len(fake))
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


def _kept(d: np.ndarray, min_pers: float, max_points: int) -> np.ndarray:
    """Finite pairs with persistence > ``min_pers``, the ``max_points`` most persistent, sorted."""
    life = np.abs(d[:, 1] - d[:, 0])
    keep = np.flatnonzero(np.isfinite(life) & (life > min_pers))   # also drops essential bars
    if len(keep) > max_points:
        keep = keep[np.argpartition(-life[keep], max_points - 1)[:max_points]]
    return d[keep[np.argsort(-life[keep], kind="stable")]]


def distance_diagrams(diagrams: Diagrams, blocks: list[Block] | None = None) -> list[np.ndarray]:
    """The kept diagrams of one image as ``(b, d)`` with ``b <= d`` (superlevel ones negated), in
    ``blocks`` order: the input of the diagram distances of :mod:`shapekit.realism.diagdist`.

    Examples
    --------
    >>> d = Diagrams({(1, "superlevel", 0): [[0.9, 0.2]]})
    >>> distance_diagrams(d)[0].tolist()
    [[-0.9, -0.2]]
    """
    return [-diagrams[b] if b.filtration == "superlevel" else diagrams[b]
            for b in (list(diagrams) if blocks is None else blocks)]


def image_features(images: list[np.ndarray], *, filtrations: tuple[str, ...] = FILTRATIONS,
                   dims: tuple[int, ...] = DIMS, min_persistence: float = 1.5 / 255,
                   diagram_min_persistence: float = 0.02, max_points: int = 500,
                   n_grid: int = 64, n_jobs: int | None = 1, betti: bool = True,
                   device: str | None = None) -> FeatureSet:
    """Diagrams, named summary vectors and Betti curves of every image.

    Parameters
    ----------
    images : list of ndarray (h, w)
        Grey images in [0, 1] at a common scale (see :func:`common_scale`); integer and
        boolean images are read on that scale as files are (``uint8`` 255 -> 1.0).
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
    device : str or None
        Where the persistence runs (``backend="auto"`` of
        :class:`~shapekit.topology.transformers.CubicalDiagrams`): None, CUDA when present (the
        torch backend) else GUDHI on the CPU; ``"cuda"`` the torch backend, ``"cpu"`` GUDHI.
        The diagrams are the same either way; sums over them agree to rounding (~1e-15).

    Returns
    -------
    FeatureSet

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fs = image_features([rng.random((32, 32)) for _ in range(3)])
    >>> fs.summaries.shape[0], fs.betti.shape, fs.names[0]
    (3, (3, 4, 64), 's1_sublevel_h0_n_pairs')
    """
    from shapekit.topology.transformers import CubicalDiagrams
    from shapekit.topology.vectorizers import BettiCurves, PersistenceStatistics
    from shapekit.topology.vectorize import extensive_columns, statistic_names

    if len(images) == 0:
        raise InputError("image set is empty")
    from shapekit.io.readers import unit_pixels

    imgs = []
    for i, im in enumerate(images):
        im = unit_pixels(im, f"image {i}")   # uint8 255 -> 1.0, as files
        a = np.asarray(im, dtype=np.float64)
        if a.ndim != 2 or min(a.shape) < 2:
            raise InputError(f"image {i}: expected a 2-D image of at least 2x2 pixels, got shape {a.shape}")
        imgs.append(a)
    dgs = CubicalDiagrams(tuple(filtrations), tuple(dims), min_persistence, backend="auto",
                          n_jobs=n_jobs, device=device).fit_transform(imgs)
    stats = PersistenceStatistics(THRESHOLDS, QUANTILES)
    S = stats.fit_transform(dgs)
    blocks = list(stats.blocks_)
    base = statistic_names(THRESHOLDS, QUANTILES)
    w = len(base)
    S = S.reshape(len(imgs), len(blocks), w)
    n_pairs = S[:, :, 0].copy()
    ent = base.index("persistence_entropy")
    with np.errstate(divide="ignore", invalid="ignore"):   # evenness in [0, 1]: the raw entropy
        S[:, :, ent] = np.where(n_pairs > 1, S[:, :, ent] / np.log(n_pairs), S[:, :, ent])
    areas = np.array([a.size / AREA_UNIT for a in imgs])
    S[:, :, extensive_columns(len(THRESHOLDS))] /= areas[:, None, None]   # grows like log(area)
    keep = [j for j, n in enumerate(base) if n != "n_essential"]
    names = [b.feature(base[j]) for b in blocks for j in keep]
    grid = np.linspace(0.0, 1.0, n_grid if betti else 1)
    B = np.zeros((len(imgs), len(blocks), len(grid)))
    if betti:
        B = BettiCurves(n_grid, (0.0, 1.0), per_area=AREA_UNIT).fit_transform(dgs).reshape(B.shape)
    kept = [Diagrams({b: _kept(d[b], diagram_min_persistence, max_points) for b in blocks}, d.area)
            for d in dgs]
    return FeatureSet(S[:, :, keep].reshape(len(imgs), -1), names, kept, B, grid, blocks,
                      [a.shape for a in imgs])


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
                      first.grid, list(first.blocks), [s for p in parts for s in p.shapes])
