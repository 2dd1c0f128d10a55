"""``shapekit generate``'s closing line and its ``--checkpoint`` refusals: PNGs carry no pixel size
(the line said "at 0.002 um/px"), one image is "1 image", and a shipped model has no checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_png_output_says_where_the_scale_is_and_counts_in_the_singular(run_cli, tmp_path: Path,
                                                                       one_torch_thread) -> None:
    from shapekit.io import read_image

    out = tmp_path / "png"
    code, _, err = run_cli("generate", "sim-parameters", "--n", "1", "--size", "32", "--format",
                           "png", "--out", out)
    assert code == 0, err
    assert (f"wrote 1 image of 32x32 px and conditions.csv to {out}; PNGs carry no pixel size: "
            "the model's 0.002 um/px is recorded in conditions.csv only (give `shapekit score` "
            "--fake-um-per-px 0.002)") in err, err
    assert read_image(out / "gen_00000.png")[1].um_per_px is None   # indeed none in the file
    assert "0.002" in (out / "conditions.csv").read_text().splitlines()[1]
    # a TIFF carries it, as the line says
    out = tmp_path / "tif"
    code, _, err = run_cli("generate", "sim-parameters", "--n", "2", "--size", "32", "--out", out)
    assert code == 0 and f"wrote 2 images of 32x32 px at 0.002 um/px and conditions.csv to {out}" \
        in err, err
    assert read_image(out / "gen_00000.tif")[1].um_per_px == pytest.approx(0.002)


def test_checkpoint_of_a_model_without_checkpoints_says_why(run_cli, tmp_path: Path) -> None:
    # it said "checkpoint last not found in .../pretrained/sim-parameters/checkpoints;
    # available: none"
    code, _, err = run_cli("generate", "sim-parameters", "--n", "1", "--checkpoint", "last",
                           "--out", tmp_path / "g")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert ("shapekit: error: --checkpoint last: sim-parameters is a shipped model, which carries "
            "no training checkpoints (only its final generator); --checkpoint samples a run "
            "directory of `shapekit train-gan`, or leave it out") in err
    from shapekit.registry import pretrained_root

    exported = tmp_path / "exported"   # an exported generator without its run
    exported.mkdir()
    for f in ("generator.json", "generator.safetensors"):
        shutil.copy(pretrained_root() / "sim-parameters" / f, exported / f)
    code, _, err = run_cli("generate", exported, "--n", "1", "--checkpoint", "iter-0000100",
                           "--out", tmp_path / "g")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"--checkpoint iter-0000100: {exported} holds no training checkpoints (no "
            "checkpoints/ folder: not a run directory of `shapekit train-gan`)") in err
    assert not (tmp_path / "g").exists()
