"""``shapekit calibrate-imaging`` with a manifest of fewer than 2 training images of every class
(not the model's training data): it wrote an empty imaging stage over the model's own; now it
refuses, before generating anything, and leaves ``generator.json`` as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_nothing_fitted_is_refused_and_nothing_written(run_cli, tmp_path: Path) -> None:
    from shapekit.registry import pretrained_root

    code, _, err = run_cli("synth", "--n", "3", "--size", "64", "--out", tmp_path / "syn")
    assert code == 0, err
    model = tmp_path / "model"   # a copy of a shipped model, as the CLI asks
    shutil.copytree(pretrained_root() / "sim-parameters", model)
    before = (model / "generator.json").read_bytes()
    manifest = tmp_path / "syn" / "manifest.yaml"
    code, _, err = run_cli("calibrate-imaging", model, manifest, "--size", "32")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"shapekit: error: no class could be fitted on {manifest} (training images: "
            "over_aged 1, peak_aged 1, under_aged 1): a class needs 2 (is it the model's "
            "training manifest?); nothing was written") in err, err
    assert (model / "generator.json").read_bytes() == before
