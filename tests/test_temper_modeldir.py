"""Model directories: round trip, format-1 directories, version check, corrupt files, bad images,
CNN extractor, real raw TIFF."""

from __future__ import annotations

import json
import shutil

from pathlib import Path

import numpy as np
import pytest
from toy import toy_dataset

from shapekit.errors import InputError, ModelFormatError
from shapekit.temper.model import VERDICT_KEYS
from shapekit.temper.modeldir import load_model
from shapekit.temper.train import train_on_images

LEGACY = Path(__file__).parent / "data" / "legacy_models"


@pytest.fixture(scope="module")
def toy():
    return toy_dataset(5, 96, seed=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, toy):
    images, labels = toy
    d = tmp_path_factory.mktemp("m") / "model"
    train_on_images(images, labels, model="svm", tile_size=48, feature_params={"scales": [1, 2]},
                    cv_folds=3, augment=0).save(d)
    return d


def test_round_trip_and_accuracy(model_dir, toy):
    images, labels = toy
    m = load_model(model_dir)
    assert m.label_names == ["lamellae", "network", "spheroids"]
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["shapekit_version"] and cfg["tile_size"] == 48 and cfg["feature_params"]["scales"] == [1, 2]
    assert cfg["format_version"] == 2 and cfg["classifier"]["classes"] == m.label_names
    assert cfg["aggregation"] in ("features", "proba") and len(cfg["cv"]["table"]) == 2
    assert cfg["cv"]["splitter"] == "StratifiedKFold" and cfg["cv"]["folds"] == 3
    assert sorted(p.name for p in model_dir.iterdir()) == ["classifier.safetensors", "config.json",
                                                          "outside.safetensors"]
    assert cfg["outside"]["kind"] == "outside_check" and cfg["outside"]["descriptors"] == "grey_levels+mid_octaves"
    fresh, flabels = toy_dataset(3, 96, seed=7)
    res = m.classify(fresh)
    assert [r["temper"] for r in res] == flabels   # unseen toy images: all right
    for r in res:
        assert set(r) == set(VERDICT_KEYS) and r["tiles"] == 4
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-5
        assert r["in_distribution"] is True and 0 <= r["ood_score"] <= 1   # toy scans like training
        assert r["temper"] in r["prediction_set"]
    assert np.allclose(load_model(model_dir).predict_proba(fresh), m.predict_proba(fresh))


