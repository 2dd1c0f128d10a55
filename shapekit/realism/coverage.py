"""Coverage and diversity of a synthetic set: does it reproduce the reference's variety?

A generator can match every per-image statistic and still produce one image again and again.
Two measures, both on feature vectors of one image each:

* **coverage** (Naeem et al. [2]): the fraction of reference images whose k-nearest-neighbour
  ball (radius to their k-th nearest reference neighbour) holds at least one synthetic image;
  with precision, recall (Kynkaanniemi et al. [1]) and density. It falls both when the synthetic
  set misses modes and when it is shifted as a whole;
* **near-duplicates** (:func:`near_duplicates`): the fraction of synthetic images whose nearest
  synthetic neighbour is closer than the :data:`DUPLICATE_QUANTILE` quantile of the reference's
  nearest-neighbour distances, both at the same sample size (so about 5 % for two samples of one
  distribution, whatever their sizes). A set is **collapsed** when at least
  :data:`COLLAPSE_DUPLICATE_FRACTION` of its images have a near-duplicate;
* the **diversity ratio**: mean pairwise distance among synthetic vectors over that among
  reference ones (a spread); **reduced** when it is below both the 2.5 % quantile of the same
  ratio between random halves of the reference and :data:`REDUCED_DIVERSITY_RATIO`.

Why not on the per-image topological summaries of the raw images, as the first version did:
there the vectors have ~80 standardised dimensions, every one shifted by any imaging difference
(brightness, noise), and in 80 dimensions a shift of half a standard deviation per dimension
already puts every synthetic vector outside every reference ball: coverage read 0 on every
generated set. And the mean pairwise distance measures spread, not variety: five distinct images
repeated 15 times each spread almost as much as 75 distinct ones (ratio ~0.8, never flagged). So
:func:`diversity_block` works on the *structure* summaries (:mod:`shapekit.realism.structure`,
imaging taken out), reduced to the principal components that explain 90 % of their pooled
variance (at most 10), and flags collapse by near-duplicates.

References
----------
.. [1] Kynkaanniemi, T. et al. "Improved precision and recall metric for assessing generative
   models", NeurIPS (2019).
.. [2] Naeem, M. F. et al. "Reliable fidelity and diversity metrics for generative models",
   ICML (2020) (density and coverage; expected coverage of identical distributions).
"""

from __future__ import annotations

import numpy as np

__all__ = ["coverage_metrics", "coverage_from_distances", "expected_coverage", "coverage_embedding",
           "near_duplicates", "diversity_block", "COLLAPSE_DUPLICATE_FRACTION", "DUPLICATE_QUANTILE",
           "REDUCED_DIVERSITY_RATIO"]

#: a set is collapsed when at least this fraction of its images has a near-duplicate in the set
COLLAPSE_DUPLICATE_FRACTION = 0.5
#: near-duplicate: nearest neighbour closer than this quantile of the reference's NN distances
DUPLICATE_QUANTILE = 0.05
#: diversity is "reduced" only below this ratio (and below the reference's own halves)
REDUCED_DIVERSITY_RATIO = 0.8


