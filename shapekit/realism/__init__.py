"""shapekit.realism: is a micrograph set like a reference? Structure and imaging, each calibrated.

Public API (loaded on first use, so ``import shapekit.realism`` stays light)::

    score(real, fake, *, mode="both", n_boot=200, n_perm=200, seed=0, ...) -> dict   # the whole evaluation
    prepare_set(src, ...) -> PreparedSet          # per-image features once, for many comparisons
    set_groups(src, groups="auto")                # group ids (sample/spot): whole groups are resampled
    TopologicalRealism                            # torchmetrics Metric (update/compute), raw images
    structure_image, structure_features, structure_sigmas, feature_spacing       (structure.py)
    reference_quantiles (structure.py), match_grey_levels                         (greylevels.py)
    imaging_descriptors, imaging_gap, noise_sigma, blur_sigma, attribute_shifts   (imaging.py)
    verdict                                                                        (verdict.py)
    image_features, common_scale, FeatureSet, ScaleWarning   # per-image topology (summaries.py)
    set_statistics, PooledFeatures, pooled_features, column_w1_ks, mmd2_unbiased,
        energy_distance                                                            (setstats.py)
    real_vs_real, permutation_test, bootstrap, percentile_ci, compare_pooled, Units (resampling.py)
    coverage_metrics, expected_coverage, near_duplicates, diversity_block          (coverage.py)
    sliced_wasserstein_embedding, pairwise_diagram_distances                       (diagdist.py)
    binarize, phase_fraction, two_point_correlation, chord_lengths, materials_statistics (materials.py)
    offline_kid, load_extractor                                                    (kid.py)
    write_report                                                                   (report.py)

``score`` answers two questions: **structure** (topology and two-point statistics of images
z-scored, smoothed to a common effective resolution and with their grey levels matched to the
reference's by a smooth increasing curve, with the topology pipeline's
preprocessing and ``CubicalDiagrams``/``PersistenceStatistics`` steps:
:mod:`shapekit.realism.structure`) and **imaging** (grey levels, contrast, noise, sharpness:
:mod:`shapekit.realism.imaging`), and keeps the combined headline
``topological_distance = (d_summaries + d_mmd + d_energy) / 3`` on the raw images (see
:mod:`shapekit.realism.setstats`), whose per-image topology is the topology pipeline's on raw grey
levels, one :class:`~shapekit.topology.diagrams.Diagrams` per image.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "scoring": ["score", "load_image_set"],
    "prepared": ["prepare_set", "PreparedSet", "set_groups"],
    "metric": ["TopologicalRealism"],
    "structure": ["structure_image", "structure_features", "structure_sigmas", "feature_spacing",
                  "image_spacing", "reference_quantiles"],
    "greylevels": ["match_grey_levels"],
    "imaging": ["imaging_descriptors", "imaging_gap", "noise_sigma", "blur_sigma",
                "attribute_shifts"],
    "verdict": ["verdict"],
    "summaries": ["image_features", "common_scale", "FeatureSet", "ScaleWarning"],
    "setstats": ["set_statistics", "PooledFeatures", "pooled_features", "column_w1_ks", "mmd2_unbiased",
                 "energy_distance"],
    "resampling": ["real_vs_real", "permutation_test", "bootstrap", "percentile_ci", "compare_pooled", "Units"],
    "coverage": ["coverage_metrics", "expected_coverage", "near_duplicates", "diversity_block"],
    "diagdist": ["sliced_wasserstein_embedding", "pairwise_diagram_distances"],
    "materials": ["binarize", "phase_fraction", "two_point_correlation", "chord_lengths",
                  "materials_statistics"],
    "kid": ["offline_kid", "load_extractor"],
    "report": ["write_report"],
})
