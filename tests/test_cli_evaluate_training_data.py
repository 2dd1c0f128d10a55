"""`evaluate` and `robustness` on the manifest a model was trained on say that their figures are
training-set figures: the README's quickstart ran `shapekit evaluate models/uhcs3
data_manifests/uhcs3.yaml` right after training on it and read accuracy 1.0 (cross-validated:
0.942) with no word that these were its training scans. The scans are recognised by the digests of
their pixels stored at training, so a copy under another manifest or other file names is caught
too; models saved before the digests fall back to the manifest's path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from toy import write_toy_manifest

WARNING = "is the manifest this model was trained on"      # models saved without digests
SEEN = "are scans this model was trained on (identical pixels)"


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


def test_training_scans_are_counted_with_the_cv_accuracy(run_cli, toy_and_model):
    manifest, model = toy_and_model
    cfg = json.loads((model / "config.json").read_text())
    assert len(cfg["training_fingerprints"]) == cfg["n_train"] == 12   # 4 scans x 3 classes
    cv = next(r["accuracy"] for r in cfg["cv"]["table"] if r["aggregation"] == cfg["aggregation"])
    code, out, err = run_cli("evaluate", model, manifest, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["accuracy"] == 1.0 and res["training_scans"] == 12
    assert f"12 of 12 scans of {manifest} {SEEN}" in err
    assert f"cross-validated accuracy: {cv:.3f}" in err
    assert err.count("\n") == 1     # one line
    code, out, err = run_cli("robustness", model, manifest, "--perturbation", "rot90", "--json")
    assert code == 0 and SEEN in err, err
    assert json.loads(out)["training_scans"] == 12


def _copy_with_new_names(manifest: Path, dest: Path, keep: int) -> Path:
    """The toy data set under another folder and manifest file, every image renamed; the first
    ``keep`` keep their pixels, the others' change by one grey level."""
    import cv2
    import numpy as np
    import pandas as pd

    shutil.copytree(manifest.parent, dest)
    table = pd.read_csv(dest / "labels.csv")
    for i, name in enumerate(list(table["file"])):
        a = cv2.imread(str(dest / "images" / name), cv2.IMREAD_UNCHANGED)
        if i >= keep:
            a = np.where(a < 255, a + 1, a - 1).astype(a.dtype)
        cv2.imwrite(str(dest / "images" / f"renamed_{i}.png"), a)
        (dest / "images" / name).unlink()
        table.loc[i, "file"] = f"renamed_{i}.png"
    table.to_csv(dest / "labels.csv", index=False)
    renamed = dest / "renamed.yaml"
    (dest / manifest.name).rename(renamed)
    return renamed


def test_training_scans_under_other_names_are_found(run_cli, toy_and_model, tmp_path):
    manifest, model = toy_and_model
    other = _copy_with_new_names(manifest, tmp_path / "data", keep=3)
    code, out, err = run_cli("evaluate", model, other, "--json")
    assert code == 0, err
    assert json.loads(out)["training_scans"] == 3
    assert f"3 of 12 scans of {other} {SEEN}" in err
    none = _copy_with_new_names(manifest, tmp_path / "none", keep=0)
    code, out, err = run_cli("evaluate", model, none, "--json")
    assert code == 0 and json.loads(out)["training_scans"] == 0
    assert SEEN not in err and WARNING not in err, err


def test_models_without_digests_fall_back_to_the_manifest_path(run_cli, toy_and_model, tmp_path,
                                                               monkeypatch):
    manifest, model = toy_and_model
    old = tmp_path / "old"
    shutil.copytree(model, old)
    cfg = json.loads((old / "config.json").read_text())
    del cfg["training_fingerprints"]
    (old / "config.json").write_text(json.dumps(cfg))
    code, out, err = run_cli("evaluate", old, manifest, "--json")
    assert code == 0 and WARNING in err and json.loads(out)["training_scans"] is None, err
    # the same images under another manifest file: not recognised without digests
    other = tmp_path / "data"
    shutil.copytree(manifest.parent, other)
    code, out, err = run_cli("evaluate", old, other / manifest.name, "--json")
    assert code == 0 and WARNING not in err, err
    # a source stored relative to the folder training ran in matches that trailing part of the
    # manifest's path, from anywhere
    rel = tmp_path / "rel"
    shutil.copytree(old, rel)
    (rel / "config.json").write_text(json.dumps({**cfg, "source": f"data/{manifest.name}"}))
    monkeypatch.chdir(tmp_path.parent)
    code, out, err = run_cli("evaluate", rel, other / manifest.name, "--json")
    assert code == 0 and WARNING in err, err
    code, out, err = run_cli("evaluate", rel, manifest, "--json")
    assert code == 0 and WARNING not in err, err
