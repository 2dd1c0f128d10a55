"""Representation-geometry tools for any ``torch.nn.Module`` (and shapekit's own models).

Public API, imported lazily (``import shapekit.analysis`` stays cheap; torch loads on first use),
the same mechanism as :mod:`shapekit.temper` and :mod:`shapekit.generate`:

* activations: ``collect_activations``, ``layer_names``, ``resolve_layers``;
* intrinsic dimension (arXiv 2302.09301): ``twonn``, ``mle_id``, ``lpca_id``,
  ``intrinsic_dimension``, ``layer_intrinsic_dimension``, ``dedup_points``;
* neural frames (arXiv 2211.10558): ``perturbation_directions``, ``rotation_tangent``,
  ``translation_tangent``, ``blur_tangent``, ``fourier_shift``, ``frame_vectors``,
  ``secant_frame``, ``frame_statistics``, ``principal_angles``, ``neural_frames``;
* CKA and stitching (arXiv 2211.07697): ``cka``, ``linear_cka``, ``rbf_cka``, ``hsic``,
  ``gram_linear``, ``gram_rbf``, ``MinibatchCKA``, ``layerwise_cka``, ``StitchLayer``,
  ``StitchedModel``, ``fit_stitch``, ``accuracy``, ``stitching_report``;
* intertwiner groups (arXiv 2205.14258): ``GroupElement``, ``group_for_activation``,
  ``random_group_element``, ``apply_group_element``, ``align_units``, ``intertwiner_similarity``;
* invariance (arXiv 2210.03773): ``equivariance_deviation``, ``eed_from_features``, ``EEDResult``,
  ``group_transforms``, ``GroupAveraged``, ``prediction_flip_rate``;
* frequency sensitivity (arXiv 2210.01257): ``sensitivity_map``, ``power_map``,
  ``radial_profile``, ``radial_power_spectrum``, ``fit_power_law``, ``frequency_report``;
* fibre bundles (arXiv 2110.06983, 2203.08189): ``BundleNet``, ``ConditionalFlow``,
  ``fit_bundle``, ``inverse_design``, ``simulator_hardness``;
* Dynamic Network Augmentation (arXiv 2112.09277): ``DynamicAugmentation``,
  ``AugmentationPolicy``, ``GlobalAugmentation``, ``affine_warp``, ``fit_dna``,
  ``ranges_by_class``, ``dna_on_scans``, ``dna_on_manifest``.

Known-answer experiments (the torus bundle and the CGAN baseline, DNA on rotated digits) live in
``benchmarks/`` (``fibres_torus.py``, ``dna_digits.py``), not in the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "_hooks": ["collect_activations", "layer_names", "resolve_layers"],
    "intrinsic_dim": ["twonn", "mle_id", "lpca_id", "intrinsic_dimension",
                      "layer_intrinsic_dimension", "dedup_points"],
    "frames": ["perturbation_directions", "rotation_tangent", "translation_tangent", "blur_tangent",
               "fourier_shift", "frame_vectors", "secant_frame", "frame_statistics",
               "principal_angles", "neural_frames"],
    "kernel_alignment": ["cka", "linear_cka", "rbf_cka", "hsic", "gram_linear", "gram_rbf",
                         "MinibatchCKA", "layerwise_cka"],
    "stitching": ["StitchLayer", "StitchedModel", "fit_stitch", "accuracy", "stitching_report"],
    "intertwiners": ["GroupElement", "group_for_activation", "random_group_element",
                     "apply_group_element", "align_units", "intertwiner_similarity"],
    "invariance": ["equivariance_deviation", "eed_from_features", "EEDResult", "group_transforms",
                   "GroupAveraged", "prediction_flip_rate"],
    "frequency": ["sensitivity_map", "power_map", "radial_profile", "radial_power_spectrum",
                  "fit_power_law", "frequency_report"],
    "fibres": ["BundleNet", "ConditionalFlow", "fit_bundle"],
    "fibres_design": ["inverse_design", "simulator_hardness"],
    "dna": ["DynamicAugmentation", "AugmentationPolicy", "GlobalAugmentation", "affine_warp",
            "fit_dna", "ranges_by_class"],
    "dna_scans": ["dna_on_scans", "dna_on_manifest"],
}
_LAZY = {name: f"shapekit.analysis.{mod}" for mod, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shapekit.analysis' has no attribute {name!r}")


__all__ = sorted(_LAZY)


def __dir__() -> list[str]:
    """The lazily loaded names too, so that ``dir()`` and tab completion list them."""
    return sorted(set(globals()) | set(__all__))
