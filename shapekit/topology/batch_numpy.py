"""numpy implementation of :func:`shapekit.topology.batch.block_features_batch` (no compiled kernel).

Segmented array operations over the diagrams of all images (``np.bincount`` over ``(image, bin)``
keys, ``np.maximum.reduceat``, cumulative sums), used when numba is unavailable or
``SHAPEKIT_NO_NUMBA=1``; it returns the same features as the kernel.  :func:`grid_counts` gives
``np.searchsorted`` positions on a uniform grid from arithmetic.

References
----------
.. [1] H. Adams et al., "Persistence images: a stable vector representation of persistent
   homology", JMLR 18(8), 2017.
.. [2] P. Bubenik, "Statistical topological data analysis using persistence landscapes",
   JMLR 16, 2015.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from shapekit.errors import InputError
from shapekit.topology.vectorize import _pixel_kernel, quantiles_linear

__all__ = ["grid_counts", "features_numpy"]


@functools.lru_cache(maxsize=256)
def _grid(lo: float, hi: float, n: int) -> np.ndarray:
    g = np.linspace(lo, hi, n)
    g.flags.writeable = False
    return g


@functools.lru_cache(maxsize=256)
def _padded(lo: float, hi: float, n: int) -> np.ndarray:
    """``[-inf, g_0, ..., g_{n-1}, +inf]`` so that ``pad[c] = g[c - 1]``."""
    p = np.concatenate([[-np.inf], _grid(lo, hi, n), [np.inf]])
    p.flags.writeable = False
    return p


def grid_counts(lo: float, hi: float, n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(#(g < x), #(g <= x))`` per value for ``g = np.linspace(lo, hi, n)``.

    Equal to ``np.searchsorted(g, x, "left")`` and ``(..., "right")`` but from one division and
    two corrections (the estimate ``ceil((x - lo) / step)`` is off by at most one).  ``x`` may hold
    infinities (NaN is not allowed).

    Examples
    --------
    >>> left, right = grid_counts(0.0, 1.0, 5, np.array([-1.0, 0.25, 0.3, 2.0]))
    >>> left.tolist(), right.tolist()
    ([0, 1, 2, 5], [0, 2, 2, 5])
    """
    g = _grid(lo, hi, n)
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.all():
        left, right = grid_counts(lo, hi, n, np.where(finite, x, 0.0))
        up = x == np.inf
        left[~finite] = right[~finite] = 0
        left[up] = right[up] = n
        return left, right
    if n < 2:
        left = (g[0] < x).astype(np.int64)
        return left, left + (g[0] == x)
    pad = _padded(lo, hi, n)
    u = (x - lo) * ((n - 1) / (hi - lo))
    np.clip(u, -1.0, float(n), out=u)
    e = np.ceil(u).astype(np.int64)
    np.clip(e, 0, n, out=e)
    e -= pad[e] >= x          # g[e - 1] >= x: one too many
    e += pad[e + 1] < x       # g[e] < x: one too few
    return e, e + (pad[e + 1] == x)


def _segment_max(x: np.ndarray, counts: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(len(counts), empty)
    nz = counts > 0
    if nz.any():
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nz]
        out[nz] = np.maximum.reduceat(x, starts)
    return out


