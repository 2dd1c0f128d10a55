"""The public names of shapekit and its subpackages: listed by ``dir()`` (tab completion in a
notebook) even while they are loaded lazily, and each one resolves."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["shapekit", "shapekit.io", "shapekit.synth", "shapekit.topology", "shapekit.temper",
            "shapekit.generate", "shapekit.realism", "shapekit.analysis", "shapekit.server",
            "shapekit.registry"]


@pytest.mark.parametrize("name", PACKAGES)
def test_dir_lists_every_public_name(name):
    # shapekit, generate, analysis and server resolved their names in a module __getattr__ with
    # no __dir__, so dir(shapekit.generate) and Jupyter's completion showed none of them
    mod = importlib.import_module(name)
    assert set(mod.__all__) <= set(dir(mod)), sorted(set(mod.__all__) - set(dir(mod)))


@pytest.mark.parametrize("name", ["shapekit", "shapekit.generate", "shapekit.server"])
def test_every_public_name_resolves(name):
    mod = importlib.import_module(name)
    for attr in mod.__all__:
        assert getattr(mod, attr) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mod.nope
