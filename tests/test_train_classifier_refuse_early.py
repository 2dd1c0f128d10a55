"""``shapekit train-classifier`` and ``featurize`` refuse a tile size and option combinations
they cannot use before reading any image.

``train-classifier --model cnn --tile-size 3`` crashed after reading and tiling the scans
(exit 1, "internal error: ... OpenCV ... inv_scale_x > 0"); ``--tile-size 3`` for TopTemp
failed after 6 s with "image 0: tile of 3x3 px is too small for scale 2"; ``--epochs 5`` with
an svm model, or ``--preset``/``--augment`` with ``--model cnn``, were silently ignored by a
training of minutes.
"""

from __future__ import annotations

from cli_helpers import assert_refused as _refused, forbid
import pytest

import shapekit.temper.scans
import shapekit.temper.train


@pytest.fixture()
def no_training(monkeypatch):
    forbid(monkeypatch, "the images were read",
           (shapekit.temper.train, "train_model"), (shapekit.temper.scans, "read_manifest_images"))



@pytest.mark.parametrize("args, message", [
    (["--model", "cnn", "--tile-size", "3"], "--tile-size 3 is too small: a tile must keep 2x2 "
     "pixels at the CNN's input downsampling; give --tile-size 8 or more"),
    (["--model", "cnn", "--tile-size", "0"], "--model cnn needs a tile size"),
    (["--tile-size", "3"], "--tile-size 3 is too small: a tile must keep 2x2 pixels at its "
     "coarsest scale (the preset: 4); give --tile-size 8 or more"),
    (["--tile-size", "9", "--scales", "1,5"], "(--scales: 5); give --tile-size 10 or more"),
    (["--epochs", "5"], "--epochs applies to --model cnn, not --model svm"),
    (["--model", "xgboost", "--epochs", "5"], "--epochs applies to --model cnn, not --model xgboost"),
    (["--model", "cnn", "--preset", "accurate"],
     "--preset applies to the TopTemp models (svm, logreg, xgboost), not --model cnn"),
    (["--model", "cnn", "--augment", "0"], "--augment applies to the TopTemp models"),
    (["--model", "cnn", "--aggregation", "features"], "--aggregation applies to the TopTemp models"),
    (["--model", "cnn", "--scales", "1,2"], "--scales applies to the TopTemp models"),
])
def test_train_classifier_refuses_before_reading(run_cli, no_training, manifests_dir, tmp_path,
                                                 args, message):
    _refused(run_cli("train-classifier", manifests_dir / "uhcs3.yaml", "--out", tmp_path / "m",
                     *args), message)
    assert not (tmp_path / "m").exists()


def test_featurize_refuses_a_tile_too_small_before_reading(run_cli, no_training, manifests_dir,
                                                           tmp_path):
    _refused(run_cli("featurize", manifests_dir / "uhcs3.yaml", "--out", tmp_path / "f.npz",
                     "--tile-size", "5"), "--tile-size 5 is too small")
    _refused(run_cli("featurize", manifests_dir / "uhcs3.yaml", "--out", tmp_path / "f.npz",
                     "--tile-size", "3", "--scales", "1,2"), "(--scales: 2); give --tile-size 4")
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.parametrize("model, hint", [("cnn", "at most 40 for these scans)"),
                                         ("logreg", "at most 40 for these scans; 0: each scan is "
                                                    "one tile)")])
def test_a_tile_larger_than_the_scans_names_what_fits(run_cli, tmp_path, model, hint):
    # the CNN's message offered "0: each scan is one tile", which the CNN refuses
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["file,label"]
    for i, lab in enumerate("aabb"):
        cv2.imwrite(str(tmp_path / f"x{i}.png"), (rng.random((40, 48)) * 255).astype(np.uint8))
        rows.append(f"x{i}.png,{lab}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.yaml").write_text("name: m\nroot: .\ntable: labels.csv\nimages_dir: .\n"
                                     "image: file\nlabel: label\n")
    code, out, err = run_cli("train-classifier", tmp_path / "m.yaml", "--out", tmp_path / "model",
                             "--model", model, "--tile-size", "64")
    assert code == 2 and out == "", err
    assert err.strip().endswith(f"train with a smaller tile size (--tile-size, {hint}"), err
