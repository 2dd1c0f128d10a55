"""Set-against-set statistics on precomputed per-image features, indexable for resampling.

Everything here works on a *pooled* set (real images first, then synthetic ones) and two index
arrays ``ia`` (the "real" side) and ``ib`` (the "synthetic" side). Per-image summaries, the kernel
matrix and the diagram-distance matrix are computed once; bootstrap, permutation and real-vs-real
resampling only draw new index arrays (which may repeat indices).

The headline number is::

    topological_distance = (d_summaries + d_mmd + d_energy) / 3

* ``d_summaries``: mean over the named per-image summaries of the Wasserstein-1 distance between
  the two sets' distributions of that summary, in units of the summary's standard deviation over
  the real set (so 1.0 means "shifted by one real standard deviation");
* ``d_mmd``: ``sqrt(max(MMD^2_u, 0))`` with the sliced-Wasserstein kernel
  ``k(I, I') = exp(-SW(I, I') / m)`` between images, ``SW`` summed over the four diagrams
  (sub/superlevel x H0/H1, pairs with persistence > 0.02, at most 500 per diagram) and ``m`` the
  median SW over real pairs; in [0, sqrt(2)];
* ``d_energy``: the energy distance ``2 E d(X, Y) - E d(X, X') - E d(Y, Y')`` over pairwise
  image distances ``d`` = sum over the four diagrams of GUDHI's Hera Wasserstein-1 (or bottleneck)
  between their ``top_k`` most persistent pairs, on a random subsample of at most
  ``max_diagram_images`` images per set (Hera is the slow part), divided by the mean real-real
  distance, clipped at 0.

``d_summaries`` sees every persistence scale (noise, JPEG artefacts); ``d_mmd`` and ``d_energy``
see the prominent features only (blur, coarsening, a different microstructure).

The headline measures how far the synthetic set's *topology* is from the real set's, not how much
an image-processing setting was turned; the two differ for a degradation that is not monotone in
the image domain (JPEG re-encoding of JPEG sources on their own 8x8 grid: measured, with the
alternatives examined, in RESULTS.md section 4).

Each term is near 0 for two samples of one distribution and grows as the sets separate; they
are dimensionless, and the permutation test in :mod:`shapekit.realism.resampling` calibrates
their sum. When a term cannot be computed (fewer than two images on a side) it is left out.

References
----------
.. [1] Gretton, A. et al. "A kernel two-sample test", JMLR 13 (2012) (unbiased MMD).
.. [2] Carriere, M., Cuturi, M., Oudot, S. "Sliced Wasserstein kernel for persistence diagrams",
   ICML (2017).
.. [3] Szekely, G. J., Rizzo, M. L. "Energy statistics: a class of statistics based on distances",
   J. Stat. Plan. Inference 143 (2013).
.. [4] Kerber, M., Morozov, D., Nigmetov, A. "Geometry helps to compare persistence diagrams",
   ACM J. Exp. Algorithmics 22 (2017) (Hera).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shapekit.realism.diagdist import pairwise_diagram_distances, pairwise_l1, sliced_wasserstein_embedding
from shapekit.realism.summaries import FeatureSet, distance_diagrams

__all__ = ["PooledFeatures", "pooled_features", "standardised", "column_w1_ks", "mmd2_unbiased", "energy_distance",
           "set_statistics", "summary_scale", "COMPONENTS"]

COMPONENTS = ("d_summaries", "d_mmd", "d_energy")


@dataclass
class PooledFeatures:
    """Precomputed features of a pooled set (real first, then synthetic).

    Attributes
    ----------
    X : ndarray (N, p)
        Per-image summary vectors.
    names : list of str
        Names of the ``p`` summaries.
    scale : ndarray (p,)
        Per-summary scale (:func:`summary_scale`: standard deviation over the real set, the pooled
        one where the real set is constant to float precision, 1 where both are).
    K : ndarray (N, N)
        Kernel matrix (sliced-Wasserstein kernel between diagrams).
    D : ndarray (M, M)
        Pairwise diagram distances among the ``M`` images of ``sub`` (a subsample of the pool).
    sub : ndarray (N,) of int
        Position of each pooled image in ``D``, or -1 when it is not in the subsample.
    d_ref : float
        Mean real-real diagram distance (normaliser of the energy distance).
    n_real : int
        Number of real images (the first ``n_real`` rows).
    """

    X: np.ndarray
    names: list[str]
    scale: np.ndarray
    K: np.ndarray
    D: np.ndarray
    sub: np.ndarray
    d_ref: float
    n_real: int
    extra: dict = field(default_factory=dict)


def column_w1_ks(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column Wasserstein-1 distance and Kolmogorov-Smirnov statistic between two samples.

    Vectorised over columns; equal to ``scipy.stats.wasserstein_distance`` and the statistic of
    ``scipy.stats.ks_2samp`` column by column.

    Parameters
    ----------
    a : ndarray (n, p)
    b : ndarray (m, p)

    Returns
    -------
    w1, ks : ndarray (p,)

    Examples
    --------
    >>> import numpy as np
    >>> w1, ks = column_w1_ks(np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]]))
    >>> float(w1[0]), float(ks[0])
    (2.0, 1.0)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    na, nb = len(a), len(b)
    allv = np.ascontiguousarray(np.concatenate([a, b], axis=0).T)   # one row per column
    # the order within a run of ties does not matter: W1 gaps between ties are 0 and KS is read at
    # the last of a run only, so the (faster) unstable sort gives the same numbers
    order = np.argsort(allv, axis=1)
    sv = np.take_along_axis(allv, order, axis=1)
    from_a = order < na
    ca = np.cumsum(from_a, axis=1)
    diff = np.abs(ca / na - (np.arange(1, na + nb + 1) - ca) / nb)
    gaps = np.diff(sv, axis=1)
    w1 = np.einsum("ij,ij->i", diff[:, :-1], gaps)
    # KS: only at the last of a run of tied values (where both ECDFs are fully stepped)
    last = np.ones_like(sv, dtype=bool)
    last[:, :-1] = gaps > 0
    ks = np.max(np.where(last, diff, 0.0), axis=1)
    return w1, ks


def mmd2_unbiased(K: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> float:
    """Unbiased squared MMD between index sets ``ia`` and ``ib`` of a pooled kernel matrix.

    Within-set means leave out pairs of equal indices (the diagonal, and the repeats a bootstrap
    draws: a repeated image paired with itself would bias the estimate upwards).

    Examples
    --------
    >>> import numpy as np
    >>> K = np.exp(-np.subtract.outer(np.arange(6.0), np.arange(6.0)) ** 2)
    >>> round(mmd2_unbiased(K, np.array([0, 1, 2]), np.array([3, 4, 5])), 3) > 0
    True
    """
    if len(ia) < 2 or len(ib) < 2:
        return float("nan")
    return float(_within_mean(K, ia) + _within_mean(K, ib) - 2.0 * K[np.ix_(ia, ib)].mean())


def _within_mean(M: np.ndarray, idx: np.ndarray) -> float:
    """Mean of ``M[i, j]`` over position pairs whose indices differ (bootstrap repeats left out).

    The pairs of equal indices are taken out by their count (``c^2`` pairs of an index drawn ``c``
    times), not by a mask: the same number, without a boolean copy of the block.
    """
    u, c = np.unique(idx, return_counts=True)
    n = len(idx) ** 2 - int((c * c).sum())
    if n <= 0:
        return float("nan")
    total = float(M[np.ix_(idx, idx)].sum()) - float((c * c * M[u, u]).sum())
    return total / n


def energy_distance(D: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> float:
    """Energy distance ``2 E d(X,Y) - E d(X,X') - E d(Y,Y')`` from a pairwise distance matrix.

    Within-set means leave out pairs of equal indices (diagonal and bootstrap repeats).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 0.1, 5.0, 5.1]); D = np.abs(np.subtract.outer(x, x))
    >>> round(energy_distance(D, np.array([0, 1]), np.array([2, 3])), 2)
    9.8
    """
    if len(ia) < 2 or len(ib) < 2:
        return float("nan")
    return float(2.0 * D[np.ix_(ia, ib)].mean() - _within_mean(D, ia) - _within_mean(D, ib))


def set_statistics(pf: PooledFeatures, ia: np.ndarray, ib: np.ndarray, *,
                   per_summary: bool = True) -> dict:
    """All set-level numbers for the pooled index sets ``ia`` (real side) and ``ib`` (fake side).

    Parameters
    ----------
    pf : PooledFeatures
    ia, ib : ndarray of int
        Indices into the pool (repeats allowed).
    per_summary : bool
        Also return the per-summary ``w1`` (raw), ``w1_std`` (in real standard deviations) and
        ``ks`` arrays.

    Returns
    -------
    dict
        ``topological_distance`` and the components ``d_summaries``, ``d_mmd``, ``d_energy``
        (NaN where not computable), plus ``w1``, ``w1_std``, ``ks`` when ``per_summary``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1))
    >>> D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    >>> pf = PooledFeatures(X, ["a", "b", "c"], X[:20].std(0), K, D, np.arange(40), 1.0, 20)
    >>> st = set_statistics(pf, np.arange(20), np.arange(20, 40))
    >>> sorted(k for k in st if k.startswith("d_"))
    ['d_energy', 'd_mmd', 'd_summaries']
    """
    ia = np.asarray(ia, dtype=np.int64)
    ib = np.asarray(ib, dtype=np.int64)
    w1, ks = column_w1_ks(pf.X[ia], pf.X[ib])
    w1_std = w1 / pf.scale
    out: dict = {"d_summaries": float(np.mean(w1_std)) if w1_std.size else float("nan")}
    m2 = mmd2_unbiased(pf.K, ia, ib)
    out["d_mmd"] = float(np.sqrt(max(m2, 0.0))) if np.isfinite(m2) else float("nan")
    sa, sb = pf.sub[ia], pf.sub[ib]
    e = energy_distance(pf.D, sa[sa >= 0], sb[sb >= 0]) if pf.D.size else float("nan")
    out["d_energy"] = float(max(e, 0.0) / pf.d_ref) if np.isfinite(e) and pf.d_ref > 0 else float("nan")
    comps = [out[c] for c in COMPONENTS if np.isfinite(out[c])]
    out["topological_distance"] = float(np.mean(comps)) if comps else float("nan")
    if per_summary:
        out["w1"], out["w1_std"], out["ks"] = w1, w1_std, ks
    return out


def summary_scale(X: np.ndarray, n_real: int) -> np.ndarray:
    """Per-column scale of pooled vectors (real first): the real standard deviation, or the pooled
    one where the real set is constant, or 1 where both are.

    Constant means to float precision (an sd within ``1e-6`` of the column's largest magnitude):
    summaries of 8-bit images that are multiples of 1/255 differ by float32 rounding alone, and an
    sd of 1e-8 would blow such a column up a million-fold.

    Examples
    --------
    >>> X = np.array([[0.0314, 1.0], [0.0314 + 1e-9, 2.0], [0.04, 3.0], [0.05, 4.0]])
    >>> summary_scale(X, 2).round(4).tolist()
    [0.0088, 0.7071]
    """
    X = np.asarray(X, dtype=np.float64)
    floor = np.maximum(1e-12, 1e-6 * np.abs(X).max(axis=0, initial=0.0))
    sd_r = X[:n_real].std(axis=0, ddof=1) if n_real > 1 else np.zeros(X.shape[1])
    sd_p = X.std(axis=0, ddof=1) if len(X) > 1 else np.zeros(X.shape[1])
    return np.where(sd_r > floor, sd_r, np.where(sd_p > floor, sd_p, 1.0))


def pooled_features(real: FeatureSet, fake: FeatureSet, *, rng: np.random.Generator,
                    diagram_metric: str = "wasserstein", max_diagram_images: int = 24,
                    top_k: int = 16, n_directions: int = 10, n_grid: int = 128,
                    n_jobs: int | None = 1) -> PooledFeatures:
    """Pool two feature sets: summary scales, sliced-Wasserstein kernel, diagram distances.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.summaries import image_features
    >>> rng = np.random.default_rng(0)
    >>> a = image_features([rng.random((16, 16)) for _ in range(4)])
    >>> pf = pooled_features(a, a, rng=rng)
    >>> pf.K.shape, pf.n_real
    ((8, 8), 4)
    """
    nr, nf = len(real), len(fake)
    X = np.vstack([real.summaries, fake.summaries])
    scale = summary_scale(X, nr)
    diags = [distance_diagrams(d, real.blocks) for d in real.diagrams + fake.diagrams]
    dsw = np.zeros((nr + nf, nr + nf))
    for j in range(len(real.blocks)):
        dsw += pairwise_l1(sliced_wasserstein_embedding([d[j] for d in diags], n_directions, n_grid))
    rr = dsw[:nr, :nr][~np.eye(nr, dtype=bool)]
    med = float(np.median(rr)) if rr.size else 0.0
    if med <= 0:
        pos = dsw[dsw > 0]
        med = float(np.median(pos)) if pos.size else 1.0
    K = np.exp(-dsw / med)
    sr = np.sort(rng.choice(nr, min(nr, max_diagram_images), replace=False))
    sf = nr + np.sort(rng.choice(nf, min(nf, max_diagram_images), replace=False))
    sub_idx = np.concatenate([sr, sf])
    sub = -np.ones(nr + nf, dtype=np.int64)
    sub[sub_idx] = np.arange(len(sub_idx))
    D = pairwise_diagram_distances([diags[i] for i in sub_idx],
                                   metric=diagram_metric, top_k=top_k, n_jobs=n_jobs)
    m = len(sr)
    drr = D[:m, :m][~np.eye(m, dtype=bool)]
    d_ref = float(drr.mean()) if drr.size else 0.0
    if d_ref <= 0:
        off = D[~np.eye(len(D), dtype=bool)]
        d_ref = float(off.mean()) if off.size else 0.0
    return PooledFeatures(X, list(real.names), scale, K, D, sub, d_ref, nr,
                          extra={"sw_median": med, "sw": dsw})


def standardised(pf: PooledFeatures) -> np.ndarray:
    """The pooled summaries centred on the real mean, in units of ``pf.scale``."""
    mu = pf.X[: pf.n_real].mean(axis=0)
    return (pf.X - mu) / pf.scale
