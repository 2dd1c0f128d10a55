"""shapekit: topology-first analysis of SEM micrographs of heat-treated metals.

Three jobs, one data flow (``io -> topology -> temper/generate -> realism``):

1. classify the temper of a scan from its cubical persistent homology (``shapekit.temper``);
2. generate micrographs for proposed process parameters or properties (``shapekit.generate``);
3. score synthetic micrographs topologically against real ones (``shapekit.realism``).

``shapekit.analysis`` holds representation-geometry tools for any torch model. Submodules are
imported lazily so that ``import shapekit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {"io", "synth", "topology", "temper", "generate", "realism", "analysis", "errors"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"shapekit.{name}")
    raise AttributeError(f"module 'shapekit' has no attribute {name!r}")


__all__ = ["__version__", *sorted(_SUBMODULES)]


def __dir__() -> list[str]:
    """The lazily loaded names too, so that ``dir()`` and tab completion list them."""
    return sorted(set(globals()) | set(__all__))
