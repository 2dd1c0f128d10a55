"""Calibration of set-level numbers: real-vs-real baseline, permutation test, bootstrap, coverage.

A distance between a real and a synthetic set means little without a baseline. Given the pooled
features of :class:`shapekit.realism.setstats.PooledFeatures`, this module only draws index arrays:

* :func:`real_vs_real` splits the real set into random halves, repeatedly, and scores one half
  against the other: the spread of a distance when both sides come from the real distribution
  (with half the images on each side, so it is a conservative, slightly high, baseline);
* :func:`permutation_test` shuffles the real/synthetic labels of the pool: the p-value of the
  observed ``topological_distance`` under "both sets come from one distribution";
* :func:`bootstrap` resamples each side with replacement: percentile confidence intervals;
* :func:`coverage_metrics` measures diversity with k-nearest-neighbour balls of standardised
  summary vectors (precision, recall, density, coverage): a mode-collapsed synthetic set covers few
  real images even when its per-image statistics look right.

References
----------
.. [1] Good, P. *Permutation, Parametric and Bootstrap Tests of Hypotheses*, Springer (2005).
.. [2] Efron, B., Tibshirani, R. *An Introduction to the Bootstrap*, Chapman & Hall (1993).
.. [3] Kynkaanniemi, T. et al. "Improved precision and recall metric for assessing generative
   models", NeurIPS (2019).
.. [4] Naeem, M. F. et al. "Reliable fidelity and diversity metrics for generative models",
   ICML (2020) (density and coverage; expected coverage of identical distributions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shapekit.realism.setstats import COMPONENTS, PooledFeatures, set_statistics

__all__ = ["percentile_ci", "real_vs_real", "permutation_test", "bootstrap",
           "coverage_metrics", "coverage_from_distances", "expected_coverage"]

_HEADLINE = ("topological_distance",) + COMPONENTS


def percentile_ci(values: np.ndarray, level: float = 0.95, estimate: float | None = None) -> list[float]:
    """Percentile interval ``[lo, hi]`` of the finite ``values`` (NaNs when none is finite).

    With ``estimate`` (the statistic on the original sample), the interval is shifted by the
    bootstrap bias estimate ``mean(values) - estimate`` and clipped at 0: distances between
    resampled sets are biased upwards, and this keeps the interval around the estimate.

    Examples
    --------
    >>> [round(v, 6) for v in percentile_ci(np.arange(101.0))]
    [2.5, 97.5]
    >>> [round(v, 6) for v in percentile_ci(np.arange(101.0), estimate=40.0)]
    [0.0, 87.5]
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [float("nan"), float("nan")]
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    if estimate is not None and np.isfinite(estimate):
        bias = float(v.mean()) - float(estimate)
        lo, hi = max(lo - bias, 0.0), max(hi - bias, 0.0)
    return [float(lo), float(hi)]


def real_vs_real(pf: PooledFeatures, n_rounds: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Scores of random half against half of the real set, ``n_rounds`` times.

    Returns
    -------
    dict
        ``topological_distance`` and each component: arrays of length ``n_rounds`` (empty
        arrays when the real set has fewer than 4 images).

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.setstats import PooledFeatures
    >>> X = np.random.default_rng(0).normal(size=(30, 2)); K = np.exp(-np.abs(X[:, None, 0] - X[None, :, 0]))
    >>> pf = PooledFeatures(X, ["a", "b"], X[:20].std(0), K, np.zeros((0, 0)), -np.ones(30, int), 0.0, 20)
    >>> rvr = real_vs_real(pf, 5, np.random.default_rng(0))
    >>> rvr["topological_distance"].shape
    (5,)
    """
    n = pf.n_real
    out: dict[str, list[float]] = {k: [] for k in _HEADLINE}
    if n < 4:
        return {k: np.zeros(0) for k in _HEADLINE}
    for _ in range(n_rounds):
        p = rng.permutation(n)
        st = set_statistics(pf, p[: n // 2], p[n // 2: 2 * (n // 2)], per_summary=False)
        for k in _HEADLINE:
            out[k].append(st[k])
    return {k: np.asarray(v) for k, v in out.items()}


def permutation_test(pf: PooledFeatures, observed: float, n_perm: int,
                     rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """Permutation p-value of ``observed`` ``topological_distance`` (real/fake labels shuffled).

    ``p = (1 + #{T_perm >= T_obs}) / (1 + n_perm)``, never 0.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.setstats import PooledFeatures
    >>> X = np.r_[np.zeros((10, 1)), np.ones((10, 1))] + np.arange(20)[:, None] * 1e-3
    >>> K = np.exp(-np.abs(X - X.T))
    >>> pf = PooledFeatures(X, ["a"], np.ones(1), K, np.zeros((0, 0)), -np.ones(20, int), 0.0, 10)
    >>> obs = set_statistics(pf, np.arange(10), np.arange(10, 20))["topological_distance"]
    >>> p, null = permutation_test(pf, obs, 99, np.random.default_rng(0))
    >>> p < 0.05
    True
    """
    n_all = len(pf.X)
    nr = pf.n_real
    null = np.empty(n_perm)
    for i in range(n_perm):
        p = rng.permutation(n_all)
        null[i] = set_statistics(pf, p[:nr], p[nr:], per_summary=False)["topological_distance"]
    if not np.isfinite(observed):
        return float("nan"), null
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_perm)), null


def bootstrap(pf: PooledFeatures, n_boot: int, rng: np.random.Generator,
              extra: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None
              ) -> dict[str, np.ndarray]:
    """Bootstrap replicates (each side resampled with replacement) of every set-level number.

    Parameters
    ----------
    pf : PooledFeatures
    n_boot : int
    rng : numpy Generator
    extra : callable, optional
        ``extra(ia, ib) -> {name: value}`` adds more numbers per replicate (e.g. coverage).

    Returns
    -------
    dict
        Arrays of length ``n_boot`` for the headline and components, ``w1_std`` of shape
        ``(n_boot, p)``, plus the ``extra`` names.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.setstats import PooledFeatures
    >>> X = np.random.default_rng(0).normal(size=(20, 2)); K = np.eye(20)
    >>> pf = PooledFeatures(X, ["a", "b"], np.ones(2), K, np.zeros((0, 0)), -np.ones(20, int), 0.0, 10)
    >>> bootstrap(pf, 4, np.random.default_rng(0))["w1_std"].shape
    (4, 2)
    """
    nr, nf = pf.n_real, len(pf.X) - pf.n_real
    out: dict[str, list] = {k: [] for k in _HEADLINE + ("w1_std",)}
    for _ in range(n_boot):
        ia = rng.integers(0, nr, nr)
        ib = nr + rng.integers(0, nf, nf)
        st = set_statistics(pf, ia, ib)
        for k in _HEADLINE + ("w1_std",):
            out[k].append(st[k])
        if extra is not None:
            for k, v in extra(ia, ib).items():
                out.setdefault(k, []).append(v)
    return {k: np.asarray(v) for k, v in out.items()}


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
