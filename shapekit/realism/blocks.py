"""The answer blocks of :func:`shapekit.realism.scoring.score` built from pooled features.

:func:`headline_block` (the first version's raw-image keys), :func:`structure_block` (the
structure question with its coverage and descriptor shift tests) and :func:`size_note` (the
warning when the compared set is far smaller or larger than the baseline's halves).
"""

from __future__ import annotations

import numpy as np

from shapekit.realism.resampling import compare_pooled, shift_test
from shapekit.realism.setstats import PooledFeatures, standardised

__all__ = ["headline_block", "structure_block", "size_note"]


def size_note(n_real: int, n_fake: int, unit: str = "images") -> list[str]:
    """A note when the synthetic set is far smaller or larger than the baseline's halves.

    The real-vs-real baseline scores halves of the reference (``n_real // 2`` each) against each
    other; a distance between small sets reads higher than between large ones, so a synthetic set
    of a very different size moves the ratio by its size alone. (16 real uhcs3 pearlite images
    scored against the other 134 read 2.1x; 48 against 102, 0.70x; 48 against 30, 0.42x:
    RESULTS.md section 4.)

    Examples
    --------
    >>> size_note(150, 16)[0][:60]
    'the baseline compares halves of the reference (75 images eac'
    >>> size_note(30, 16)
    []
    """
    half = n_real // 2
    if half < 2 or 0.5 <= n_fake / half <= 2:
        return []
    return [f"the baseline compares halves of the reference ({half} {unit} each) and the synthetic set "
            f"has {n_fake}: a distance between fewer {unit} reads higher, so this ratio reads "
            f"{'high' if n_fake < half else 'low'} by the sizes alone; compare ratios of sets of like sizes"]


def headline_block(block: dict, n_boot: int, n_perm: int) -> dict:
    """The first version's top-level keys from the raw-image block of
    :func:`~shapekit.realism.resampling.compare_pooled` (mode both of :func:`~shapekit.realism.scoring.score`)."""
    ci = dict(block["ci"])
    ci["topological_distance"] = ci.pop("distance")
    return {"topological_distance": block["distance"], "components": block["components"],
            "ci": {"topological_distance": ci["topological_distance"], **{k: v for k, v in ci.items()
                                                                           if k != "topological_distance"}},
            "real_vs_real": block["real_vs_real"], "relative_to_baseline": block["relative_to_baseline"],
            "permutation_null": block["permutation_null"], "p_value": block["p_value"],
            "n_perm": int(n_perm), "n_boot": int(n_boot), "summaries": block["columns"],
            "top_summaries": block["top"]}


def structure_block(pf: PooledFeatures, spacing: list[np.ndarray], info: dict, n_boot: int, n_perm: int,
                     rngs: list[np.random.Generator], k_nn: int, groups: np.ndarray | None) -> dict:
    """The structure block of :func:`~shapekit.realism.scoring.score`: the calibrated distance, coverage,
    the resolution ``info`` of both sets and the feature-size and phase-fraction shift tests."""
    from scipy.spatial.distance import cdist

    from shapekit.realism.coverage import coverage_embedding, coverage_from_distances, diversity_block

    nr = pf.n_real
    E = coverage_embedding(standardised(pf))
    DZ = cdist(E, E)

    def _cov(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        c = coverage_from_distances(DZ, a, b, k_nn)
        return {"coverage": c["coverage"], "diversity_ratio": c["diversity_ratio"]}

    block, boot = compare_pooled(pf, n_boot, n_perm, rngs[:3], extra=_cov, groups=groups)
    block["coverage"] = diversity_block(DZ, nr, k_nn, rngs[3], min(n_boot, 100), boot, dim=int(E.shape[1]))
    block["resolution"] = info
    j = pf.names.index("two_point_phase_fraction")
    desc = {"feature_size": shift_test(*spacing), "phase_fraction": shift_test(pf.X[:nr, j], pf.X[nr:, j])}
    for key, tt in desc.items():
        # significant, a medium effect, and (feature size) at least 10 % apart
        tt["differs"] = bool(tt["p_value"] < 0.01 and abs(tt["effect_size"]) >= 0.5
                             and (key != "feature_size" or abs(tt["ratio"] - 1.0) >= 0.1))
    desc["feature_size"]["what"] = "feature spacing (px) at the common floor smoothing"
    block["descriptors"] = desc
    return block