def _quantiles(life: np.ndarray, f: np.ndarray, counts: np.ndarray, quantiles: Sequence[float],
               samples: int | None, fill_value: float) -> np.ndarray:
    """Lifetime, birth, death quantiles of each image's finite pairs (one selection per image)."""
    n, nq = len(counts), len(quantiles)
    out = np.full((n, 3 * nq), float(fill_value))
    if not nq:
        return out
    ends = np.cumsum(counts)
    qs = np.asarray(quantiles, dtype=np.float64)
    for i in np.flatnonzero(counts):
        c = int(counts[i])
        a = int(ends[i]) - c
        step = 1 if not samples or c <= samples else -(-c // int(samples))
        rows = np.empty((3, -(-c // step)))
        rows[0] = life[a:a + c:step]
        rows[1] = f[a:a + c:step, 0]
        rows[2] = f[a:a + c:step, 1]
        out[i] = quantiles_linear(rows, qs).ravel()
    return out


def _summaries(life: np.ndarray, f: np.ndarray, tile: np.ndarray, counts: np.ndarray,
               n_all: np.ndarray, thresholds: Sequence[float], quantiles: Sequence[float],
               samples: int | None, fill_value: float) -> np.ndarray:
    n = len(counts)
    nt = len(thresholds)
    out = np.empty((n, 2 + nt + 5 + 3 * len(quantiles)))
    out[:, 0] = counts
    out[:, 1] = n_all - counts
    if nt:
        thr = np.asarray(thresholds, dtype=np.float64)
        order = np.argsort(thr, kind="stable")
        level = np.zeros(len(life), dtype=np.int64)   # number of (sorted) thresholds below life
        for t in thr[order]:
            level += life > t
        hist = np.bincount(tile * (nt + 1) + level, minlength=n * (nt + 1)).reshape(n, nt + 1)
        above = hist[:, ::-1].cumsum(axis=1)[:, ::-1]   # above[:, r] = #(level >= r)
        out[:, 2 + order] = above[:, 1:]
    i = 2 + nt
    total = np.bincount(tile, weights=life, minlength=n)
    out[:, i] = total
    out[:, i + 1] = np.bincount(tile, weights=life * life, minlength=n)
    out[:, i + 2] = _segment_max(life, counts, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, i + 3] = np.where(counts > 0, total / np.maximum(counts, 1), float(fill_value))
        pos = life > 0
        lp, tp = (life, tile) if pos.all() else (life[pos], tile[pos])
        p = lp / total[tp]
        ent = -np.bincount(tp, weights=p * np.log(p), minlength=n)
    out[:, i + 4] = np.where(total > 0, ent, 0.0)
    out[:, i + 5:] = _quantiles(life, f, counts, quantiles, samples, fill_value)
    return out


def _betti(birth: np.ndarray, death: np.ndarray, tile: np.ndarray, n: int, v0: float, v1: float,
           m: int, superlevel: bool) -> np.ndarray:
    """Betti curves of all pairs (essential bars alive to the end of the grid), ``(n, m)``."""
    lb, rb = grid_counts(v0, v1, m, birth)
    ld, rd = grid_counts(v0, v1, m, death)   # +inf -> m (sublevel), -inf -> 0 (superlevel)
    if not superlevel:   # alive iff b <= t < d: #(L(b) <= j) - #(L(d) <= j)
        cb = np.bincount(tile * (m + 1) + lb, minlength=n * (m + 1)).reshape(n, m + 1)
        cd = np.bincount(tile * (m + 1) + ld, minlength=n * (m + 1)).reshape(n, m + 1)
        return (cb.cumsum(axis=1)[:, :m] - cd.cumsum(axis=1)[:, :m]).astype(np.float64)
    # alive iff d < t <= b: #(R(b) >= j + 1) - #(R(d) >= j + 1)
    cb = np.bincount(tile * (m + 1) + rb, minlength=n * (m + 1)).reshape(n, m + 1)
    cd = np.bincount(tile * (m + 1) + rd, minlength=n * (m + 1)).reshape(n, m + 1)
    ge_b = cb[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]
    ge_d = cd[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]
    return (ge_b - ge_d).astype(np.float64)


def _persistence_images(birth: np.ndarray, pers: np.ndarray, tile: np.ndarray, n: int,
                        birth_range: tuple[float, float], pers_range: tuple[float, float],
                        res: int, sigma: tuple[float, float], oversample: int = 2) -> np.ndarray:
    """Binned persistence images (linear weight), ``(n, res * res)``; as ``persistence_image``."""
    b0, b1 = (float(v) for v in birth_range)
    p0, p1 = (float(v) for v in pers_range)
    sb, sp = sigma
    w = np.minimum(pers / p1, 1.0) if p1 > 0 else np.ones_like(pers)
    nb = npp = res * oversample
    db, dp = (b1 - b0) / nb, (p1 - p0) / npp
    padb, padp = int(np.ceil(4 * sb / db)), int(np.ceil(4 * sp / dp))
    tb, tp = nb + 2 * padb, npp + 2 * padp
    ib = np.floor((birth - b0) / db).astype(np.int64) + padb
    ip = np.floor((pers - p0) / dp).astype(np.int64) + padp
    keep = (ib >= 0) & (ib < tb) & (ip >= 0) & (ip < tp)
    key = (tile * tb + ib) * tp + ip
    if not keep.all():
        key, w = key[keep], w[keep]
    hist = np.bincount(key, weights=w, minlength=n * tb * tp).reshape(n, tb, tp)
    kb = _pixel_kernel(b0, b1, res, db, padb, tb, sb)
    kp = _pixel_kernel(p0, p1, res, dp, padp, tp, sp)
    return np.matmul(np.matmul(kb, hist), kp.T).reshape(n, res * res)


def _landscapes(lo: np.ndarray, hi: np.ndarray, tile: np.ndarray, n: int, v0: float, v1: float,
                m: int, k: int) -> np.ndarray:
    """Exact landscapes ``(n, k * m)``: the k largest tents per (image, grid point), ties kept."""
    g = _grid(v0, v1, m)
    _, jlo = grid_counts(v0, v1, m, lo)   # first grid point > lo
    jhi, _ = grid_counts(v0, v1, m, hi)   # grid points < hi
    cnt = jhi - jlo
    sel = np.flatnonzero(cnt > 0)
    out = np.zeros((n * m, k))
    if not len(sel):
        return out.reshape(n, m, k).transpose(0, 2, 1).reshape(n, k * m)
    cs = cnt[sel]
    src = np.repeat(sel, cs)                                  # pair of each incidence
    first = np.cumsum(cs) - cs
    j = jlo[src] + (np.arange(len(src)) - np.repeat(first, cs))
    gj = g[j]
    vals = np.minimum(gj - lo[src], hi[src] - gj)             # > 0 by construction
    seg = tile[src] * m + j
    filled = np.zeros(n * m, dtype=np.int64)
    layers = np.arange(k)
    while len(vals):
        top = np.zeros(n * m)
        np.maximum.at(top, seg, vals)
        is_top = vals == top[seg]
        mult = np.bincount(seg[is_top], minlength=n * m)
        s = np.flatnonzero(mult)
        span = (layers[None, :] >= filled[s, None]) & \
            (layers[None, :] < (filled[s] + mult[s])[:, None])
        out[s] = np.where(span, top[s, None], out[s])
        filled[s] += mult[s]
        rest = ~is_top & (filled[seg] < k)
        vals, seg = vals[rest], seg[rest]
    return out.reshape(n, m, k).transpose(0, 2, 1).reshape(n, k * m)


def features_numpy(d: np.ndarray, n_all: np.ndarray, grids: dict[str, object], *,
                quantiles: Sequence[float], n_betti: int, persistence_images: bool,
                pi_resolution: int, pi_sigma: float, landscapes: bool, n_landscape_layers: int,
                n_landscape: int, quantile_samples: int | None, superlevel: bool,
                fill_value: float) -> np.ndarray:
    """The numpy implementation (no compiled kernel): segmented array operations."""
    if np.isnan(d).any():
        raise InputError("persistence diagram contains NaN")
    n = len(n_all)
    tile_all = np.repeat(np.arange(n), n_all)
    fin = np.isfinite(d[:, 1]) & np.isfinite(d[:, 0])
    all_fin = bool(fin.all())
    f = d if all_fin else d[fin]
    tile = tile_all if all_fin else tile_all[fin]
    counts = n_all if all_fin else np.bincount(tile, minlength=n)
    life = np.abs(f[:, 1] - f[:, 0])
    thresholds = grids["thresholds"]
    parts = [_summaries(life, f, tile, counts, n_all, thresholds, quantiles, quantile_samples,
                        fill_value)]
    v0, v1 = (float(v) for v in grids["value_range"])
    if n_betti:
        parts.append(_betti(d[:, 0], d[:, 1], tile_all, n, v0, v1, int(n_betti), superlevel))
    if persistence_images:
        b0, b1 = grids["birth_range"]
        p0, p1 = grids["pers_range"]
        res = int(pi_resolution)
        sig = (pi_sigma * (b1 - b0) / res, pi_sigma * (p1 - p0) / res)
        parts.append(_persistence_images(f[:, 0], life, tile, n, (b0, b1), (p0, p1), res, sig))
    if landscapes:
        lo, hi = np.minimum(f[:, 0], f[:, 1]), np.maximum(f[:, 0], f[:, 1])
        parts.append(_landscapes(lo, hi, tile, n, v0, v1, int(n_landscape),
                                 int(n_landscape_layers)))
    return np.concatenate(parts, axis=1)
