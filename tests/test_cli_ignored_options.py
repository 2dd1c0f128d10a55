"""Options the chosen mode would ignore are refused (one line, exit 2, before any work), and
inputs that are wrong are named as soon as they can be.

``analyze frames GENERATOR --kinds rotation`` ran 10 s of latent frames, the kinds unused;
``ingest IMG --pad reflect`` without ``--tile-size`` wrote the image, the padding unused;
``explain MODEL IMG --map --top 3`` drew the tile map, the number of pairs unused;
``demo --no-gan --gan-steps 5`` ran without a GAN, the steps unused; ``score --mode imaging
--metric bottleneck`` scored imaging alone, which uses no diagram distance. ``analyze dna
MANIFEST --tile-size 1000`` named "scan 0" instead of the file; ``explain MODEL n.tif`` (not an
image) and ``classify MODEL n.tif`` said so only after the model loaded (2-3 s); ``analyze id|frames
CNN MANIFEST --layers foo`` only after the images were tiled too (2 s more); ``analyze id|frames
GENERATOR --max-images 5`` (or ``--root``, ``--tiles-per-image``; ``--n`` for a CNN) was ignored.
"""

from __future__ import annotations

from pathlib import Path

from cli_helpers import assert_refused as _refused
import pytest

PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"



def _boom(*a, **k):
    raise AssertionError("the work started")


def test_frames_of_a_generator_refuses_image_kinds(run_cli, monkeypatch):
    pytest.importorskip("torch")
    import shapekit.analysis.runners as runners

    monkeypatch.setattr(runners, "run_frames", _boom)
    gen = PRETRAINED / "sim-parameters"
    _refused(run_cli("analyze", "frames", gen, "--kinds", "rotation,latent"),
             "Invalid value for '--kinds': rotation: a generator's frames are its latent directions")
    # latent alone, or the default, goes on to the frames
    for extra in (["--kinds", "latent"], []):
        code, _, err = run_cli("analyze", "frames", gen, *extra)
        assert code == 1 and "the work started" in err, err


def test_ingest_pad_without_tile_size_is_refused(run_cli, tmp_path):
    import cv2
    import numpy as np

    img = tmp_path / "a.png"
    cv2.imwrite(str(img), (np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8))
    out = tmp_path / "out"
    _refused(run_cli("ingest", img, "--out", out, "--pad", "reflect"),
             "--pad reflect needs --tile-size")
    assert not out.exists()
    # with a tile size it pads the tiles; --pad none (the default) is harmless without one
    assert run_cli("ingest", img, "--out", out, "--pad", "reflect", "--tile-size", "32")[0] == 0
    assert run_cli("ingest", img, "--out", tmp_path / "o2", "--pad", "none")[0] == 0


