"""A sweep's preview grid is a matplotlib figure of a fixed size a cell (176 px), whatever the
images' size, and it drew every latent: ``--n 10 --sweep T=...:100 --size 8`` (1000 tiny images)
spent 50 s on a 17688x1826 grid, and ``--n 100`` with 1000 values would have asked for a
176088x17666 figure (3.1 G pixels, 12 GB) that the pixel budget never saw, since it counted only
the images. Now the grid shows the first 16 latents (the title says so), and its figure is
checked against the budget before anything is generated: one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    return tiny_export(tmp_path / "gan", temperature=True)


def test_the_preview_grid_shows_the_first_16_latents(gan: Path, tmp_path: Path,
                                                     run_cli) -> None:
    from PIL import Image

    from shapekit.generate.grid import labelled_grid_pixels

    out = tmp_path / "g"
    code, _, err = run_cli("generate", gan, "--n", "20", "--size", "8", "--out", out,
                           "--sweep", "T=100:200:2")
    assert code == 0, err
    assert len(list(out.glob("gen_*.tif"))) == 40  # every image is written
    with Image.open(out / "preview" / "sweep_grid.png") as im:
        assert im.size[::-1] == labelled_grid_pixels(16, 2) == (2882, 440)


def test_a_grid_over_the_budget_is_refused_before_anything_is_made(gan: Path, tmp_path: Path,
                                                                   run_cli) -> None:
    out = tmp_path / "g"
    # 80 images of 16x16 px (20480 px) fit a budget of 10^6; their 2 x 40 grid, 418 x 7128 px
    # (2.98 M), does not
    code, _, err = run_cli("--max-pixels", "1000000", "generate", gan, "--n", "2", "--size", "16",
                           "--out", out, "--sweep", "T=100:200:40")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shapekit: error: the sweep's preview grid of "
                                                   "2 latents x 40 values"), err
    assert "418x7128" in lines[0]
    assert not out.exists()