def test_xgboost_model_dir(tmp_path, toy):
    images, labels = toy
    m = train_on_images(images, labels, model="xgboost", tile_size=96,
                        feature_params={"scales": [2]}, aggregation="features", cv_folds=2,
                        augment=0)
    m.save(tmp_path / "x")
    assert (tmp_path / "x" / "xgboost.json").is_file()
    json.loads((tmp_path / "x" / "xgboost.json").read_text())
    assert np.allclose(load_model(tmp_path / "x").predict_proba(images[:3]), m.predict_proba(images[:3]))
    (tmp_path / "x" / "xgboost.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="xgboost"):
        load_model(tmp_path / "x")


def test_a_model_saved_over_another_leaves_none_of_its_weights(model_dir, tmp_path, toy):
    """An SVM saved into the folder of an XGBoost model: the xgboost.json goes, a file of the
    user's stays, and the folder loads as the SVM (session 24: the old weights stayed beside)."""
    import shutil

    images, _ = toy
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    (d / "xgboost.json").write_text("{}")
    (d / "notes.txt").write_text("mine")
    svm = load_model(model_dir)
    svm.save(d)
    assert sorted(f.name for f in d.iterdir()) == sorted(
        [f.name for f in model_dir.iterdir()] + ["notes.txt"])
    assert np.allclose(load_model(d).predict_proba(images[:2]), svm.predict_proba(images[:2]))


@pytest.mark.parametrize("name", ["svm_robust", "logreg_accurate_features", "xgboost_betti"])
def test_format_1_directories_predict_as_before(name, tmp_path):
    """Directories written before the pipeline refactor (tests/data/legacy_models/README.md)."""
    images = np.load(LEGACY / "inputs.npz")["images"].astype(np.float32) / 255
    expected = np.array(json.loads((LEGACY / "expected.json").read_text())[name])
    m = load_model(LEGACY / name)
    assert json.loads((LEGACY / name / "config.json").read_text())["format_version"] == 1
    np.testing.assert_allclose(m.predict_proba(list(images)), expected, rtol=0, atol=1e-10)
    assert m.predict(list(images[:2])).tolist() == [m.label_names[k] for k in expected[:2].argmax(1)]
    assert len(m.column_blocks()) == len(m.importance)
    if name != "xgboost_betti":      # Betti columns of format 1 are ordered per block: no re-save
        m2 = load_model(m.save(tmp_path / "v2"))
        np.testing.assert_allclose(m2.predict_proba(list(images)), expected, rtol=0, atol=1e-10)


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_refuses_other_version(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["shapekit_version"] = "9.3.0"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="shapekit 9.3.0.*retrain"):
        load_model(d)


@pytest.mark.parametrize("damage", ["no_dir", "no_config", "bad_json", "other_format",
                                    "no_weights", "bad_weights", "missing_key", "no_outside",
                                    "bad_outside", "outside_blocks", "outside_classes"])
def test_refuses_missing_or_corrupt(model_dir, tmp_path, damage):
    d = _copy(model_dir, tmp_path)
    if damage == "no_dir":
        d = tmp_path / "nothing"
    elif damage == "no_config":
        (d / "config.json").unlink()
    elif damage == "bad_json":
        (d / "config.json").write_text('{"format": ')
    elif damage == "other_format":
        (d / "config.json").write_text('{"format": "something-else"}')
    elif damage == "no_weights":
        (d / "classifier.safetensors").unlink()
    elif damage == "bad_weights":
        (d / "classifier.safetensors").write_bytes(b"\x00garbage" * 10)
    elif damage == "no_outside":
        (d / "outside.safetensors").unlink()
    elif damage == "bad_outside":
        (d / "outside.safetensors").write_bytes(b"\x00garbage" * 10)
    else:
        cfg = json.loads((d / "config.json").read_text())
        if damage == "missing_key":
            del cfg["label_names"]
        elif damage == "outside_blocks":
            cfg["outside"]["scorer"]["blocks"] = [cfg["outside"]["scorer"]["n_features"]]
        else:
            cfg["outside"]["conformal"]["n_classes"] = 2
        (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError):
        load_model(d)


def test_bad_images(model_dir):
    m = load_model(model_dir)
    with pytest.raises(InputError, match="smaller than one 48x48 tile"):
        m.classify([np.zeros((30, 100), np.float32)])
    nan = np.full((96, 96), 0.5, np.float32)
    nan[10, 10] = np.nan
    with pytest.raises(InputError, match="NaN"):
        m.classify([nan])
    with pytest.raises(InputError, match="2-D"):
        m.classify([np.zeros((4, 96, 96))])
    # a constant image has no finite pairs, yet its features are defined: it is outside the
    # training data (probabilities still say which temper it resembles most)
    r = m.classify(np.full((96, 96), 0.3, np.float32))[0]
    assert r["temper"] == "unknown" and r["in_distribution"] is False and r["prediction_set"] == []
    assert np.isfinite(list(r["probabilities"].values())).all() and r["ood_score"] > 1
    with pytest.raises(InputError, match="CNN"):
        m.feature_extractor()


def test_cnn_model_dir_and_feature_extractor(tmp_path, toy):
    import torch

    images, labels = toy
    m = train_on_images(images, labels, model="cnn", tile_size=48,
                        cnn_options={"epochs": 2, "width": 4, "input_scale": 2})
    m.save(tmp_path / "c")
    assert (tmp_path / "c" / "cnn.safetensors").is_file()
    m2 = load_model(tmp_path / "c")
    assert np.allclose(m2.predict_proba(images[:4]), m.predict_proba(images[:4]), atol=1e-6)
    fx = m2.feature_extractor()
    assert isinstance(fx, torch.nn.Module)
    assert fx(torch.rand(3, 1, 24, 24)).shape == (3, 16)
    r = m2.classify([images[0]])[0]
    assert r["tiles"] == 4 and r["temper"] in m2.label_names
    # shape mismatch between config and weights is a format error
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["cnn"]["arch"]["width"] = 8
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="does not match"):
        load_model(tmp_path / "c")


def test_training_with_degraded_copies(tmp_path, toy):
    images, labels = toy
    m = train_on_images(images, labels, model="logreg", tile_size=96,
                        feature_params={"scales": [2, 4], "restandardize": True},
                        aggregation="features", cv_folds=2, augment=1,
                        augment_options={"max_blur": 1.0})
    assert m.config["augment"] == 1 and m.config["augment_options"]["max_blur"] == 1.0
    assert m.config["feature_params"]["restandardize"] is True
    assert [r["temper"] for r in m.classify(images[:3])] == labels[:3]


def test_training_input_errors(tmp_path, toy):
    images, labels = toy
    with pytest.raises(InputError, match="2 classes"):
        train_on_images(images[:3], ["a"] * 3)
    with pytest.raises(InputError, match="model must be"):
        train_on_images(images, labels, model="forest")


def test_raw_microscope_tiff_is_ingested(model_dir, uhcs_originals_dir):
    """A real TIFF with its info bar: the bar is cropped before tiling (522 - 38 rows)."""
    m = load_model(model_dir)
    path = uhcs_originals_dir / "micrograph1257.tif"
    assert m.load(path)[1].shape == (484, 645)
    r = m.classify(path)[0]
    assert r["image"] == str(path) and r["tiles"] == 11 * 14   # ceil(484/48) * ceil(645/48)
