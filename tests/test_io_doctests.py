"""The Examples blocks of every shapekit.io module (and the foundation CLI) run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["shapekit.io._headers", "shapekit.io._native", "shapekit.io.readers", "shapekit.io._tiff", "shapekit.io.scale",
           "shapekit.io.infobar", "shapekit.io.scan", "shapekit.io.tiles", "shapekit.io.write",
           "shapekit.io.manifest", "shapekit.io._manifest_table"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
