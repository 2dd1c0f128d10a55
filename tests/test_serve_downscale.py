"""The server's score of a generator trained with --downscale on images without a pixel size
(like the shipped uhcs3-class): it compares pixel for pixel, and now says so, with the remedy."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")


def _generator(out: Path, **extra) -> Path:
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    export_generator(Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), out, crop_size=8,
                     extra=extra)
    return out


@pytest.mark.parametrize("downscale,warned", [(2.0, True), (1.0, False)])
def test_score_of_a_downscaled_generator_without_pixel_size_warns(tmp_path: Path, downscale: float,
                                                                  warned: bool) -> None:
    from PIL import Image

    from shapekit.generate.export import load_generator
    from shapekit.server import services

    gen = load_generator(_generator(tmp_path / "gen", downscale=downscale), device="cpu")
    store = SimpleNamespace(get=lambda kind, name: gen, default=lambda kind, name: name)
    job = SimpleNamespace(report=lambda *a, **k: None, out_dir=tmp_path / "job", id="j")
    job.out_dir.mkdir()
    rng = np.random.default_rng(0)
    files = []
    for i in range(4):
        p = tmp_path / f"r{i}.png"
        Image.fromarray((rng.random((48, 48)) * 255).astype(np.uint8)).save(p)
        files.append((p, p.name))
    out = services.score_sets(store, job, real={"files": files},
                              fake={"generator": "half", "n": 4, "label": None, "conditions": {}, "seed": 0},
                              n_boot=2, n_perm=2, seed=0, mode="structure")
    hits = [w for w in out["report"]["warnings"] if "half makes images at 1/2 of its training images' "
            "pixel scale" in w and "--real-um-per-px 1 --fake-um-per-px 2" in w]
    assert len(hits) == (1 if warned else 0), out["report"]["warnings"]
