"""``load_generator`` takes a shipped generator's name, as ``load_model`` takes a classifier's.

``load_model("uhcs3")`` works and the CLI takes a NAME wherever a MODEL is asked for, but
``load_generator("uhcs3-class")`` said "run directory not found: uhcs3-class".
"""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.errors import ModelFormatError
from shapekit.generate import load_generator
from shapekit.registry import resolve


def test_a_shipped_name_loads_the_shipped_generator():
    by_name = load_generator("sim-parameters", device="cpu")
    by_path = load_generator(resolve("sim-parameters", "generator"), device="cpu")
    kw = dict(label="over_aged", seed=0, size=32)
    np.testing.assert_array_equal(by_name.sample(1, **kw), by_path.sample(1, **kw))


def test_a_directory_of_that_name_wins_and_unknown_names_still_fail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sim-parameters").mkdir()          # an empty folder of that name: not a model
    with pytest.raises(ModelFormatError, match="no exported generator"):
        load_generator("sim-parameters", device="cpu")
    with pytest.raises(ModelFormatError, match="run directory not found: no-such-run"):
        load_generator("no-such-run", device="cpu")


def test_sample_refuses_a_count_or_seed_that_is_not_a_whole_number() -> None:
    """GeneratorSampler.sample(1.5, ...) made one image without a word, and seed="a" failed
    with numpy's "invalid literal for int()"; both are one InputError line naming the argument
    (not a CLI flag), and a whole float still counts."""
    import pytest

    from shapekit.errors import InputError
    from shapekit.generate import load_generator

    sampler = load_generator("sim-parameters")
    for kwargs, name in (({"n": 1.5}, "n=1.5"), ({"n": 0}, "n=0"), ({"n": 1, "seed": "a"}, "seed='a'"),
                         ({"n": 1, "seed": -1}, "seed=-1")):
        with pytest.raises(InputError, match=name):
            sampler.sample(label="over_aged", size=32, **kwargs)
    assert sampler.sample(2.0, label="over_aged", size=32).shape == (2, 32, 32)
