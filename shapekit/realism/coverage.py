"""Diversity of a synthetic set: k-nearest-neighbour precision, recall, density and coverage.

:func:`coverage_metrics` measures diversity with k-nearest-neighbour balls of standardised
summary vectors (precision, recall, density, coverage): a mode-collapsed synthetic set covers few
real images even when its per-image statistics look right.  :func:`coverage_from_distances` does
the same from a distance matrix, and :func:`expected_coverage` is the coverage two samples of one
distribution reach.

References
----------
.. [1] Kynkaanniemi, T. et al. "Improved precision and recall metric for assessing generative
   models", NeurIPS (2019).
.. [2] Naeem, M. F. et al. "Reliable fidelity and diversity metrics for generative models",
   ICML (2020) (density and coverage; expected coverage of identical distributions).
"""

from __future__ import annotations

import numpy as np


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
