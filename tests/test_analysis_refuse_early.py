"""``shapekit analyze`` geometry commands refuse what the model's JSON and the manifest's table
already tell, before any model loads or any image is tiled.

``analyze id CNN MANIFEST --max-images 6 --tiles-per-image 1`` (3 classes: 2 tiles each) loaded
the model and tiled the images before "intrinsic dimension needs at least 3 distinct points";
``id``/``frames`` of a CNN without a MANIFEST, ``frames --kinds latent`` of a CNN and ``cka``
of a TopTemp model loaded the model first too (3-6 s each).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from cli_helpers import assert_refused as _refused, forbid
from shapekit.analysis import sources  # noqa: E402

PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


@pytest.fixture()
def no_model_loading(monkeypatch):
    forbid(monkeypatch, "a model was loaded", (sources, "load_torch_model"))


@pytest.fixture(scope="module")
def cnn_and_manifest(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny 2-class CNN model directory and a manifest of 2 images of each class."""
    import cv2
    import torch

    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    d = tmp_path_factory.mktemp("early")
    rng = np.random.default_rng(0)
    rows = ["file,label"]
    for i, lab in enumerate(["network", "network", "pearlite", "pearlite"]):
        cv2.imwrite(str(d / f"x{i}.png"), (rng.random((64, 64)) * 255).astype(np.uint8))
        rows.append(f"x{i}.png,{lab}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    (d / "m.yaml").write_text("name: m\nroot: .\ntable: labels.csv\nimages_dir: .\nimage: file\n"
                              "label: label\n")
    torch.manual_seed(0)
    net = SmallResNet(n_classes=2, width=4).eval()
    cfg = {"kind": "cnn", "label_names": ["network", "pearlite"], "tile_size": 32,
           "target_um_per_px": None, "aggregation": "proba",
           "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    model = write_model_dir(d / "cnn", cfg, {"cnn.safetensors": {k: v.numpy() for k, v in
                                                                 net.state_dict().items()}})
    return model, d / "m.yaml"



def test_id_with_too_few_tiles_per_class_is_refused_before_loading(run_cli, cnn_and_manifest,
                                                                   no_model_loading):
    model, manifest = cnn_and_manifest
    _refused(run_cli("analyze", "id", model, manifest, "--max-images", "2", "--tiles-per-image", "2"),
             "intrinsic dimension needs at least 3 tiles of each class; --max-images 2 x "
             "--tiles-per-image 2 give at most 2 of network (1 image of it, the images drawn in "
             "turn from 2 classes): raise --max-images or --tiles-per-image")
    _refused(run_cli("analyze", "id", model, manifest, "--max-images", "10", "--tiles-per-image", "1"),
             "give at most 2 of network (2 images of it")
    # enough on paper (one image of each class, 3 tiles each): the check lets it through to loading
    code, _, err = run_cli("analyze", "id", model, manifest, "--max-images", "2",
                           "--tiles-per-image", "3")
    assert code == 1 and "a model was loaded" in err, err


def test_a_cnn_without_a_manifest_is_refused_before_loading(run_cli, cnn_and_manifest,
                                                            no_model_loading):
    model, manifest = cnn_and_manifest
    _refused(run_cli("analyze", "id", model), "a CNN model directory needs a MANIFEST of images")
    _refused(run_cli("analyze", "frames", model), "a CNN model directory needs a MANIFEST of images")
    _refused(run_cli("analyze", "frames", model, manifest, "--kinds", "latent"),
             "latent directions are a generator's")


def test_a_model_without_a_network_is_refused_before_loading(run_cli, cnn_and_manifest,
                                                             no_model_loading):
    model, manifest = cnn_and_manifest
    for cmd in ("cka", "stitch", "symmetry"):
        _refused(run_cli("analyze", cmd, model, PRETRAINED / "uhcs3", manifest),
                 "uhcs3: a toptemp model has no torch network")
        _refused(run_cli("analyze", cmd, model, PRETRAINED / "sim-parameters", manifest),
                 "cka/stitch/symmetry compare two CNN model directories")
    _refused(run_cli("analyze", "id", PRETRAINED / "uhcs3", manifest),
             "uhcs3: a toptemp model has no torch network")


