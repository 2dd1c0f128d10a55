"""The compiled (numba) kernel of every vectorisation of :mod:`shapekit.topology.vectorize`.

One pass over the pairs of every diagram of a block computes the statistic sums, the Betti-curve
histograms, the persistence-image fine histogram and the landscape top-k tents, and selects the
quantiles (bucket histogram + quickselect); :mod:`shapekit.topology.vectorize` finishes (entropy
with a SIMD log, the persistence-image pixel kernels).  Every quantity is the one the plain
per-diagram reference of the tests computes: grid positions are exact ``searchsorted`` counts,
histogram weights are added in pair order (as ``np.bincount``), landscapes keep ties.
The compiled functions are cached on disk (``cache=True``) and release the GIL.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["block_kernel"]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _left(g: np.ndarray, inv: float, x: float) -> int:
    """``#(g < x)`` for an increasing uniform grid ``g`` (``inv = (m - 1) / (g[-1] - g[0])``)."""
    m = g.shape[0]
    u = (x - g[0]) * inv
    if -1.0 < u < m:                  # hot path: one ceil unless u is close to a grid index
        e = math.ceil(u)
        f = e - u
        if 1e-9 < f < 1.0 - 1e-9:
            return int(e)
    if m == 1:
        return 1 if g[0] < x else 0
    if x == np.inf or u >= m:
        return m
    if x == -np.inf or u <= -1.0:
        return 0
    k = int(math.ceil(u))
    if k < 0:
        k = 0
    while k > 0 and g[k - 1] >= x:
        k -= 1
    while k < m and g[k] < x:
        k += 1
    return k


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _right(g: np.ndarray, inv: float, x: float) -> int:
    """``#(g <= x)``."""
    e = _left(g, inv, x)
    if e < g.shape[0] and g[e] == x:
        e += 1
    return e


@njit(cache=True, nogil=True, error_model="numpy")
def select_ranks(x: np.ndarray, ks: np.ndarray, out: np.ndarray, cand: np.ndarray) -> None:
    """``out[i] = sorted(x)[ks[i]]`` (``ks`` increasing) by one bucket histogram on ``[min, max]``.

    Buckets are monotone in value, so rank ``k`` lies in the bucket where the cumulative count
    passes ``k``; only those buckets' values are gathered (into ``cand``) and partitioned.  A
    bucket whose values are all equal needs no partition (8-bit images give many such ties).
    """
    n = x.shape[0]
    mn = x[0]
    mx = x[0]
    for t in range(n):
        mn = min(mn, x[t])
        mx = max(mx, x[t])
    nk = ks.shape[0]
    if mn == mx:
        for i in range(nk):
            out[i] = mn
        return
    nb = 1024
    scale = nb / (mx - mn)
    if n <= 64 or not math.isfinite(scale):
        for t in range(n):
            cand[t] = x[t]
        _select_sorted(cand, 0, n, ks, 0, nk, 0, out)
        return
    counts = np.zeros(nb, np.int64)
    for t in range(n):
        b = int((x[t] - mn) * scale)
        counts[min(b, nb - 1)] += 1
    # bucket of each rank (ks increasing: one sweep) and the rank inside it
    bucket = np.empty(nk, np.int64)
    slot = np.full(nb, -1, np.int64)
    first = np.empty(nk, np.int64)      # start of each needed bucket in cand
    size = np.empty(nk, np.int64)
    below = np.empty(nk, np.int64)      # values in lower buckets
    nneed = 0
    cum = 0
    b = 0
    for i in range(nk):
        while cum + counts[b] <= ks[i]:
            cum += counts[b]
            b += 1
        bucket[i] = b
        if slot[b] < 0:
            slot[b] = nneed
            first[nneed] = 0 if nneed == 0 else first[nneed - 1] + size[nneed - 1]
            size[nneed] = counts[b]
            below[nneed] = cum
            nneed += 1
    fill = first[:nneed].copy()
    bmin = np.full(nneed, np.inf)
    bmax = np.full(nneed, -np.inf)
    for t in range(n):
        v = x[t]
        j = slot[min(int((v - mn) * scale), nb - 1)]
        if j >= 0:
            cand[fill[j]] = v
            fill[j] += 1
            if v < bmin[j]:
                bmin[j] = v
            if v > bmax[j]:
                bmax[j] = v
    i = 0
    while i < nk:
        j = slot[bucket[i]]
        i1 = i
        while i1 < nk and bucket[i1] == bucket[i]:
            i1 += 1
        if bmin[j] == bmax[j]:
            for r in range(i, i1):
                out[r] = bmin[j]
        else:
            _select_sorted(cand, first[j], first[j] + size[j], ks, i, i1, below[j], out)
        i = i1


