"""Representation-geometry tools for any ``torch.nn.Module`` (and shapekit's own models)."""

from shapekit.analysis._hooks import collect_activations, layer_names, resolve_layers
from shapekit.analysis.cka import (MinibatchCKA, cka, gram_linear, gram_rbf, hsic, layerwise_cka,
                                   linear_cka, rbf_cka)
from shapekit.analysis.frames import (blur_tangent, fourier_shift, frame_statistics, frame_vectors,
                                      neural_frames, perturbation_directions, principal_angles,
                                      rotation_tangent, secant_frame, translation_tangent)
from shapekit.analysis.intertwiners import (GroupElement, align_units, apply_group_element,
                                            group_for_activation, intertwiner_similarity,
                                            random_group_element)
from shapekit.analysis.intrinsic_dim import (dedup_points, intrinsic_dimension,
                                             layer_intrinsic_dimension, lpca_id, mle_id, twonn)
from shapekit.analysis.stitching import (StitchedModel, StitchLayer, accuracy, fit_stitch,
                                         stitching_report)

__all__ = [
    # activations
    "collect_activations", "layer_names", "resolve_layers",
    # intrinsic dimension (arXiv 2302.09301)
    "twonn", "mle_id", "lpca_id", "intrinsic_dimension", "layer_intrinsic_dimension", "dedup_points",
    # neural frames (arXiv 2211.10558)
    "perturbation_directions", "rotation_tangent", "translation_tangent", "blur_tangent",
    "fourier_shift", "frame_vectors", "secant_frame", "frame_statistics", "principal_angles",
    "neural_frames",
    # CKA and stitching (arXiv 2211.07697)
    "cka", "linear_cka", "rbf_cka", "hsic", "gram_linear", "gram_rbf", "MinibatchCKA",
    "layerwise_cka", "StitchLayer", "StitchedModel", "fit_stitch", "accuracy", "stitching_report",
    # intertwiner groups (arXiv 2205.14258)
    "GroupElement", "group_for_activation", "random_group_element", "apply_group_element",
    "align_units", "intertwiner_similarity",
]

# analysis part 2: invariance/equivariance (arXiv 2210.03773), frequency sensitivity (2210.01257),
# fibre bundles (2110.06983, 2203.08189), Dynamic Network Augmentation (2112.09277)
from shapekit.analysis.dna import (AugmentationPolicy, DynamicAugmentation, GlobalAugmentation,
                                   affine_warp, fit_dna, ranges_by_class, rotated_digits)
from shapekit.analysis.fibres import BundleNet, ConditionalFlow, fit_bundle
from shapekit.analysis.fibres_baseline import ConditionalGAN, fit_cgan, wasserstein1
from shapekit.analysis.fibres_design import inverse_design, simulator_hardness
from shapekit.analysis.frequency import (fit_power_law, frequency_report, power_map,
                                         radial_power_spectrum, radial_profile, sensitivity_map)
from shapekit.analysis.invariance import (EEDResult, GroupAveraged, eed_from_features,
                                          equivariance_deviation, group_transforms,
                                          prediction_flip_rate)

__all__ += [
    "equivariance_deviation", "eed_from_features", "EEDResult", "group_transforms", "GroupAveraged",
    "prediction_flip_rate", "sensitivity_map", "power_map", "radial_profile",
    "radial_power_spectrum", "fit_power_law", "frequency_report", "BundleNet", "ConditionalFlow",
    "fit_bundle", "ConditionalGAN", "fit_cgan", "wasserstein1", "inverse_design",
    "simulator_hardness", "DynamicAugmentation", "AugmentationPolicy", "GlobalAugmentation",
    "affine_warp", "fit_dna", "ranges_by_class", "rotated_digits",
]
