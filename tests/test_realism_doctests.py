"""The Examples blocks of every shapekit.realism module run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["shapekit.realism.materials", "shapekit.realism.setstats", "shapekit.realism.calibration",
           "shapekit.realism.diagdist", "shapekit.realism.summaries", "shapekit.realism.prepared",
           "shapekit.realism.score", "shapekit.realism.kid", "shapekit.realism.metric",
           "shapekit.realism.report"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"no examples in {name}"
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
