"""``shapekit calibrate-conditions`` with a manifest of too few training images for every class
(not the model's training data): it wrote an empty condition map over the model's own; now it
refuses and leaves ``generator.json`` as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_nothing_fitted_is_refused_and_nothing_written(run_cli, tmp_path: Path,
                                                       one_torch_thread) -> None:
    from shapekit.registry import pretrained_root

    code, _, err = run_cli("synth", "--n", "6", "--size", "64", "--out", tmp_path / "syn")
    assert code == 0, err
    model = tmp_path / "model"   # a copy of a shipped model, as the CLI asks
    shutil.copytree(pretrained_root() / "sim-parameters", model)
    before = (model / "generator.json").read_bytes()
    manifest = tmp_path / "syn" / "manifest.yaml"
    code, _, err = run_cli("calibrate-conditions", model, manifest, "--size", "32",
                           "--n-images", "1", "--steps", "3")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"shapekit: error: no class could be fitted on {manifest} (too few training images: "
            "over_aged 2, peak_aged 2, under_aged 2): a class needs 10 training images with "
            "particles (is it the model's training manifest?); nothing was written") in err, err
    assert (model / "generator.json").read_bytes() == before
    # one class asked for: only its reason is given
    code, _, err = run_cli("calibrate-conditions", model, manifest, "--size", "32",
                           "--n-images", "1", "--steps", "3", "--label", "peak_aged")
    assert code == 2 and "(too few training images: peak_aged 2)" in err, err
    assert (model / "generator.json").read_bytes() == before