def _knn_radius(d: np.ndarray, k: int) -> np.ndarray:
    """k-th nearest-neighbour distance of each row of a square distance matrix (self excluded)."""
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    k = min(k, len(d) - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def coverage_metrics(Z_real: np.ndarray, Z_fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage and a diversity ratio of two sets of feature vectors.

    ``coverage``: fraction of real vectors whose k-NN ball (radius to their k-th nearest real
    neighbour) holds at least one synthetic vector. ``recall``: fraction of real vectors inside
    some synthetic vector's k-NN ball (synthetic radii). ``precision``: fraction of synthetic
    vectors inside some real ball; ``density``: mean number of real balls holding a synthetic
    vector, divided by ``k``. ``diversity_ratio``: mean pairwise distance among synthetic vectors
    over that among real ones (about 1 for equal spread, near 0 for a collapsed set).

    Parameters
    ----------
    Z_real : ndarray (n, d)
    Z_fake : ndarray (m, d)
        Standardised feature vectors (e.g. summaries divided by the real standard deviation).
    k : int
        Neighbourhood size (clipped to the set sizes).

    Returns
    -------
    dict of float (NaN when a set has fewer than 2 vectors)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(100, 3))
    >>> collapsed = real[:1] + 0.01 * rng.normal(size=(100, 3))
    >>> coverage_metrics(real, collapsed)["coverage"] < 0.2
    True
    """
    from scipy.spatial.distance import cdist

    Z = np.vstack([np.asarray(Z_real, dtype=np.float64), np.asarray(Z_fake, dtype=np.float64)])
    n = len(Z_real)
    return coverage_from_distances(cdist(Z, Z), np.arange(n), np.arange(n, len(Z)), k)


def coverage_from_distances(D: np.ndarray, ia: np.ndarray, ib: np.ndarray, k: int = 5) -> dict[str, float]:
    """:func:`coverage_metrics` from a precomputed pooled distance matrix and index sets.

    Repeated indices (a bootstrap draw) are collapsed to unique ones first. Computing ``D`` once
    makes resampled coverage cheap.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import cdist
    >>> Z = np.random.default_rng(0).normal(size=(40, 2))
    >>> a = coverage_from_distances(cdist(Z, Z), np.arange(20), np.arange(20, 40))
    >>> a == coverage_metrics(Z[:20], Z[20:])
    True
    """
    ia, ib = np.unique(ia), np.unique(ib)
    keys = ("precision", "recall", "density", "coverage", "diversity_ratio")
    if len(ia) < 2 or len(ib) < 2:
        return {k_: float("nan") for k_ in keys}
    drr, dff, d = D[np.ix_(ia, ia)], D[np.ix_(ib, ib)], D[np.ix_(ia, ib)]
    rr = _knn_radius(drr, k)
    rf = _knn_radius(dff, k)
    inside_real = d <= rr[:, None]        # fake j in real ball i
    inside_fake = d <= rf[None, :]        # real i in fake ball j
    kk = min(k, len(ia) - 1)
    mr = float(drr.sum() / (len(ia) * (len(ia) - 1)))
    mf = float(dff.sum() / (len(ib) * (len(ib) - 1)))
    return {"precision": float(inside_real.any(axis=0).mean()),
            "recall": float(inside_fake.any(axis=1).mean()),
            "density": float(inside_real.sum() / (kk * len(ib))),
            "coverage": float((d.min(axis=1) <= rr).mean()),
            "diversity_ratio": float(mf / mr) if mr > 0 else float("nan")}


def expected_coverage(n_real: int, n_fake: int, k: int = 5) -> float:
    """Expected coverage when real and synthetic vectors come from one distribution.

    ``1 - prod_{i=1..k} (n_real - i) / (n_real + n_fake - i)`` (Naeem et al. 2020, eq. 9).

    Examples
    --------
    >>> round(expected_coverage(1000, 1000, 5), 3)
    0.969
    """
    k = min(k, n_real - 1)
    if k < 1:
        return float("nan")
    i = np.arange(1, k + 1)
    return float(1.0 - np.prod((n_real - i) / (n_real + n_fake - i)))


def coverage_embedding(Z: np.ndarray, var: float = 0.9, max_dim: int = 10) -> np.ndarray:
    """Project standardised rows (both sets pooled) on their leading principal components.

    Keeps the fewest components that explain ``var`` of the pooled variance, at most ``max_dim``
    and at most ``len(Z) - 2``. Fitted on both sets alike: components fitted on the reference
    alone would follow its own sampling noise, and the other set would look less spread (and
    more duplicated) than it is.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(40, 2)) @ np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.1]])
    >>> coverage_embedding(Z).shape
    (40, 1)
    """
    Z = np.asarray(Z, dtype=np.float64)
    mu = Z.mean(axis=0)
    _, S, Vt = np.linalg.svd(Z - mu, full_matrices=False)
    ev = S ** 2
    if ev.sum() <= 0:
        return np.zeros((len(Z), 1))
    k = int(np.searchsorted(np.cumsum(ev) / ev.sum(), var) + 1)
    k = max(1, min(k, max_dim, len(Z) - 2, len(ev)))
    return (Z - mu) @ Vt[:k].T


def _nn_distances(D: np.ndarray, idx: np.ndarray) -> np.ndarray:
    d = D[np.ix_(idx, idx)].copy()
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def near_duplicates(D: np.ndarray, ia: np.ndarray, ib: np.ndarray, q: float = DUPLICATE_QUANTILE,
                    n_sub: int = 8, seed: int = 0) -> dict[str, float]:
    """Fraction of ``ib`` images with a near-duplicate in ``ib``, against the ``ia`` reference.

    Both sides are compared at the smaller set's size ``m`` (the larger one subsampled ``n_sub``
    times, deterministically): the threshold is the ``q`` quantile of the reference's
    nearest-neighbour distances among ``m`` images, so two samples of one distribution give
    about ``q``.

    Returns
    -------
    dict
        ``duplicate_fraction``, ``expected_if_same`` (``q``), ``nn_ratio`` (median synthetic
        over median reference nearest-neighbour distance: ~1 when alike, ~0 when collapsed),
        ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import cdist
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(60, 3)); collapsed = real[:3].repeat(20, 0) + 0.01 * rng.normal(size=(60, 3))
    >>> Z = np.vstack([real, collapsed]); D = cdist(Z, Z)
    >>> near_duplicates(D, np.arange(60), np.arange(60, 120))["duplicate_fraction"]
    1.0
    """
    ia, ib = np.unique(ia), np.unique(ib)
    nan = {"duplicate_fraction": float("nan"), "expected_if_same": float(q), "nn_ratio": float("nan"),
           "threshold": float("nan")}
    m = min(len(ia), len(ib))
    if m < 3:
        return nan
    rng = np.random.default_rng(seed)

    def subsets(idx: np.ndarray) -> list[np.ndarray]:
        return [idx] if len(idx) == m else [np.sort(rng.choice(idx, m, replace=False)) for _ in range(n_sub)]

    ref = [_nn_distances(D, s) for s in subsets(ia)]
    tau = float(np.mean([np.quantile(r, q) for r in ref]))
    syn = [_nn_distances(D, s) for s in subsets(ib)]
    med_r = float(np.mean([np.median(r) for r in ref]))
    return {"duplicate_fraction": float(np.mean([np.mean(s < tau) for s in syn])), "expected_if_same": float(q),
            "nn_ratio": float(np.mean([np.median(s) for s in syn]) / med_r) if med_r > 0 else float("nan"),
            "threshold": tau}


def diversity_block(D: np.ndarray, n_real: int, k: int, rng: np.random.Generator, n_rounds: int,
                    boot: dict[str, np.ndarray] | None = None, dim: int | None = None) -> dict:
    """Coverage, near-duplicates, diversity ratio and the collapse / reduced-diversity flags.

    Parameters
    ----------
    D : ndarray (N, N)
        Distances between pooled feature vectors (reference first), e.g. ``cdist`` of
        :func:`coverage_embedding`.
    n_real : int
    k : int
        Neighbourhood size of coverage.
    rng : numpy Generator
        For the reference's random halves (the spread the diversity ratio is judged against).
    n_rounds : int
        Number of halves.
    boot : dict, optional
        Bootstrap replicates of ``coverage`` and ``diversity_ratio`` (for their CIs).
    dim : int, optional
        Dimension of the space (reported).

    Returns
    -------
    dict
        Everything of :func:`coverage_from_distances` plus ``expected_if_same``, ``k``,
        ``duplicate_fraction``, ``duplicate_expected``, ``nn_ratio``,
        ``diversity_ratio_real_vs_real`` (2.5-97.5 % of the halves' ratios), ``collapsed``,
        ``reduced_diversity``, ``dim``, and ``ci`` / ``diversity_ratio_ci`` with ``boot``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import cdist
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(60, 3)); same = rng.normal(size=(60, 3))
    >>> Z = np.vstack([real, same]); D = cdist(Z, Z)
    >>> b = diversity_block(D, 60, 5, np.random.default_rng(1), 50)
    >>> b["collapsed"], b["reduced_diversity"], b["coverage"] > 0.8
    (False, False, True)
    """
    from shapekit.realism.resampling import percentile_ci

    N = len(D)
    ia, ib = np.arange(n_real), np.arange(n_real, N)
    out: dict = dict(coverage_from_distances(D, ia, ib, k))
    nd = near_duplicates(D, ia, ib)
    halves = []
    if n_real >= 8:
        for _ in range(n_rounds):
            p = rng.permutation(n_real)
            halves.append(coverage_from_distances(D, p[: n_real // 2], p[n_real // 2:], k)["diversity_ratio"])
    lo_hi = percentile_ci(np.asarray(halves)) if halves else [float("nan"), float("nan")]
    dr = out["diversity_ratio"]
    out.update({"expected_if_same": expected_coverage(n_real, N - n_real, k), "k": int(k),
                "duplicate_fraction": nd["duplicate_fraction"], "duplicate_expected": nd["expected_if_same"],
                "nn_ratio": nd["nn_ratio"], "diversity_ratio_real_vs_real": lo_hi,
                "collapsed": bool(nd["duplicate_fraction"] >= COLLAPSE_DUPLICATE_FRACTION),
                "reduced_diversity": bool(np.isfinite(dr) and dr < REDUCED_DIVERSITY_RATIO
                                          and (not np.isfinite(lo_hi[0]) or dr < lo_hi[0])),
                "dim": dim})
    if boot is not None:
        out["ci"] = percentile_ci(boot["coverage"])
        out["diversity_ratio_ci"] = percentile_ci(boot["diversity_ratio"])
    return out
