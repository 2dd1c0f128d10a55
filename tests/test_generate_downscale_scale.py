"""A generator trained with --downscale on images without a pixel size: its images carry no
um/px, only the downscale. `generate` records it and says which score flags compare like with
like; `score` names the flags when it compared the two sets pixel for pixel."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    """A tiny untrained class-mode generator exported as train-gan --downscale 2 does without
    pixel sizes (um_per_px null, downscale 2, like the shipped uhcs3-class)."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    export_generator(Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), tmp_path / "gan",
                     crop_size=16, extra={"downscale": 2.0})
    return tmp_path / "gan"


def test_downscaled_generator_images_say_which_score_flags_to_pass(gan: Path, run_cli,
                                                                   tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "gen"
    code, stdout, err = run_cli("generate", gan, "--n", "4", "--size", "32", "--out", out, "--json")
    assert code == 0, err
    # before: "at the training scale (no um/px known)", and nothing recorded the downscale
    assert ("1/2 of the training images' pixel scale (no um/px known; score them against the "
            "training images with --real-um-per-px 1 --fake-um-per-px 2)") in err, err
    assert json.loads(stdout)["downscale"] == 2.0
    rows = list(csv.DictReader(open(out / "conditions.csv")))
    assert [float(r["downscale"]) for r in rows] == [2.0] * 4 and {r["um_per_px"] for r in rows} == {""}

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(real / f"r{i}.png")
    fast = ["--mode", "structure", "--n-boot", "2", "--n-perm", "2", "--json"]
    code, stdout, err = run_cli("score", real, out, *fast)
    assert code == 0, err
    hint = "score with --real-um-per-px 1 --fake-um-per-px 2"
    assert hint in err and any(hint in w for w in json.loads(stdout)["warnings"]), err
    code, stdout, err = run_cli("score", real, out, *fast, "--real-um-per-px", "1",
                                "--fake-um-per-px", "2")
    assert code == 0, err
    assert hint not in err and json.loads(stdout)["um_per_px"] == 2.0
