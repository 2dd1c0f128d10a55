"""What generate is asked for: conditions outside the training range (generated, with a
warning), a grid written among the images (refused), and what its seed fixes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    """A tiny untrained parameters-mode generator whose condition T was trained on [1, 2]."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    export_generator(Generator(2, 1, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], ["T"], np.array([[1.0], [2.0]]),
                                        mode="parameters"), tmp_path / "gan", crop_size=16)
    return tmp_path / "gan"


def test_any_value_outside_the_training_range_warns(gan: Path, run_cli, tmp_path: Path) -> None:
    # values within a quarter of the range's width beyond it (T=2.2 here; -10 days for a model
    # trained on 0-180 days) were generated silently, while the README promises a warning and
    # the server refuses them
    from shapekit.errors import ShapekitWarning
    from shapekit.generate import load_generator

    g = load_generator(gan, device="cpu")
    for v in (0.9, 2.2, 5.0):
        with pytest.warns(ShapekitWarning, match=rf"T={v:g} is outside the training range "
                                                 r"\[1, 2\]; the generator extrapolates"):
            assert g.check_conditions({"T": v}) == {"T": v}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for v in (1.0, 1.5, 2.0):   # the range's own ends included
            g.check_conditions({"T": v})
    code, _, err = run_cli("generate", gan, "--n", "1", "--size", "16", "--label", "a",
                           "--set", "T=2.2", "--out", tmp_path / "g")
    assert code == 0 and "T=2.2 is outside the training range [1, 2]" in err, err
    assert (tmp_path / "g" / "gen_00000.tif").is_file()


def test_a_grid_among_the_generated_images_is_refused(gan: Path, run_cli, tmp_path: Path) -> None:
    # --grid OUT/grid.png was written beside the images, and `shapekit score REAL OUT` then
    # scored the grid as one more generated micrograph ("gen: 5 images" for --n 4)
    out = tmp_path / "gen"
    code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out,
                           "--grid", out / "grid.png")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (f"{out / 'grid.png'} would lie among the images in --out, where `shapekit score` "
            f"would read it as one more micrograph; write it elsewhere (e.g. "
            f"{out / 'preview' / 'grid.png'})") in err
    assert not out.exists()
    code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out,
                           "--grid", out / "preview" / "grid.png")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "preview"]


def test_the_seed_fixes_the_images_for_one_n_and_size_as_the_help_says(gan: Path, run_cli) -> None:
    # the help said only "deterministic per seed", and users read image i of seed s as fixed
    from shapekit.generate import load_generator

    code, out, _ = run_cli("generate", "--help")
    assert "The same --seed, --n and --size give the same images; another --n or --size draws " \
           "other ones (also for the first)." in " ".join(out.split())
    g = load_generator(gan, device="cpu")
    two = g.sample(2, label="a", seed=3, size=16, raw=True)
    assert np.array_equal(two, g.sample(2, label="a", seed=3, size=16, raw=True))
    assert not np.array_equal(two[0], g.sample(3, label="a", seed=3, size=16, raw=True)[0])
