"""Resampling around set-level numbers: real-vs-real baseline, permutation test, bootstrap CIs.

A distance between a real and a synthetic set means little without a baseline. Given the pooled
features of :class:`shapekit.realism.setstats.PooledFeatures`, this module only draws index arrays:

* :func:`real_vs_real` splits the real set into random halves, repeatedly, and scores one half
  against the other: the spread of a distance when both sides come from the real distribution
  (with half the images on each side, so it is a conservative, slightly high, baseline);
* :func:`permutation_test` shuffles the real/synthetic labels of the pool: the p-value of the
  observed ``topological_distance`` under "both sets come from one distribution";
* :func:`bootstrap` resamples each side with replacement: percentile confidence intervals
  (:func:`percentile_ci`).

References
----------
.. [1] Good, P. *Permutation, Parametric and Bootstrap Tests of Hypotheses*, Springer (2005).
.. [2] Efron, B., Tibshirani, R. *An Introduction to the Bootstrap*, Chapman & Hall (1993).
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