def test_an_unknown_or_absent_device_is_refused_before_loading(run_cli, cnn_and_manifest,
                                                               no_model_loading):
    import torch

    model, manifest = cnn_and_manifest
    _refused(run_cli("analyze", "id", model, manifest, "--device", "foo"),
             "Invalid value for '--device': unknown torch device 'foo'")
    _refused(run_cli("analyze", "frames", PRETRAINED / "sim-parameters", "--device", "foo"),
             "unknown torch device 'foo'")
    if not torch.cuda.is_available():
        _refused(run_cli("analyze", "cka", model, model, manifest, "--device", "cuda"),
                 "device 'cuda' is not available (0 CUDA devices)")


def test_an_unknown_layer_is_refused_before_any_image_is_tiled(run_cli, cnn_and_manifest,
                                                               monkeypatch):
    # cka/stitch/symmetry tiled the manifest's images (both models' tiles) before the layer
    # names were checked; id and frames checked them right after the model loaded
    forbid(monkeypatch, "the images were tiled", (sources, "manifest_tiles"))
    model, manifest = cnn_and_manifest
    for args, flag in ((("cka", "--layers-a", "foo"), "--layers-a"),
                       (("cka", "--layers-b", "stem,foo"), "--layers-b"),
                       (("stitch", "--layer-a", "foo"), "--layer-a"),
                       (("stitch", "--layer-a", "stem", "--layer-b", "foo"), "--layer-b"),
                       (("symmetry", "--layer", "foo"), "--layer")):
        _refused(run_cli("analyze", args[0], model, model, manifest, *args[1:]),
                 f"{flag}: unknown layer(s) 'foo'; the model's layers (named_modules): ")
    _refused(run_cli("analyze", "stitch", model, model, manifest, "--layer-a", "stem",
                     "--layer-a", "head", "--layer-b", "stem"),
             "give as many --layer-b as --layer-a")


def test_stitch_takes_layer_b_alone_for_a_s_default_points(run_cli, cnn_and_manifest):
    # --layer-b alone pairs with A's default stitch points (stem, stages.0-2); the early check
    # of the --layer-a/--layer-b counts must not refuse it
    model, manifest = cnn_and_manifest
    code, out, err = run_cli("analyze", "stitch", model, model, manifest, "--max-images", "4",
                             "--tiles-per-image", "1", "--epochs", "1", "--json",
                             *[a for n in ("stem", "stages.0", "stages.1", "stages.2")
                               for a in ("--layer-b", n)])
    assert code == 0, err
    assert [r["layer_a"] for r in json.loads(out)["rows"]] == ["stem", "stages.0", "stages.1",
                                                             "stages.2"]
    _refused(run_cli("analyze", "stitch", model, model, manifest, "--layer-b", "stem"),
             "give as many --layer-b as --layer-a (without --layer-a: 4, for stem, stages.0, ")
    _refused(run_cli("analyze", "id", model, manifest, "--layers", "foo"),
             "unknown layer(s) 'foo'")


def test_a_generators_layers_are_named_as_the_user_names_them(run_cli):
    # id/frames of a generator checked "net." + each name against the wrapper that conditions
    # it: "unknown layer(s) 'net.foo' (did you mean 'net.cond' or 'net'?)", a list of "net.*"
    # names, and "--layers net.mapping", as suggested, failed as 'net.net.mapping'
    gen = PRETRAINED / "sim-parameters"
    for cmd in ("id", "frames"):
        code, out, err = run_cli("analyze", cmd, gen, "--layers", "mappin")
        _refused((code, out, err), "unknown layer(s) 'mappin' (did you mean 'mapping'")
        assert "net." not in err and "the model's layers (named_modules): cond, " in err, err
    code, out, err = run_cli("analyze", "id", gen, "--layers", "mapping", "--n", "8",
                             "--methods", "twonn", "--json")
    assert code == 0 and {r["layer"] for r in json.loads(out)["rows"]} == {"input", "mapping"}, err


def test_invariance_checks_the_layer_names_before_reading_the_images(run_cli, cnn_and_manifest,
                                                                     monkeypatch):
    # an unknown --layers name was found only after every image had been read and cropped
    from shapekit.cli import analysis_invariance

    model, manifest = cnn_and_manifest
    forbid(monkeypatch, "the images were read", (analysis_invariance, "_square_crops"))
    _refused(run_cli("analyze", "invariance", model, manifest.parent / "x0.png",
                     manifest.parent / "x1.png", "--layers", "stem,stagez.0"),
             "unknown layer(s) 'stagez.0' (did you mean 'stages.0'")
