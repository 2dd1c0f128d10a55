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
