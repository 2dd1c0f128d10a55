"""The Examples blocks of every shapekit module run and hold (numpy-style docstrings are tested)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import shapekit

MODULES = sorted(m.name for m in pkgutil.walk_packages(shapekit.__path__, "shapekit.")
                 if not m.ispkg or m.name.count(".") == 1)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"


def test_most_modules_have_examples() -> None:
    with_examples = sum(
        doctest.DocTestFinder().find(importlib.import_module(n)) != [] and
        any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(n)))
        for n in MODULES)
    assert with_examples >= 0.7 * len(MODULES), f"{with_examples} of {len(MODULES)} modules have examples"