@pytest.fixture()
def scan(tmp_path) -> Path:
    import cv2
    import numpy as np

    img = tmp_path / "scan.png"
    cv2.imwrite(str(img), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    return img


def test_explain_map_refuses_top(run_cli, monkeypatch, scan, tmp_path):
    import shapekit.temper.modeldir as modeldir

    monkeypatch.setattr(modeldir, "load_model", _boom)
    out = tmp_path / "o.png"
    _refused(run_cli("explain", "uhcs3", scan, "--out", out, "--map", "--top", "3"),
             "--top (the persistence pairs to draw) does not apply to --map")
    assert not out.exists()
    code, _, err = run_cli("explain", "uhcs3", scan, "--out", out, "--map")
    assert code == 1 and "the work started" in err, err


def test_demo_no_gan_refuses_gan_steps(run_cli, monkeypatch, tmp_path):
    import shapekit.cli.demo as demo

    monkeypatch.setattr(demo, "run_demo", _boom)
    out = tmp_path / "demo"
    _refused(run_cli("demo", "--no-gan", "--gan-steps", "5", "--out", out),
             "--gan-steps sets the GAN's training, which --no-gan skips")
    assert not out.exists()
    code, _, err = run_cli("demo", "--no-gan", "--out", out)
    assert code == 1 and "the work started" in err, err


def test_score_imaging_refuses_metric(run_cli, monkeypatch, scan):
    import shapekit.realism.scoring as scoring

    monkeypatch.setattr(scoring, "score", _boom)
    folder = scan.parent
    _refused(run_cli("score", folder, folder, "--mode", "imaging", "--metric", "bottleneck"),
             "--metric is the diagram distance of the structure and combined scores; --mode "
             "imaging uses neither")
    for args in (["--mode", "imaging"], ["--mode", "structure", "--metric", "bottleneck"]):
        code, _, err = run_cli("score", folder, folder, *args)
        assert code == 1 and "the work started" in err, err


def _labelled(folder: Path, rows: list[tuple[str, int]]) -> Path:
    """A manifest of one random square image per ``(label, side)``."""
    import cv2
    import numpy as np

    lines = ["file,label"]
    for i, (lab, side) in enumerate(rows):
        cv2.imwrite(str(folder / f"x{i}.png"), (np.random.default_rng(i).random((side, side))
                                                * 255).astype(np.uint8))
        lines.append(f"x{i}.png,{lab}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    (folder / "m.yaml").write_text("name: m\nroot: .\ntable: labels.csv\nimages_dir: .\n"
                                   "image: file\nlabel: label\n")
    return folder / "m.yaml"


def test_dna_names_the_scan_smaller_than_a_tile(run_cli, tmp_path):
    pytest.importorskip("torch")
    _labelled(tmp_path, [("a", 40), ("a", 24), ("b", 40), ("b", 40)])
    _refused(run_cli("analyze", "dna", tmp_path / "m.yaml", "--tile-size", "32", "--max-images", "4"),
             "x1.png: image of 24x24 px is smaller than a 32 px tile (--tile-size, at most 24 for "
             "these scans)")


def test_explain_refuses_a_file_that_is_not_an_image_before_the_model_loads(run_cli, monkeypatch,
                                                                            tmp_path):
    import shapekit.temper.modeldir as modeldir

    monkeypatch.setattr(modeldir, "load_model", _boom)
    bad = tmp_path / "n.tif"
    bad.write_text("x\n")
    _refused(run_cli("explain", "uhcs3", bad, "--out", tmp_path / "o.png"),
             f"{bad}: not a supported image (TIFF, PNG, JPEG or BMP content expected)")


def test_classify_of_no_image_at_all_answers_without_the_model(run_cli, monkeypatch, tmp_path,
                                                               scan):
    import json

    import shapekit.temper.modeldir as modeldir

    monkeypatch.setattr(modeldir, "load_model", _boom)
    bad = tmp_path / "n.tif"
    bad.write_text("x\n")
    message = f"{bad}: not a supported image (TIFF, PNG, JPEG or BMP content expected)"
    _refused(run_cli("classify", "uhcs3", bad), message)
    code, out, err = run_cli("classify", "uhcs3", bad, "--json")   # its error row, as before
    assert code == 2 and json.loads(out) == [{"image": str(bad), "error": message}], err
    code, _, err = run_cli("classify", "uhcs3", bad, scan)         # one image: the model loads
    assert code == 1 and "the work started" in err, err


@pytest.fixture()
def tiny_cnn(tmp_path) -> Path:
    torch = pytest.importorskip("torch")
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(0)
    net = SmallResNet(n_classes=2, width=4).eval()
    cfg = {"kind": "cnn", "label_names": ["a", "b"], "tile_size": 32, "target_um_per_px": None,
           "aggregation": "proba", "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    return write_model_dir(tmp_path / "cnn", cfg, {"cnn.safetensors": {
        k: v.numpy() for k, v in net.state_dict().items()}})


@pytest.mark.parametrize("command", ["id", "frames"])
def test_an_unknown_layer_is_refused_before_the_images_are_tiled(run_cli, monkeypatch, tiny_cnn,
                                                                 tmp_path, command):
    import shapekit.analysis.runners as runners
    import shapekit.analysis.sources as sources

    manifest = _labelled(tmp_path, [("a", 64), ("a", 64), ("b", 64), ("b", 64)])
    monkeypatch.setattr(sources, "manifest_tiles", _boom)
    monkeypatch.setattr(runners, "manifest_tiles", _boom)
    _refused(run_cli("analyze", command, tiny_cnn, manifest, "--layers", "stem.0,fooo"),
             "unknown layer(s) 'fooo'; the model's layers (named_modules): stem, stem.0")
    code, _, err = run_cli("analyze", command, tiny_cnn, manifest, "--layers", "stem.0")
    assert code == 1 and "the work started" in err, err


@pytest.mark.parametrize("command", ["id", "frames"])
def test_id_and_frames_refuse_the_options_of_the_other_kind_of_model(run_cli, monkeypatch,
                                                                     tiny_cnn, tmp_path, command):
    import shapekit.analysis.sources as sources

    monkeypatch.setattr(sources, "load_torch_model", _boom)
    monkeypatch.setattr("shapekit.analysis.runners.run_frames", _boom)
    gen = PRETRAINED / "sim-parameters"
    for option in (["--max-images", "5"], ["--root", str(tmp_path)]):
        _refused(run_cli("analyze", command, gen, *option),
                 f"{option[0]} sets the tiles of a CNN's MANIFEST; a generator's inputs are latent "
                 "samples: leave it out")
    if command == "id":
        _refused(run_cli("analyze", "id", gen, "--tiles-per-image", "2"), "--tiles-per-image sets")
        manifest = _labelled(tmp_path, [("a", 64), ("a", 64), ("b", 64), ("b", 64)])
        _refused(run_cli("analyze", "id", tiny_cnn, manifest, "--n", "40"),
                 "--n sets a generator's latent samples; a CNN's inputs are tiles of its MANIFEST")
    code, _, err = run_cli("analyze", command, gen)            # the defaults go on
    assert code == 1 and "the work started" in err, err


def test_id_of_a_generator_says_to_raise_n_not_the_refused_image_options(run_cli):
    pytest.importorskip("torch")
    code, _, err = run_cli("analyze", "id", PRETRAINED / "sim-parameters", "--n", "4",
                           "--methods", "twonn", "--layers", "blocks.0")
    assert code == 0, err
    assert "too few points (a larger --n)" in err and "--max-images" not in err, err
