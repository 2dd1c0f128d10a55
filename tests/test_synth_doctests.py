"""The Examples blocks of every shapekit.synth module run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["shapekit.synth.physics", "shapekit.synth.microstructure", "shapekit.synth.render",
           "shapekit.synth.measure", "shapekit.synth.dataset"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"no examples in {name}"
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
