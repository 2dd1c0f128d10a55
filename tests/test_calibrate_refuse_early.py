"""``shapekit calibrate-imaging`` / ``calibrate-conditions`` refuse a manifest that is not the
model's training data, a ``--label`` the model lacks and a class-mode model before the model
loads and the images are read (5-9 s before: Lightning's import, the weights, every image)."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import assert_refused as _refused, forbid
import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402
from test_generate import make_tiny_dataset  # noqa: E402


@pytest.fixture()
def no_loading(monkeypatch):
    from shapekit.generate import trainsplit

    forbid(monkeypatch, "the model and the images were loaded", (trainsplit, "training_split"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("calib")
    manifest = make_tiny_dataset(d / "data", n=4)          # labels a, b; parameters T
    from shapekit.io import write_manifest

    write_manifest(d / "data" / "noparams.yaml", {"name": "tiny", "root": ".", "table": "labels.csv",
                                                  "image": "file", "label": "temper"})
    return {"manifest": manifest, "noparams": d / "data" / "noparams.yaml",
            "params": tiny_export(d / "params", temperature=True), "class": tiny_export(d / "class")}



@pytest.mark.parametrize("cmd", ["calibrate-imaging", "calibrate-conditions"])
def test_a_manifest_without_the_models_conditions_is_refused_before_loading(run_cli, runs, cmd,
                                                                            no_loading):
    _refused(run_cli(cmd, runs["params"], runs["noparams"]),
             f"{runs['noparams']} is not this model's training data: labels a, b and conditions "
             "none, the model's a, b and T")
    # the model's own training data passes the check (and goes on to load)
    code, _, err = run_cli(cmd, runs["params"], runs["manifest"])
    assert code == 1 and "the model and the images were loaded" in err, err


def test_calibrate_conditions_refuses_an_unknown_label_and_a_class_model(run_cli, runs, no_loading):
    _refused(run_cli("calibrate-conditions", runs["params"], runs["manifest"], "--label", "c"),
             "--label c: not a class of this model (a, b)")
    _refused(run_cli("calibrate-conditions", runs["class"], runs["manifest"]),
             f"{runs['class']} is a class-mode generator: it has no conditions to map")