@njit(cache=True, nogil=True, error_model="numpy")
def _select_sorted(a: np.ndarray, lo: int, hi: int, ks: np.ndarray, i0: int, i1: int,
                   shift: int, out: np.ndarray) -> None:
    """``out[i] = sorted(a[lo:hi])[ks[i] - shift]`` for i in [i0, i1) (ks increasing), by
    quickselect in place: each selection leaves larger ranks to its right, so the next one
    searches only there."""
    left = lo
    for i in range(i0, i1):
        k = lo + ks[i] - shift
        out[i] = _quickselect(a, left, hi - 1, k)
        left = k


@njit(cache=True, nogil=True, error_model="numpy")
def _quickselect(a: np.ndarray, lo: int, hi: int, k: int) -> float:
    """Move the k-th smallest of ``a[lo:hi + 1]`` to ``a[k]`` (Hoare partition, median of 3)."""
    while hi > lo:
        m = (lo + hi) >> 1
        if a[m] < a[lo]:
            a[m], a[lo] = a[lo], a[m]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[m]:
            a[hi], a[m] = a[m], a[hi]
        pivot = a[m]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


@njit(cache=True, nogil=True, error_model="numpy")
def _quantiles(rows: np.ndarray, c: int, qs: np.ndarray, out: np.ndarray, cand: np.ndarray
               ) -> None:
    """``out[r * nq + j]``: quantile ``qs[j]`` (linear interpolation, as ``np.quantile``) of
    ``rows[r, :c]``, r = 0, 1, 2."""
    nq = qs.shape[0]
    ks = np.empty(2 * nq, np.int64)           # the ranks needed, sorted and unique
    nk = 0
    for j in range(2 * nq):
        lo = int(math.floor(qs[j % nq] * (c - 1)))
        r = lo if j < nq else min(lo + 1, c - 1)
        p = nk
        while p > 0 and ks[p - 1] > r:
            p -= 1
        if p > 0 and ks[p - 1] == r:
            continue
        for q in range(nk, p, -1):
            ks[q] = ks[q - 1]
        ks[p] = r
        nk += 1
    vals = np.empty(nk)
    for r in range(3):
        select_ranks(rows[r, :c], ks[:nk], vals, cand)
        for j in range(nq):
            pos = qs[j] * (c - 1)
            lo = int(math.floor(pos))
            hi = min(lo + 1, c - 1)
            vlo = vhi = 0.0
            for t in range(nk):
                if ks[t] == lo:
                    vlo = vals[t]
                if ks[t] == hi:
                    vhi = vals[t]
            out[r * nq + j] = vlo + (pos - lo) * (vhi - vlo)


