"""`shapekit analyze invariance|frequency|fibres|dna` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def cnn_model_dir(tmp_path_factory) -> Path:
    """A tiny (untrained, seeded) SmallResNet written as a shapekit CNN model directory."""
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(0)
    net = SmallResNet(1, 2, width=4)
    cfg = {"label_names": ["a", "b"], "tile_size": 32, "target_um_per_px": None, "n_train": 0,
           "seed": 0, "source": "test", "kind": "cnn", "aggregation": "proba",
           "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return write_model_dir(tmp_path_factory.mktemp("m") / "cnn", cfg, {"cnn.safetensors": state})


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    import cv2

    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(d / f"im{i}.png"), (rng.random((40, 48)) * 255).astype(np.uint8))
    return d


def test_invariance_cli_json_and_plot(run_cli, cnn_model_dir, image_dir, tmp_path):
    png = tmp_path / "eed.png"
    code, out, err = run_cli("analyze", "invariance", cnn_model_dir, image_dir, "--group", "rot90",
                             "--group", "intensity", "--size", "32", "--plot", png, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert set(res["scores"]) == {"rot90", "intensity"}
    rot = res["scores"]["rot90"]
    assert list(rot) == ["stem", "stages.0", "stages.1", "stages.2", "output"]
    assert all(v > 0 for v in rot.values())
    # the network z-scores every input: exactly blind to intensity scaling
    assert res["scores"]["intensity"]["output"] < 0.05
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_frequency_cli(run_cli, cnn_model_dir, tmp_path):
    """Known answers: the data spectrum of white noise is flat (exponent 0), that of a Gaussian
    field with power |k|^-2 has exponent 2; the rings are 1/size apart up to the corner."""
    import cv2

    from shapekit.analysis.frequency import synthetic_power_law_image

    rng = np.random.default_rng(0)
    exponents = {}
    for a in (0.0, 2.0):
        d = tmp_path / f"a{a:g}"
        d.mkdir()
        for i in range(4):  # 16-bit: 8-bit rounding would add white noise at high frequencies
            img = rng.random((64, 64)) if a == 0 else synthetic_power_law_image((64, 64), a, seed=i)
            cv2.imwrite(str(d / f"im{i}.png"), np.round(img * 65535).astype(np.uint16))
        png = tmp_path / f"freq{a:g}.png"
        code, out, err = run_cli("analyze", "frequency", cnn_model_dir, d, "--size", "64",
                                 "--plot", png, "--json")
        assert code == 0, err
        res = json.loads(out)
        exponents[a] = res["power_exponent"]
        assert len(res["freqs"]) == len(res["sensitivity"]) == len(res["power"])
        rings = np.asarray(res["freqs"])  # mean |k| of ring i lies within half a step of i/64
        assert rings[0] == 0.0 and np.all(np.abs(rings - np.arange(len(rings)) / 64) <= 0.5 / 64)
        assert len(rings) == 46  # up to the corner frequency sqrt(2)/2 cycles/pixel
        assert res["n_images"] == 4 and png.read_bytes()[:4] == b"\x89PNG"
        assert all(v >= 0 for v in res["sensitivity"]) and res["sensitivity"][1] > 0
    assert exponents[0.0] == pytest.approx(0.0, abs=0.25)
    assert exponents[2.0] == pytest.approx(2.0, abs=0.25)


def test_cli_errors_are_one_line_exit_2(run_cli, image_dir, tmp_path):
    code, _, err = run_cli("analyze", "invariance", tmp_path / "nope", image_dir)
    assert code == 2 and err.count("\n") == 1
    code, _, err = run_cli("analyze", "fibres", "--target", "5000", "--steps", "1", "--n-train", "100")
    assert code == 2 and "outside the reachable range" in err
    code, _, err = run_cli("analyze", "invariance", tmp_path / "nope", image_dir, "--group", "spin")
    assert code == 2


def test_fibres_cli_writes_csv(run_cli, tmp_path):
    csv = tmp_path / "settings.csv"
    code, out, err = run_cli("analyze", "fibres", "--target", "150", "--tolerance", "15",
                             "--steps", "20", "--n-train", "300", "--n", "10", "--out", csv,
                             "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["n_accepted"] == len(res["samples"]) == res["n_under"] + res["n_over"]
    assert csv.read_text().splitlines()[0] == "temperature_C,time_h,hardness_HV,branch"
    for s in res["samples"]:
        assert abs(s["hardness_HV"] - 150.0) <= 15.0


def test_dna_cli_on_a_manifest(run_cli, tmp_path):
    from toy import write_toy_manifest

    manifest = write_toy_manifest(str(tmp_path / "toy"), n_per_class=2, size=48)
    png = tmp_path / "dna.png"
    args = ("analyze", "dna", manifest, "--tile-size", "16", "--tiles-per-image", "2",
            "--epochs", "1", "--max-images", "6", "--plot", png, "--json")
    code, out, err = run_cli(*args)
    assert code == 0, err
    res = json.loads(out)
    assert res["labels"] == ["lamellae", "network", "spheroids"]
    assert res["n_train_tiles"] == 6 and res["n_test_tiles"] == 6  # one of 2 scans per class held out
    assert set(res["accuracy"]) == {"none", "dna", "global"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(run_cli(*args)[1])["accuracy"] == res["accuracy"]  # deterministic per seed


def test_help_texts(run_cli):
    for cmd in ("invariance", "frequency", "fibres", "dna"):
        code, out, _ = run_cli("analyze", cmd, "--help")
        assert code == 0 and "--json" in out
