"""classify --out resumes a table whatever the model was called: a shipped model's name or its
directory, a relative model folder from another working directory; a different model is still
refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from toy import toy_dataset

from shapekit.errors import InputError
from shapekit.registry import pretrained_root
from shapekit.temper.batch import ResultTable


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """tmp/a/toy (a tiny model), tmp/a/scan.png, and an empty tmp/b."""
    import cv2

    from shapekit.temper.train import train_on_images

    root = tmp_path_factory.mktemp("ident")
    images, labels = toy_dataset(5, 96, seed=1)
    (root / "a").mkdir()
    (root / "b").mkdir()
    train_on_images(images, labels, model="logreg", tile_size=48, feature_params={"scales": [1, 2]},
                    cv_folds=2, augment=0, aggregation="proba").save(root / "a" / "toy")
    cv2.imwrite(str(root / "a" / "scan.png"), (np.clip(images[0], 0, 1) * 255).astype(np.uint8))
    return root


def test_relative_model_from_another_folder_resumes(work, run_cli, monkeypatch):
    # it said "written by model 'toy', not '../a/toy'" for the very same model
    monkeypatch.chdir(work / "a")
    code, _, err = run_cli("classify", "toy", "scan.png", "--out", "r.csv")
    assert code == 0, err
    monkeypatch.chdir(work / "b")
    code, _, err = run_cli("classify", "../a/toy", "../a/scan.png", "--out", "../a/r.csv")
    assert code == 0 and "written by model" not in err, err
    code, _, err = run_cli("classify", work / "a" / "toy", work / "a" / "scan.png", "--out",
                           work / "a" / "r.csv")
    assert code == 0, err


def test_another_model_is_still_refused(work, run_cli, monkeypatch):
    shutil.copytree(work / "a" / "toy", work / "b" / "other")
    monkeypatch.chdir(work / "a")
    code, _, err = run_cli("classify", "toy", "scan.png", "--out", "s.csv")
    assert code == 0, err
    code, _, err = run_cli("classify", "../b/other", "scan.png", "--out", "s.csv")
    assert code == 2 and "written by model" in err, err


def test_shipped_name_and_its_directory_are_one_model(tmp_path):
    out = tmp_path / "r.csv"
    t = ResultTable(out, ["a"], "uhcs3")
    t.add({"path": "/x.tif", "temper": "a", "p_a": 1.0, "model": "uhcs3"}, [])
    t.flush()
    assert ResultTable(out, ["a"], str(pretrained_root() / "uhcs3")).done == {"/x.tif"}
    with pytest.raises(InputError, match="written by model 'uhcs3'"):
        ResultTable(out, ["a"], str(pretrained_root() / "sim-parameters"))
