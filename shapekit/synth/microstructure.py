r"""Geometry of a simulated section: Voronoi grains, boundary and matrix precipitates, PFZs.

Turns the process model's numbers (:func:`shapekit.synth.physics.process_model`) into a field of
view, in pixel units:

* **Grains**: a Poisson-Voronoi tessellation (``GRAIN_DENSITY_PER_UM2`` seeds per um^2, seeds also
  drawn in a margin so cells are right at the edges). The distance of every pixel to its cell's
  boundary is exact: :math:`\min_{j\ne i} (|x-s_j|^2 - |x-s_i|^2) / (2|s_j - s_i|)` for the
  nearest seed :math:`s_i`.
* **Boundary precipitates** sit on the boundaries with a hard-core spacing of
  ``GB_SPACING_FACTOR`` times their mean radius; **matrix precipitates** fill the grain interiors
  outside the precipitate-free zone (distance to the boundary > PFZ half-width + radius).
* Radii follow the LSW distribution. Centres are placed by random sequential addition in batches
  with a hard core (radius_i + radius_j + ``GAP_PX``: particles never touch, so labelling can
  count them) until the requested area fraction, minus the boundary particles' share, is filled
  in the padded domain. The realised fraction in the field of view then fluctuates only by the
  particles cut by its edges.
* Particles are rasterised with an anti-aliased edge (coverage :math:`\mathrm{clip}(r + 1/2 - d,
  0, 1)`), which preserves the area :math:`\pi r^2` to well under a pixel.

References
----------
.. [1] J. Ohser, F. Muecklich, Statistical Analysis of Microstructures in Materials Science
   (Wiley, 2000): Poisson-Voronoi grains, hard-core point processes, Delesse's principle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

GRAIN_DENSITY_PER_UM2 = 12.0
GB_SPACING_FACTOR = 6.0
GAP_PX = 2.0

RadiusSampler = Callable[[int, np.random.Generator], np.ndarray]


@dataclass
class Microstructure:
    """A rasterised field of view (row 0 at the top; coordinates are (row, col) in pixels).

    Attributes
    ----------
    coverage : (h, w) float32 array in [0, 1], precipitate area coverage per pixel.
    grain_id : (h, w) int32 array, index of the Voronoi cell of each pixel.
    gb_distance : (h, w) float32 array, distance (px) to the nearest grain boundary.
    centers : (n, 2) float array of particle centres (may lie a little outside the view).
    radii : (n,) float array, particle radii (px).
    on_boundary : (n,) bool array, True for grain-boundary precipitates.
    pfz_px : float, precipitate-free-zone half-width (px).
    """

    coverage: np.ndarray
    grain_id: np.ndarray
    gb_distance: np.ndarray
    centers: np.ndarray
    radii: np.ndarray
    on_boundary: np.ndarray
    pfz_px: float

    @property
    def in_view(self) -> np.ndarray:
        """Boolean mask of particles whose centre lies inside the field of view."""
        h, w = self.coverage.shape
        c = self.centers
        return (c[:, 0] >= 0) & (c[:, 0] < h) & (c[:, 1] >= 0) & (c[:, 1] < w)


_CHUNK_BYTES = 64 * 2**20
"""Working memory of the boundary-distance computation (the pixels x seeds distances of a chunk
of rows)."""


def _grains(shape: tuple[int, int], density_px: float, rng: np.random.Generator,
            pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Grain index and boundary distance on the padded grid (rows/cols -pad .. shape+pad)."""
    h, w = shape
    spacing = 1.0 / np.sqrt(density_px)
    m = spacing + pad
    lo = np.array([-m, -m])
    ext = np.array([h + 2 * m, w + 2 * m])
    k = max(1, int(rng.poisson(density_px * ext[0] * ext[1])))
    seeds = lo + rng.random((k, 2)) * ext
    rr = np.arange(-pad, h + pad, dtype=np.float32)
    cc = np.arange(-pad, w + pad, dtype=np.float32)
    H, W = len(rr), len(cc)
    if k == 1:
        return np.zeros((H, W), np.int32), np.full((H, W), np.inf, np.float32)
    sd = seeds.astype(np.float32)
    gid = np.empty((H, W), np.int32)
    dist = np.empty((H, W), np.float32)
    # rows in chunks: the (rows, W, k) distances stay under _CHUNK_BYTES whatever the field size
    step = max(1, int(_CHUNK_BYTES // (4 * W * k)))
    for r0 in range(0, H, step):
        d2 = ((rr[r0:r0 + step, None, None] - sd[None, None, :, 0]) ** 2
              + (cc[None, :, None] - sd[None, None, :, 1]) ** 2)
        g = np.argmin(d2, axis=2).astype(np.int32)
        d2 -= np.take_along_axis(d2, g[..., None], axis=2)
        # 1 / (2 |s_j - s_i|) for the chunk's own seeds i only; the own seed: NaN, skipped by fmin
        own, where = np.unique(g, return_inverse=True)
        with np.errstate(divide="ignore"):
            inv = 0.5 / np.linalg.norm(sd[None, :, :] - sd[own, None, :], axis=2)
        inv[np.arange(len(own)), own] = np.nan
        d2 *= inv[where.reshape(g.shape)]
        gid[r0:r0 + step], dist[r0:r0 + step] = g, np.fmin.reduce(d2, axis=2)
    return gid, dist


def _lookup(grid: np.ndarray, pts: np.ndarray, pad: int) -> np.ndarray:
    r = np.clip(np.rint(pts[:, 0]).astype(int) + pad, 0, grid.shape[0] - 1)
    c = np.clip(np.rint(pts[:, 1]).astype(int) + pad, 0, grid.shape[1] - 1)
    return grid[r, c]


def _hard_core_add(cands: np.ndarray, radii: np.ndarray, acc_c: np.ndarray, acc_r: np.ndarray,
                   gap: float, min_sep: float = 0.0) -> np.ndarray:
    """Indices (in order) of candidates clear of the accepted set and of earlier candidates."""
    if len(cands) == 0:
        return np.zeros(0, int)
    keep = np.ones(len(cands), bool)
    rmax = float(radii.max())
    if len(acc_c):
        tree = cKDTree(acc_c)
        reach = rmax + float(acc_r.max()) + gap + min_sep
        d, j = tree.query(cands, k=min(16, len(acc_c)), distance_upper_bound=reach)
        d, j = d.reshape(len(cands), -1), j.reshape(len(cands), -1)
        ok = j < len(acc_c)
        need = np.where(ok, radii[:, None] + acc_r[np.minimum(j, len(acc_c) - 1)] + gap, 0.0)
        need = np.maximum(need, np.where(ok, min_sep, 0.0))
        keep &= ~np.any(ok & (d < need), axis=1)
    pairs = cKDTree(cands).query_pairs(2 * rmax + gap + min_sep, output_type="ndarray")
    if len(pairs):
        i, j = pairs[:, 0], pairs[:, 1]
        d = np.linalg.norm(cands[i] - cands[j], axis=1)
        clash = d < np.maximum(radii[i] + radii[j] + gap, min_sep)
        # Matern type II thinning: the later candidate of each clashing pair goes.
        keep[np.unique(np.maximum(i[clash], j[clash]))] = False
    return np.flatnonzero(keep)


def _rasterise(shape: tuple[int, int], centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    h, w = shape
    acc = np.zeros(h * w, np.float64)
    half = np.ceil(radii + 1.0).astype(int)
    for hs in np.unique(half):
        sel = np.flatnonzero(half == hs)
        off = np.arange(-hs, hs + 1)
        orr, occ = np.meshgrid(off, off, indexing="ij")
        c = centers[sel]
        base = np.rint(c).astype(int)
        pr = base[:, 0, None, None] + orr[None]
        pc = base[:, 1, None, None] + occ[None]
        d = np.hypot(pr - c[:, 0, None, None], pc - c[:, 1, None, None])
        cov = np.clip(radii[sel, None, None] + 0.5 - d, 0.0, 1.0)
        ok = (pr >= 0) & (pr < h) & (pc >= 0) & (pc < w) & (cov > 0)
        acc += np.bincount((pr * w + pc)[ok], weights=cov[ok], minlength=h * w)
    return np.clip(acc, 0.0, 1.0).reshape(h, w).astype(np.float32)


def _fill(cen: np.ndarray, rad: np.ndarray, target: float, lo: tuple[float, float],
          hi: tuple[float, float], *, gbd: np.ndarray, pad: int, pfz_px: float, radius_px: float,
          mean_area: float, rng: np.random.Generator,
          lsw: RadiusSampler) -> tuple[np.ndarray, np.ndarray]:
    """Random sequential addition of matrix precipitates in the box [lo, hi) up to ``target``."""
    box = np.subtract(hi, lo)
    rate = max(float(np.mean(gbd > pfz_px + radius_px)), 0.02)  # expected acceptance per candidate
    placed = 0.0
    for _ in range(40):
        if target - placed <= 0.5 * mean_area or radius_px <= 0:
            break
        m = int(np.clip(1.3 * (target - placed) / mean_area / rate, 16, 200000))
        c = rng.random((m, 2)) * box + lo
        r = radius_px * lsw(m, rng)
        ok = (_lookup(gbd, c, pad) >= pfz_px + r) & (r >= 0.3)
        c, r = c[ok], r[ok]
        keep = _hard_core_add(c, r, cen, rad, GAP_PX)
        rate = max(len(keep) / m, 0.01)
        c, r = c[keep], r[keep]
        cum = placed + np.cumsum(np.pi * r**2)
        stop = int(np.searchsorted(cum, target))
        if stop < len(r) and (stop == 0 or cum[stop] - target < target - cum[stop - 1]):
            stop += 1
        cen = np.concatenate([cen, c[:stop]])
        rad = np.concatenate([rad, r[:stop]])
        placed = float(cum[stop - 1]) if stop else placed
    return cen, rad


def build_microstructure(shape: tuple[int, int], *, radius_px: float, area_fraction: float,
                         gb_radius_px: float, pfz_px: float, grain_density_px: float,
                         rng: np.random.Generator, lsw: RadiusSampler) -> Microstructure:
    """Place grains and precipitates for one field of view (see the module docstring).

    Parameters
    ----------
    shape : (h, w)
    radius_px, gb_radius_px : mean radius of matrix / boundary precipitates (px).
    area_fraction : total precipitate area fraction to realise (matrix + boundary).
    pfz_px : PFZ half-width (px). grain_density_px : grains per px^2.
    rng : numpy Generator. lsw : ``lsw(n, rng)`` draws normalised radii (mean 1).

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.synth.physics import sample_lsw
    >>> m = build_microstructure((128, 128), radius_px=3.0, area_fraction=0.08, gb_radius_px=4.8,
    ...                          pfz_px=3.0, grain_density_px=1e-4, rng=np.random.default_rng(0),
    ...                          lsw=sample_lsw)
    >>> bool(abs(m.coverage.mean() - 0.08) < 0.02)
    True
    """
    from shapekit.io.budget import check_pixel_budget

    h, w = shape
    pad = int(np.ceil(1.5 * max(radius_px, gb_radius_px) + GAP_PX + 1))
    # the margin grows with the particles: far outside the simulator's domain (1000 C, 100 h:
    # particles of thousands of px) a 64-px field needed gigabytes (MemoryError)
    check_pixel_budget((h + 2 * pad, w + 2 * pad),
                       f"simulated field of {w}x{h} px with its {pad}-px margin for particles of "
                       f"{max(radius_px, gb_radius_px):.3g} px radius")
    gid, gbd = _grains(shape, grain_density_px, rng, pad)
    area_ext = (h + 2 * pad) * (w + 2 * pad)
    cen = np.zeros((0, 2))
    rad = np.zeros(0)
    # boundary precipitates: hard-core thinning of jittered boundary pixels
    ridge = np.argwhere(gbd < 0.5).astype(float) - pad
    if len(ridge) and gb_radius_px > 0 and area_fraction > 0:
        spacing = GB_SPACING_FACTOR * gb_radius_px
        n_cand = min(len(ridge), int(8 * len(ridge) / max(spacing, 1.0)) + 8)  # enough to fill
        ridge = ridge[rng.permutation(len(ridge))[:n_cand]]
        ridge = ridge + rng.uniform(-0.3, 0.3, ridge.shape)
        r_gb = gb_radius_px * lsw(len(ridge), rng)
        ok = r_gb >= 0.5
        ridge, r_gb = ridge[ok], r_gb[ok]
        keep = _hard_core_add(ridge, r_gb, cen, rad, GAP_PX, spacing)
        cen, rad = ridge[keep], r_gb[keep]
        budget = area_fraction * area_ext
        cum = np.cumsum(np.pi * rad**2)
        n_keep = int(np.searchsorted(cum, 0.3 * budget))  # boundary share capped at 30 %
        cen, rad = cen[:n_keep], rad[:n_keep]
    n_gb = len(rad)
    mean_area = np.pi * radius_px**2 * float(np.mean(lsw(4000, np.random.default_rng(1)) ** 2))
    fill = dict(gbd=gbd, pad=pad, pfz_px=pfz_px, radius_px=radius_px, mean_area=mean_area,
                rng=rng, lsw=lsw)
    target = area_fraction * area_ext - float(np.sum(np.pi * rad**2))
    cen, rad = _fill(cen, rad, target, (-pad, -pad), (h + pad, w + pad), **fill)
    # the field of view itself: top up inside it, or drop particles, to the requested fraction
    cov = _rasterise(shape, cen, rad)
    miss = area_fraction * h * w - float(cov.sum(dtype=np.float64))
    if radius_px > 0 and miss > 0.5 * mean_area:
        cen, rad = _fill(cen, rad, miss, (0, 0), (h, w), **fill)
    elif miss < -0.5 * mean_area:
        inside = np.flatnonzero((cen[:, 0] - rad >= 0) & (cen[:, 0] + rad < h)
                                & (cen[:, 1] - rad >= 0) & (cen[:, 1] + rad < w)
                                & (np.arange(len(rad)) >= n_gb))
        inside = inside[rng.permutation(len(inside))]
        cum = np.cumsum(np.pi * rad[inside] ** 2)
        k = int(np.searchsorted(cum, -miss))
        if k < len(cum) and (k == 0 or cum[k] + miss < -miss - cum[k - 1]):
            k += 1
        cen, rad = np.delete(cen, inside[:k], axis=0), np.delete(rad, inside[:k])
    onb = np.zeros(len(rad), bool)
    onb[:n_gb] = True
    if abs(miss) > 0.5 * mean_area:
        cov = _rasterise(shape, cen, rad)
    return Microstructure(coverage=cov, grain_id=gid[pad:pad + h, pad:pad + w],
                          gb_distance=gbd[pad:pad + h, pad:pad + w], centers=cen, radii=rad,
                          on_boundary=onb, pfz_px=float(pfz_px))
