"""``shapekit analyze`` commands check how many inputs they got before loading any model.

``analyze invariance MODEL one_image`` loaded the model (a TopTemp model: seconds of features)
and started the first group before saying "need at least 2 inputs"; ``analyze stitch`` of one
image crashed with an internal error (a singular least-squares solve on no training tiles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapekit.analysis import sources


@pytest.fixture()
def no_model_loading(monkeypatch):
    """Make any model loading fail loudly: the checks must come first."""
    def boom(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(sources, "load_torch_model", boom)
    import shapekit.temper

    monkeypatch.setattr(shapekit.temper, "load_model", boom)


@pytest.fixture(scope="module")
def one_image(tmp_path_factory) -> Path:
    import cv2

    d = tmp_path_factory.mktemp("one")
    cv2.imwrite(str(d / "x.png"), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    (d / "labels.csv").write_text("file,label\nx.png,network\n")
    (d / "one.yaml").write_text("name: one\nroot: .\ntable: labels.csv\nimages_dir: .\nimage: file\n"
                                "label: label\n")
    return d


PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


def test_invariance_of_one_image_fails_before_loading(run_cli, one_image, no_model_loading):
    code, out, err = run_cli("analyze", "invariance", PRETRAINED / "uhcs3", one_image / "x.png")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["shapekit: error: invariance needs at least 2 images (scores "
                                        "are normalised by the distance between different images), got 1"]
    code, _, err = run_cli("analyze", "invariance", PRETRAINED / "uhcs3", one_image, one_image,
                           "--max-images", "1")
    assert code == 2 and err.strip().endswith("got 1 (--max-images 1)")


def test_cka_and_stitch_with_too_few_inputs_fail_before_loading(run_cli, one_image, no_model_loading):
    m = PRETRAINED / "uhcs3"  # not a CNN: loading it would fail differently (and later)
    code, _, err = run_cli("analyze", "cka", m, m, one_image / "one.yaml", "--max-images", "1",
                           "--tiles-per-image", "3")
    assert code == 2 and "CKA needs at least 4 tiles; --max-images 1 x --tiles-per-image 3 give 3" in err
    code, _, err = run_cli("analyze", "stitch", m, m, one_image / "one.yaml", "--max-images", "1")
    assert code == 2 and "'--max-images': stitching needs at least 2 images" in err


def test_stitch_of_a_one_image_manifest_is_a_usage_error(run_cli, one_image, tmp_path):
    import torch

    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(0)
    net = SmallResNet(n_classes=2, width=4).eval()
    cfg = {"kind": "cnn", "label_names": ["network", "pearlite"], "tile_size": 32, "target_um_per_px": None,
           "aggregation": "proba", "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    m = write_model_dir(tmp_path / "m", cfg, {"cnn.safetensors": {k: v.numpy() for k, v in
                                                                  net.state_dict().items()}})
    code, out, err = run_cli("analyze", "stitch", m, m, one_image / "one.yaml")
    assert code == 2 and out == "", err  # was exit 1, "internal error: _LinAlgError ... singular"
    assert "gives tiles of 1 image; stitching needs at least 2" in err
