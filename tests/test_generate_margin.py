"""The generator's margin: latent cells generated beyond a field and cropped away, so that a
field is computed as the interior of a larger one (size independence), stored with the model,
and kept at one cell for models and runs saved before it was a setting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.generate.nets import (MARGIN_CELLS, Generator, cells_for,  # noqa: E402
                                    generate_field, reach_cells)

NET = dict(z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8, 4])  # period 8, base_convs 2


def _crop_vs_field(margin: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 32x40 field and the same pixels cut from a 96x96 field whose latent map contains the
    small field's map (both generated with ``margin``)."""
    torch.manual_seed(0)
    g = Generator(2, 1, margin=margin, **NET).eval()
    p = g.period
    zl, zg = g.latents(2, cells_for((96, 96), p, margin), torch.Generator().manual_seed(1))
    lab, cond = torch.tensor([0, 1]), torch.tensor([[0.5], [-1.0]])
    a, b = 3, 5  # the small field starts 3 cells down and 5 cells right in the big field
    h, w = 32, 40
    small_map = zl[:, :, a:a + h // p + 2 * margin, b:b + w // p + 2 * margin]
    assert small_map.shape[-2:] == cells_for((h, w), p, margin)
    with torch.no_grad():
        big = generate_field(g, zl, zg, lab, cond, (96, 96))
        small = generate_field(g, small_map, zg, lab, cond, (h, w))
    return small, big[:, :, a * p:a * p + h, b * p:b * p + w]


def test_a_margin_over_the_reach_makes_a_field_the_interior_of_any_larger_one() -> None:
    assert reach_cells(2, 3) == 6
    small, cut = _crop_vs_field(6)  # both cut their feature maps down stage by stage
    assert small.shape == cut.shape == (2, 1, 32, 40)
    assert torch.allclose(small, cut, atol=1e-5)
    # 4 cells hold nearly all of a pixel's sensitivity: small differences
    small, cut = _crop_vs_field(4)
    diff4 = float((small - cut).abs().max())
    # the first models' one cell: the field's edge pixels see replicated edge cells
    small, cut = _crop_vs_field(1)
    diff1 = float((small - cut).abs().max())
    assert diff1 > 1e-3 and 1e-5 < diff4 < diff1 / 5


def test_cutting_the_feature_maps_stage_by_stage_changes_no_pixel() -> None:
    """With a margin over the reach, the field computed on cut-down feature maps equals the same
    cells of the whole map computed in full; a field closer to the edge is refused."""
    torch.manual_seed(0)
    for base_convs, chans in ((2, [16, 8, 8, 4]), (1, [8, 4]), (3, [8, 8, 8, 8, 4])):
        g = Generator(1, 0, z_local=2, z_global=4, w_dim=8, channels=chans,
                      base_convs=base_convs, margin=None).eval()
        r, p = g.reach, g.period
        zl, zg = g.latents(1, (5 + 2 * r + 3, 4 + 2 * r + 2))
        lab = torch.tensor([0])
        with torch.no_grad():
            full = g(zl, zg, lab)
            part = g(zl, zg, lab, field=(r + 1, r, 5, 4))
        assert part.shape == (1, 1, 5 * p, 4 * p)
        assert torch.allclose(part, full[:, :, (r + 1) * p:(r + 6) * p, r * p:(r + 4) * p],
                              atol=1e-5)
        with pytest.raises(ValueError, match=f"closer than {r} cells"):
            g(zl, zg, lab, field=(r - 1, r, 5, 4))


def test_margin_is_part_of_the_network_config_and_checked() -> None:
    assert Generator(1, **NET).margin == MARGIN_CELLS == 1   # what configs without one mean
    g = Generator(1, margin=None, **NET)
    assert g.margin == g.reach == 6
    assert Generator(**g.config()).margin == 6
    assert cells_for((64, 40), 8, 4) == (16, 13)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        Generator(1, margin=-1, **NET)


def test_new_runs_record_the_margin_old_runs_keep_one_and_resume_can_change_it(
        tmp_path: Path) -> None:
    from shapekit.generate.export import load_generator
    from shapekit.generate.train import train_gan

    from test_generate import TINY, make_tiny_dataset

    torch.set_num_threads(1)
    manifest = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    train_gan(manifest, run, condition="parameters", crop_size=32, max_steps=2, batch_size=4,
              seed=0, sample_every=0, n_up=2, d_blocks=2, **TINY)
    # a new run: the reach of its network (n_up=2: 6 cells), in the run config and the export
    assert json.loads((run / "config.json").read_text())["model"]["margin_cells"] == 6
    assert json.loads((run / "generator.json").read_text())["net"]["margin"] == 6
    gen = load_generator(run, device="cpu")
    assert gen.generator.margin == gen.generator.reach == 6
    assert load_generator(run, device="cpu", checkpoint="last").generator.margin == 6
    kw = dict(n=2, label="a", conditions={"T": 150.0}, seed=3, size=40)
    new = gen.sample(**kw)

    # an export written before the margin was stored samples as it was trained: one cell
    old = tmp_path / "old"
    shutil.copytree(run, old)
    cfg = json.loads((old / "generator.json").read_text())
    del cfg["net"]["margin"]
    (old / "generator.json").write_text(json.dumps(cfg))
    legacy = load_generator(old, device="cpu")
    assert legacy.generator.margin == 1
    assert legacy.sample(**kw).shape == new.shape and not np.array_equal(legacy.sample(**kw), new)

    # a run saved before it was a setting resumes with one cell, unless told otherwise
    run_cfg = json.loads((old / "config.json").read_text())
    del run_cfg["model"]["margin_cells"]
    (old / "config.json").write_text(json.dumps(run_cfg))
    train_gan(None, old, resume=True, max_steps=3, sample_every=0)
    assert json.loads((old / "config.json").read_text())["model"]["margin_cells"] == 1
    assert json.loads((old / "generator.json").read_text())["net"]["margin"] == 1
    shutil.copy(old / "checkpoints" / "last.ckpt", tmp_path / "before.ckpt")
    train_gan(None, old, resume=True, max_steps=4, sample_every=0, margin_cells=3)
    assert json.loads((old / "config.json").read_text())["model"]["margin_cells"] == 3
    assert load_generator(old, device="cpu").generator.margin == 3
    # a checkpoint samples with the margin it was trained with, whatever the export says
    assert load_generator(old, device="cpu", checkpoint="last").generator.margin == 3
    assert load_generator(old, device="cpu",
                          checkpoint=tmp_path / "before.ckpt").generator.margin == 1
    assert load_generator(run, device="cpu", checkpoint="last").generator.margin == 6
