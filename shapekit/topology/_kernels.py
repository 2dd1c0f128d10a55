"""Compiled (numba) kernel of :func:`shapekit.topology.batch.block_features_batch`.

One pass over the pairs of every image of a block computes the summary sums, the Betti-curve
histograms, the persistence-image fine histogram and the landscape top-k tents, and compacts the
quantile subsample in place; :mod:`shapekit.topology.batch` finishes (quantile selection, the
persistence-image kernels, per-area scaling).  Every quantity is the one the reference functions
of :mod:`shapekit.topology.vectorize` compute: grid positions are exact ``searchsorted`` counts,
histogram weights are added in pair order (as ``np.bincount``), landscapes keep ties.

``numba`` is a dependency of ``scikit-dimension`` and so always installed with shapekit; when it
cannot be imported, :mod:`shapekit.topology.batch` falls back to its numpy implementation.
Compiled functions are cached on disk (``cache=True``) and release the GIL.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["block_kernel"]


@njit(cache=True, nogil=True, inline="always")
def _left(g: np.ndarray, inv: float, x: float) -> int:
    """``#(g < x)`` for an increasing uniform grid ``g`` (``inv = (m - 1) / (g[-1] - g[0])``)."""
    m = g.shape[0]
    if x == np.inf:
        return m
    if x == -np.inf:
        return 0
    if m == 1:
        return 1 if g[0] < x else 0
    u = (x - g[0]) * inv
    if u < -1.0:
        u = -1.0
    elif u > m:
        u = float(m)
    e = int(math.ceil(u))
    if e < 0:
        e = 0
    elif e > m:
        e = m
    while e > 0 and g[e - 1] >= x:
        e -= 1
    while e < m and g[e] < x:
        e += 1
    return e


@njit(cache=True, nogil=True, inline="always")
def _right(g: np.ndarray, inv: float, x: float) -> int:
    """``#(g <= x)``."""
    e = _left(g, inv, x)
    if e < g.shape[0] and g[e] == x:
        e += 1
    return e


@njit(cache=True, nogil=True)
def block_kernel(d: np.ndarray, off: np.ndarray, superlevel: bool, thr: np.ndarray,
                 gb: np.ndarray, gl: np.ndarray, n_layers: int, pi_on: bool, pi_geom: np.ndarray,
                 pi_pad: np.ndarray, samples: int, fill: float, summ: np.ndarray,
                 betti: np.ndarray, hist: np.ndarray, land: np.ndarray, qbuf: np.ndarray,
                 nsub: np.ndarray) -> None:
    """Fill ``summ`` (n, 7 + nt), ``betti`` (n, m), ``hist`` (n, tb, tp), ``land`` (n, k, ml),
    ``qbuf`` (3, N: each image's subsampled lifetime/birth/death rows from ``off[i]``) and
    ``nsub`` (n,).  ``pi_geom = (b0, db, p0, dp, p1)``, ``pi_pad = (padb, tb, padp, tp)``."""
    n = off.shape[0] - 1
    nt = thr.shape[0]
    m = gb.shape[0]
    ml = gl.shape[0]
    invb = (m - 1) / (gb[m - 1] - gb[0]) if m > 1 else 0.0
    invl = (ml - 1) / (gl[ml - 1] - gl[0]) if ml > 1 else 0.0
    b0, db, p0, dp, p1 = pi_geom[0], pi_geom[1], pi_geom[2], pi_geom[3], pi_geom[4]
    padb, tb, padp, tp = pi_pad[0], pi_pad[1], pi_pad[2], pi_pad[3]
    cb = np.zeros(m + 1, np.int64)
    cd = np.zeros(m + 1, np.int64)
    for i in range(n):
        a, e = off[i], off[i + 1]
        cb[:] = 0
        cd[:] = 0
        nf = 0
        total = 0.0
        sq = 0.0
        mx = 0.0
        for t in range(a, e):
            b = d[t, 0]
            de = d[t, 1]
            if m > 0:
                if superlevel:
                    cb[_right(gb, invb, b)] += 1
                    cd[_right(gb, invb, de)] += 1
                else:
                    cb[_left(gb, invb, b)] += 1
                    cd[_left(gb, invb, de)] += 1
            if not (math.isfinite(b) and math.isfinite(de)):
                continue
            life = abs(de - b)
            qbuf[0, a + nf] = life
            qbuf[1, a + nf] = b
            qbuf[2, a + nf] = de
            nf += 1
            total += life
            sq += life * life
            if life > mx:
                mx = life
            for j in range(nt):
                if life > thr[j]:
                    summ[i, 2 + j] += 1.0
            if pi_on:
                w = min(life / p1, 1.0) if p1 > 0 else 1.0
                fb = math.floor((b - b0) / db) + padb
                fp = math.floor((life - p0) / dp) + padp
                if 0 <= fb < tb and 0 <= fp < tp:
                    hist[i, int(fb), int(fp)] += w
            if ml > 0:
                lo = min(b, de)
                hi = max(b, de)
                j0 = _right(gl, invl, lo)
                j1 = _left(gl, invl, hi)
                for j in range(j0, j1):
                    v = min(gl[j] - lo, hi - gl[j])
                    if v > land[i, n_layers - 1, j]:
                        p = n_layers - 1
                        while p > 0 and land[i, p - 1, j] < v:
                            land[i, p, j] = land[i, p - 1, j]
                            p -= 1
                        land[i, p, j] = v
        summ[i, 0] = nf
        summ[i, 1] = (e - a) - nf
        k = 2 + nt
        summ[i, k] = total
        summ[i, k + 1] = sq
        summ[i, k + 2] = mx
        summ[i, k + 3] = total / nf if nf else fill
        ent = 0.0
        if total > 0:
            for t in range(a, a + nf):
                if qbuf[0, t] > 0:
                    p = qbuf[0, t] / total
                    ent -= p * math.log(p)
        summ[i, k + 4] = ent
        if m > 0:
            if superlevel:   # alive iff d < t <= b: #(R(b) >= j + 1) - #(R(d) >= j + 1)
                sb = 0
                sd = 0
                for j in range(m, 0, -1):
                    sb += cb[j]
                    sd += cd[j]
                    betti[i, j - 1] = sb - sd
            else:            # alive iff b <= t < d: #(L(b) <= j) - #(L(d) <= j)
                sb = 0
                sd = 0
                for j in range(m):
                    sb += cb[j]
                    sd += cd[j]
                    betti[i, j] = sb - sd
        step = 1 if samples <= 0 or nf <= samples else (nf + samples - 1) // samples
        c = 0
        for t in range(0, nf, step):
            qbuf[0, a + c] = qbuf[0, a + t]
            qbuf[1, a + c] = qbuf[1, a + t]
            qbuf[2, a + c] = qbuf[2, a + t]
            c += 1
        nsub[i] = c
