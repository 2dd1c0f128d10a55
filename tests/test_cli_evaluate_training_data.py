"""`evaluate` and `robustness` on the manifest a model was trained on say that their figures are
training-set figures: the README's quickstart ran `shapekit evaluate models/uhcs3
data_manifests/uhcs3.yaml` right after training on it and read accuracy 1.0 (cross-validated:
0.942) with no word that these were its training scans."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toy import write_toy_manifest

WARNING = "is the manifest this model was trained on"


@pytest.fixture(scope="module")
def toy_and_model(tmp_path_factory):
    from shapekit.cli import main

    manifest = write_toy_manifest(str(tmp_path_factory.mktemp("toy")), 4, 96, seed=2)
    out = tmp_path_factory.mktemp("model") / "m"
    with pytest.raises(SystemExit) as e:
        main(["train-classifier", manifest, "--out", str(out), "--model", "logreg",
              "--tile-size", "48", "--scales", "1,2", "--seed", "1", "--augment", "0"])
    assert e.value.code == 0
    return Path(manifest), out


def test_training_manifest_is_named_with_the_cv_accuracy(run_cli, toy_and_model):
    manifest, model = toy_and_model
    cfg = json.loads((model / "config.json").read_text())
    cv = next(r["accuracy"] for r in cfg["cv"]["table"] if r["aggregation"] == cfg["aggregation"])
    code, out, err = run_cli("evaluate", model, manifest, "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0
    assert WARNING in err and f"cross-validated accuracy: {cv:.3f}" in err
    assert err.count("\n") == 1     # one line
    code, out, err = run_cli("robustness", model, manifest, "--perturbation", "rot90", "--json")
    assert code == 0 and WARNING in err, err


def test_other_manifests_and_relative_sources(run_cli, toy_and_model, tmp_path, monkeypatch):
    manifest, model = toy_and_model
    # the same images under another manifest file: not the one trained on, no warning
    other = tmp_path / "data"
    shutil.copytree(manifest.parent, other)
    code, out, err = run_cli("evaluate", model, other / manifest.name, "--json")
    assert code == 0 and WARNING not in err, err
    # a source stored relative to the folder training ran in (the shipped uhcs3 stores
    # data_manifests/uhcs3.yaml) matches that trailing part of the manifest's path, from anywhere
    rel = tmp_path / "rel"
    shutil.copytree(model, rel)
    cfg = json.loads((rel / "config.json").read_text())
    (rel / "config.json").write_text(json.dumps({**cfg, "source": f"data/{manifest.name}"}))
    monkeypatch.chdir(tmp_path.parent)
    code, out, err = run_cli("evaluate", rel, other / manifest.name, "--json")
    assert code == 0 and WARNING in err, err
    code, out, err = run_cli("evaluate", rel, manifest, "--json")
    assert code == 0 and WARNING not in err, err
