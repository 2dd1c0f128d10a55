"""``shapekit analyze id|frames|cka|stitch|symmetry`` on tiny model directories and a toy manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cnn_dir(path: Path, seed: int, labels: list[str]) -> Path:
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(seed)
    net = SmallResNet(n_classes=len(labels), width=4).eval()
    cfg = {"kind": "cnn", "label_names": labels, "tile_size": 32, "target_um_per_px": None,
           "aggregation": "proba", "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return write_model_dir(path, cfg, {"cnn.safetensors": arrays})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from toy import write_toy_manifest

    d = tmp_path_factory.mktemp("ag")
    manifest = write_toy_manifest(str(d / "toy"), n_per_class=2, size=64)
    labels = ["lamellae", "network", "spheroids"]
    return {"manifest": manifest, "a": _cnn_dir(d / "a", 0, labels), "b": _cnn_dir(d / "b", 1, labels),
            "dir": d}


@pytest.fixture(scope="module")
def gan_dir(tmp_path_factory):
    from shapekit.generate import ConditionCodec, Generator
    from shapekit.generate.export import export_generator

    d = tmp_path_factory.mktemp("gan")
    torch.manual_seed(0)
    g = Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4, 4])
    export_generator(g, ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), d, crop_size=16)
    return d


def test_id_on_cnn_and_generator(run_cli, setup, gan_dir):
    png = setup["dir"] / "id.png"
    code, out, err = run_cli("analyze", "id", setup["a"], setup["manifest"], "--layers", "stem,head",
                             "--max-images", "6", "--tiles-per-image", "4", "--k", "5",
                             "--plot", png, "--json")
    assert code == 0, err
    res = json.loads(out)
    layers = {(r["layer"], r["group"]) for r in res["rows"]}
    assert ("stem", "network") in layers and ("head", "all") in layers
    head = next(r for r in res["rows"] if r["layer"] == "head" and r["group"] == "all")
    assert head["lpca"] <= 3  # 3 logits
    assert png.stat().st_size > 1000
    code, out, err = run_cli("analyze", "id", gan_dir, "--n", "150", "--methods", "twonn,lpca",
                             "--k-lpca", "30", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert {r["group"] for r in rows} == {"a", "b"}
    assert {r["k_lpca"] for r in rows} == {30.0}  # local PCA over 30 neighbours
    out_rows = [r for r in rows if r["layer"] == "to_img"]
    assert all(r["lpca"] <= 4 + 1e-9 or r["twonn"] < 6 for r in out_rows)  # ID <= dim z (plus noise)


def test_frames(run_cli, setup, gan_dir):
    png = setup["dir"] / "frames.png"
    code, out, err = run_cli("analyze", "frames", setup["a"], setup["manifest"], "--n-inputs", "2",
                             "--n-noise", "3", "--max-images", "3", "--plot", png, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["kinds"] == ["rotation", "translation_x", "translation_y", "blur"]
    first = res["layers"][0]
    assert first["layer"] == "input" and first["relative_norm"]["rotation"] == pytest.approx(1.0)
    assert png.exists()
    code, out, err = run_cli("analyze", "frames", gan_dir, "--n-inputs", "1", "--n-noise", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["layers"][-1]["rank"] <= 4


def test_cka_stitch_symmetry(run_cli, setup):
    a, b, m = setup["a"], setup["b"], setup["manifest"]
    code, out, err = run_cli("analyze", "cka", a, a, m, "--max-images", "6", "--batch-size", "8",
                             "--plot", setup["dir"] / "cka.png", "--json")
    assert code == 0, err
    M = np.array(json.loads(out)["cka"])
    assert np.allclose(np.diag(M), 1.0, atol=1e-6)
    code, out, err = run_cli("analyze", "stitch", a, a, m, "--layer-a", "stages.1", "--epochs", "1",
                             "--max-images", "6", "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    assert row["penalty"] == pytest.approx(0.0, abs=0.2)
    code, out, err = run_cli("analyze", "symmetry", a, b, m, "--layer", "stem", "--max-images", "3",
                             "--plot", setup["dir"] / "sym.png", "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    assert row["sanity_similarity"] == pytest.approx(1.0, abs=1e-6) and row["sanity_cka"] < 1.0
    assert (setup["dir"] / "sym.png").exists()


def test_cli_errors(run_cli, setup, tmp_path):
    code, _, err = run_cli("analyze", "id", tmp_path / "missing", setup["manifest"])
    assert code == 2 and "not found" in err
    code, _, err = run_cli("analyze", "id", setup["a"], setup["manifest"], "--layers", "nope",
                           "--max-images", "3")
    assert code == 2 and "unknown layer" in err
    code, _, err = run_cli("analyze", "id", setup["a"])
    assert code == 2 and "MANIFEST" in err
    code, _, err = run_cli("analyze", "frames", setup["a"], setup["manifest"], "--kinds", "shear")
    assert code == 2 and "shear" in err
    for cmd in ("id", "frames", "cka", "stitch", "symmetry"):
        code, out, _ = run_cli("analyze", cmd, "--help")
        assert code == 0 and "Usage" in out


def test_parameters_mode_generator(run_cli, tmp_path):
    """A parameters-mode GAN (like the shipped sim-parameters) is analysed at the centre of its
    training conditions (was: an internal error, 'continuous conditions required')."""
    from shapekit.analysis.sources import load_torch_model
    from shapekit.generate import ConditionCodec, Generator
    from shapekit.generate.export import export_generator

    torch.manual_seed(0)
    g = Generator(2, 1, z_local=2, z_global=4, w_dim=8, channels=[8, 4, 4])
    codec = ConditionCodec.fit(["a", "b"], ["t"], np.array([[1.0], [3.0]]), mode="parameters")
    export_generator(g, codec, tmp_path / "gan", crop_size=16)
    model = load_torch_model(tmp_path / "gan")
    assert model.cond is not None and model.cond.tolist() == [[0.0]]  # z-scored training mean
    code, out, err = run_cli("analyze", "id", tmp_path / "gan", "--n", "40", "--methods", "twonn",
                             "--json")
    assert code == 0, err
    assert {r["group"] for r in json.loads(out)["rows"]} == {"a", "b"}
    code, out, err = run_cli("analyze", "frames", tmp_path / "gan", "--n-inputs", "1",
                             "--n-noise", "2", "--json")
    assert code == 0, err


def test_manifest_pixel_size_resamples_tiles(setup, tmp_path):
    """Tiles are cut at the model's pixel size from the manifest's ``um_per_px`` column, as in
    training: 64-px images at 0.2 um/px for a model at 0.1 um/px become 128 px, 4x4 tiles of 32."""
    import shutil

    import pandas as pd
    import yaml

    from shapekit.analysis.sources import LoadedModel, manifest_tiles

    src = Path(setup["manifest"]).parent
    d = tmp_path / "m"
    shutil.copytree(src, d)
    table = pd.read_csv(d / "labels.csv")
    table["um"] = 0.2
    table.to_csv(d / "labels.csv", index=False)
    spec = yaml.safe_load(Path(setup["manifest"]).read_text())
    spec["um_per_px"] = "um"
    (d / "toy.yaml").write_text(yaml.safe_dump(spec))
    model = LoadedModel("cnn", torch.nn.Identity(), d, ["lamellae", "network", "spheroids"],
                        tile_size=32, input_scale=1, target_um_per_px=0.1)
    x, _, idx = manifest_tiles(d / "toy.yaml", model, max_images=1)
    assert x.shape == (16, 1, 32, 32) and len(set(idx.tolist())) == 1


def test_shipped_names_work_as_models(run_cli):
    """`analyze` takes a shipped model's name as the other commands do (session 24: "not found");
    a shipped model that has no torch network is refused with the reason."""
    code, out, err = run_cli("analyze", "id", "sim-parameters", "--n", "40", "--json")
    assert code == 0, err
    assert json.loads(out)
    code, _, err = run_cli("analyze", "id", "uhcs3", "--n", "40")
    assert code == 2 and "has no torch network" in err
    code, _, err = run_cli("analyze", "id", "no-such-model", "--n", "40")
    assert code == 2 and "not found: no-such-model" in err
