"""shapekit.topology: cubical persistent homology of micrographs and its vectorisation.

Functional core: :func:`cubical_persistence` (GUDHI 2-D fast path; cripser optional; an exact
batched torch backend for CPU and CUDA, :mod:`shapekit.topology.torch_ph`),
:func:`persistence_pairs_with_locations`, and the vectorisers :func:`diagram_summaries`,
:func:`betti_curve`, :func:`persistence_image`, :func:`persistence_landscape`.  Conventions
(T = 8-connected, V = 4-connected, superlevel in original units with birth >= death, essential
bars) are documented in :mod:`shapekit.topology.persistence`.

:class:`TopTempFeaturizer` (and the temper classifier's tile features) vectorise all images of a
call at once with :func:`shapekit.topology.batch.block_features_batch` (a compiled numba kernel;
numpy fallback), which equals the per-diagram functions above to ~1e-14.
"""

from shapekit.topology.cache import FeatureCache
from shapekit.topology.collection import featurize_collection, featurize_scan
from shapekit.topology.featurizer import TopTempFeaturizer
from shapekit.topology.locations import persistence_pairs_with_locations
from shapekit.topology.persistence import cubical_persistence, cubical_persistence_batch
from shapekit.topology.vectorize import (
    betti_curve,
    diagram_summaries,
    finite_pairs,
    lifetimes,
    persistence_image,
    persistence_landscape,
    summary_names,
)

__all__ = [
    "TopTempFeaturizer",
    "FeatureCache",
    "featurize_collection",
    "featurize_scan",
    "persistence_pairs_with_locations",
    "cubical_persistence",
    "cubical_persistence_batch",
    "diagram_summaries",
    "summary_names",
    "betti_curve",
    "persistence_image",
    "persistence_landscape",
    "finite_pairs",
    "lifetimes",
]
