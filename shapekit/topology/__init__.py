"""shapekit.topology: cubical persistent homology of micrographs and its vectorisation.

One pipeline, in scikit-learn steps (:mod:`shapekit.topology.transformers`, then
:mod:`shapekit.topology.vectorizers`)::

    Standardize -> Pyramid -> CubicalDiagrams -> PersistenceStatistics | BettiCurves |
                                                 PersistenceImages | PersistenceLandscapes

over a functional core: :func:`cubical_persistence` / :func:`cubical_persistence_batch` (one
backend dispatch, :func:`~shapekit.topology.persistence.sublevel_pairs`: GUDHI, cripser
optional, an exact batched torch backend for CPU and CUDA in
:mod:`shapekit.topology.torch_ph`), :func:`standardize` / :func:`pyramid`, and the batched
vectorisers of
:mod:`shapekit.topology.vectorize` (one compiled numba kernel).  Every diagram is a
:class:`Diagrams` mapping keyed by :class:`Block` ``(scale, filtration, dim)``.  Conventions (T =
8-connected, V = 4-connected, superlevel in original units with birth >= death, essential bars)
are documented in :mod:`shapekit.topology.persistence`.  Submodules load on first use.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "diagrams": ["Block", "Diagrams", "blocks", "FILTRATIONS", "DIMS"],
    "persistence": ["cubical_persistence", "cubical_persistence_batch", "sublevel_pairs",
                    "validate_image", "BACKENDS", "resolve_backend"],
    "locations": ["persistence_pairs_with_locations"],
    "preprocessing": ["standardize", "rescale", "pyramid"],
    "vectorize": ["persistence_statistics", "statistic_names", "betti_curves",
                  "persistence_images", "persistence_landscapes"],
    "transformers": ["Standardize", "Pyramid", "CubicalDiagrams"],
    "vectorizers": ["PersistenceStatistics", "BettiCurves", "PersistenceImages",
                    "PersistenceLandscapes", "feature_blocks"],
    "collection": ["featurize_collection", "featurize_scan"],
})
