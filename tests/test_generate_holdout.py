"""A run's holdout reaches its export, so that calibrate-imaging fits on the training split only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_generate import TINY, make_tiny_dataset  # noqa: E402


def test_calibrate_imaging_leaves_the_held_out_images_out(tmp_path: Path, run_cli,
                                                          one_torch_thread) -> None:
    # the export lacked "holdout", so calibrate-imaging read 0 and fitted on the held-out
    # images too ("8 training images ... (holdout 0, ...)")
    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data", n=8)   # 4 images of each class
    run = tmp_path / "run"
    train_gan(manifest, run, crop_size=32, max_steps=1, batch_size=2, holdout=0.5,
              sample_every=0, n_up=2, d_blocks=2, **TINY)
    assert len(json.loads((run / "config.json").read_text())["held_out"]) == 4
    assert json.loads((run / "generator.json").read_text())["holdout"] == 0.5
    code, out, err = run_cli("calibrate-imaging", run, manifest, "--size", "32", "--json")
    assert code == 0, err
    block = json.loads(out)
    assert block["fitted_on"].startswith("4 training images of m.yaml (holdout 0.5, seed 0)")
    assert [block["labels"][k]["fit"]["n_real"] for k in ("a", "b")] == [2, 2]
    # a run exported without it: its config.json says
    cfg = json.loads((run / "generator.json").read_text())
    del cfg["holdout"], cfg["imaging"]
    (run / "generator.json").write_text(json.dumps(cfg))
    code, out, err = run_cli("calibrate-imaging", run, manifest, "--size", "32", "--json")
    assert code == 0 and json.loads(out)["fitted_on"].startswith("4 training images"), err


def test_calibrate_imaging_names_a_class_too_small_to_fit(tmp_path: Path, run_cli,
                                                          one_torch_thread) -> None:
    # a class with one training image was left out of the stage without a word
    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data", n=3)   # a, b, a
    run = tmp_path / "run"
    train_gan(manifest, run, crop_size=32, max_steps=1, batch_size=2, sample_every=0, n_up=2,
              d_blocks=2, **TINY)
    code, _, err = run_cli("calibrate-imaging", run, manifest, "--size", "32")
    assert code == 0, err
    assert ("b: not fitted (fewer than 2 training images of it): its images stay as the network "
            "makes them") in err
    assert "a: probe blur" in err