@njit(cache=True, nogil=True, error_model="numpy")
def block_kernel(d: np.ndarray, off: np.ndarray, superlevel: bool, thr: np.ndarray,
                 gb: np.ndarray, gl: np.ndarray, n_layers: int, pi_on: bool, pi_geom: np.ndarray,
                 pi_pad: np.ndarray, samples: int, fill: float, summ: np.ndarray,
                 betti: np.ndarray, hist: np.ndarray, land: np.ndarray, qs: np.ndarray,
                 qout: np.ndarray, lbuf: np.ndarray) -> bool:
    """Fill ``summ`` (n, 7 + nt; ``thr`` increasing), ``betti`` (n, m), ``hist`` (n, tb, tp), ``land`` (n, k, ml),
    ``qout`` (n, 3 * len(qs): lifetime, birth, death quantiles of the subsample; untouched for an
    image without finite pair) and ``lbuf`` (N: lifetimes, 1 in unused slots, for the entropy,
    which is
    left for the caller (a vectorised ``log``).  Returns False (early) on a NaN.  ``pi_geom = (b0, db, p0, dp, p1)``, ``pi_pad = (padb, tb, padp, tp)``."""
    n = off.shape[0] - 1
    nt = thr.shape[0]
    m = gb.shape[0]
    ml = gl.shape[0]
    invb = (m - 1) / (gb[m - 1] - gb[0]) if m > 1 else 0.0
    invl = (ml - 1) / (gl[ml - 1] - gl[0]) if ml > 1 else 0.0
    b0, db, p0, dp, p1 = pi_geom[0], pi_geom[1], pi_geom[2], pi_geom[3], pi_geom[4]
    padb, tb, padp, tp = pi_pad[0], pi_pad[1], pi_pad[2], pi_pad[3]
    same = ml == m and ml > 0 and gl[0] == gb[0] and gl[ml - 1] == gb[m - 1]
    cb = np.zeros(m + 1, np.int64)
    cd = np.zeros(m + 1, np.int64)
    above = np.zeros(nt + 1, np.int64)
    big = 0
    for i in range(n):
        big = max(big, off[i + 1] - off[i])
    qbuf = np.empty((3, big))      # one image's rows: stays in cache
    cand = np.empty(big)
    for i in range(n):
        a, e = off[i], off[i + 1]
        cb[:] = 0
        cd[:] = 0
        above[:] = 0
        nf = 0
        total = 0.0
        sq = 0.0
        mx = 0.0
        for t in range(a, e):
            b = d[t, 0]
            de = d[t, 1]
            if b != b or de != de:
                return False
            lb = ld = rb = rd = 0
            if m > 0:
                lb = _left(gb, invb, b)
                ld = _left(gb, invb, de)
                rb = lb + 1 if lb < m and gb[lb] == b else lb
                rd = ld + 1 if ld < m and gb[ld] == de else ld
                if superlevel:
                    cb[rb] += 1
                    cd[rd] += 1
                else:
                    cb[lb] += 1
                    cd[ld] += 1
            if not (math.isfinite(b) and math.isfinite(de)):
                continue
            life = abs(de - b)
            lbuf[a + nf] = life if life > 0 else 1.0   # 1 * log(1) = 0: as the p > 0 filter
            qbuf[0, nf] = life
            qbuf[1, nf] = b
            qbuf[2, nf] = de
            nf += 1
            total += life
            sq += life * life
            if life > mx:
                mx = life
            lev = 0                        # thresholds below life (branch-free: no early exit)
            for j in range(nt):
                lev += life > thr[j]
            above[lev] += 1
            if pi_on:
                w = min(life / p1, 1.0) if p1 > 0 else 1.0
                fb = math.floor((b - b0) / db) + padb
                fp = math.floor((life - p0) / dp) + padp
                if 0 <= fb < tb and 0 <= fp < tp:
                    hist[i, int(fb), int(fp)] += w
            if ml > 0:
                lo = min(b, de)
                hi = max(b, de)
                if same:    # grid positions already known: first point > lo, points < hi
                    j0 = rb if b <= de else rd
                    j1 = ld if b <= de else lb
                else:
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
        acc = 0
        for j in range(nt, 0, -1):        # count_above_j = #(life > thr[j]) = #(level > j)
            acc += above[j]
            summ[i, 2 + j - 1] = acc
        summ[i, 0] = nf
        summ[i, 1] = (e - a) - nf
        k = 2 + nt
        summ[i, k] = total
        summ[i, k + 1] = sq
        summ[i, k + 2] = mx
        summ[i, k + 3] = total / nf if nf else fill
        for t in range(a + nf, e):
            lbuf[t] = 1.0
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
        c = nf
        if step > 1:
            c = 0
            for t in range(0, nf, step):
                qbuf[0, c] = qbuf[0, t]
                qbuf[1, c] = qbuf[1, t]
                qbuf[2, c] = qbuf[2, t]
                c += 1
        if c and qs.shape[0]:
            _quantiles(qbuf, c, qs, qout[i], cand)
    return True
