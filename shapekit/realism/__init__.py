"""shapekit.realism: score synthetic micrographs topologically against real ones, calibrated.

Public API (loaded on first use, so ``import shapekit.realism`` stays light)::

    score(real, fake, *, n_boot=200, n_perm=200, seed=0, ...) -> dict   # the whole evaluation
    TopologicalRealism                                   # torchmetrics Metric (update/compute)
    image_features, common_scale, FeatureSet, ScaleWarning   # per-image topology (summaries.py)
    set_statistics, PooledFeatures, column_w1_ks, mmd2_unbiased, energy_distance   (setstats.py)
    real_vs_real, permutation_test, bootstrap, percentile_ci                       (resampling.py)
    coverage_metrics, expected_coverage                                            (coverage.py)
    sliced_wasserstein_embedding, pairwise_diagram_distances                       (diagdist.py)
    binarize, phase_fraction, two_point_correlation, chord_lengths, materials_statistics (materials.py)
    offline_kid, load_extractor                                                    (kid.py)
    write_report                                                                   (report.py)

Per-image topology is the topology pipeline's (``CubicalDiagrams``, ``PersistenceStatistics``,
``BettiCurves`` of :mod:`shapekit.topology`) on raw grey levels, one
:class:`~shapekit.topology.diagrams.Diagrams` per image.
``topological_distance = (d_summaries + d_mmd + d_energy) / 3`` (see :mod:`shapekit.realism.setstats`).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "scoring": ["score", "load_image_set"],
    "metric": ["TopologicalRealism"],
    "summaries": ["image_features", "common_scale", "FeatureSet", "ScaleWarning"],
    "setstats": ["set_statistics", "PooledFeatures", "column_w1_ks", "mmd2_unbiased",
                 "energy_distance"],
    "resampling": ["real_vs_real", "permutation_test", "bootstrap", "percentile_ci"],
    "coverage": ["coverage_metrics", "expected_coverage"],
    "diagdist": ["sliced_wasserstein_embedding", "pairwise_diagram_distances"],
    "materials": ["binarize", "phase_fraction", "two_point_correlation", "chord_lengths",
                  "materials_statistics"],
    "kid": ["offline_kid", "load_extractor"],
    "report": ["write_report"],
})
