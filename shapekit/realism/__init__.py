"""shapekit.realism: score synthetic micrographs topologically against real ones, calibrated.

Public API::

    score(real, fake, *, n_boot=200, n_perm=200, seed=0, ...) -> dict   # the whole evaluation
    TopologicalRealism                                   # torchmetrics Metric (update/compute)
    image_features, common_scale, FeatureSet, ScaleWarning   # per-image topology (summaries.py)
    set_statistics, PooledFeatures, column_w1_ks, mmd2_unbiased, energy_distance   (setstats.py)
    real_vs_real, permutation_test, bootstrap, coverage_metrics, expected_coverage (calibration.py)
    sliced_wasserstein_embedding, pairwise_diagram_distances                    (diagdist.py)
    binarize, phase_fraction, two_point_correlation, chord_lengths, materials_statistics (materials.py)
    offline_kid, load_extractor                                                  (kid.py)
    write_report                                                                 (report.py)

``topological_distance = (d_summaries + d_mmd + d_energy) / 3`` (see :mod:`shapekit.realism.setstats`).
"""

from __future__ import annotations

from typing import Any

from shapekit.realism.calibration import (bootstrap, coverage_metrics, expected_coverage, permutation_test,
                                          real_vs_real)
from shapekit.realism.diagdist import pairwise_diagram_distances, sliced_wasserstein_embedding
from shapekit.realism.materials import (binarize, chord_lengths, materials_statistics, phase_fraction,
                                        two_point_correlation)
from shapekit.realism.score import load_image_set, score
from shapekit.realism.setstats import PooledFeatures, column_w1_ks, energy_distance, mmd2_unbiased, set_statistics
from shapekit.realism.summaries import FeatureSet, ScaleWarning, common_scale, image_features

__all__ = [
    "score", "load_image_set", "TopologicalRealism", "image_features", "common_scale", "FeatureSet",
    "ScaleWarning", "set_statistics", "PooledFeatures", "column_w1_ks", "mmd2_unbiased", "energy_distance",
    "real_vs_real", "permutation_test", "bootstrap", "coverage_metrics", "expected_coverage",
    "sliced_wasserstein_embedding", "pairwise_diagram_distances", "binarize", "phase_fraction",
    "two_point_correlation", "chord_lengths", "materials_statistics", "offline_kid", "load_extractor",
    "write_report",
]


def __getattr__(name: str) -> Any:
    # torch-heavy parts load on first use, so `import shapekit.realism` stays light
    if name == "TopologicalRealism":
        from shapekit.realism.metric import TopologicalRealism

        return TopologicalRealism
    if name in ("offline_kid", "load_extractor"):
        from shapekit.realism import kid

        return getattr(kid, name)
    if name == "write_report":
        from shapekit.realism.report import write_report

        return write_report
    raise AttributeError(f"module 'shapekit.realism' has no attribute {name!r}")
