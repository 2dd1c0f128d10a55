"""TopTemp CLI: JSON schemas of featurize/train-classifier/classify/evaluate/robustness/explain, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from toy import write_toy_manifest


@pytest.fixture(scope="module")
def toy_manifest(tmp_path_factory):
    return write_toy_manifest(str(tmp_path_factory.mktemp("toy")), 4, 96, seed=2, groups=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_manifest):
    from shapekit.cli import main

    out = tmp_path_factory.mktemp("model") / "m"
    try:
        main(["train-classifier", toy_manifest, "--out", str(out), "--model", "logreg",
              "--tile-size", "48", "--scales", "1,2", "--seed", "1", "--augment", "0"])
    except SystemExit as e:
        assert e.code == 0
    return out


def test_train_json(run_cli, toy_manifest, tmp_path):
    code, out, err = run_cli("train-classifier", toy_manifest, "--out", tmp_path / "m2", "--model",
                             "xgboost", "--tile-size", "96", "--scales", "2", "--aggregation",
                             "features", "--augment", "0", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["kind"] == "toptemp" and res["labels"] == ["lamellae", "network", "spheroids"]
    assert res["aggregation"] == "features" and res["cv"][0]["accuracy"] >= 0.5
    assert (tmp_path / "m2" / "xgboost.json").is_file()


def test_classify_json_schema(run_cli, trained, toy_manifest):
    from pathlib import Path

    imgs = sorted((Path(toy_manifest).parent / "images").glob("*.png"))[:3]
    code, out, err = run_cli("classify", trained, *imgs, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert [r["image"] for r in res] == [str(p) for p in imgs]
    assert [r["temper"] for r in res] == ["network", "lamellae", "spheroids"]
    for r in res:
        assert set(r) == {"image", "temper", "probabilities", "tiles", "ood_score", "ood",
                          "in_distribution", "prediction_set", "scan", "notes"}
        assert set(r["probabilities"]) == {"lamellae", "network", "spheroids"} and r["tiles"] == 4
        # training scans: inside the training data; 12 calibration scans cannot give 95 %
        # coverage with fewer than all labels ((12 + 1) * 0.95 > 12), so the set is every label
        assert r["in_distribution"] is True and 0 <= r["ood_score"] < 1
        assert sorted(r["prediction_set"]) == ["lamellae", "network", "spheroids"]
        assert r["scan"]["um_per_px"] is None and any(n.startswith("scale not checked") for n in r["notes"])
    code, out, err = run_cli("classify", trained, imgs[0])
    assert code == 0 and out.count("\t") == 5 and "\tood=" in out


def test_evaluate_json_and_plot(run_cli, trained, toy_manifest, tmp_path):
    code, out, err = run_cli("evaluate", trained, toy_manifest, "--json", "--plot", tmp_path / "cm.png")
    assert code == 0, err
    res = json.loads(out)
    assert set(res) == {"n", "accuracy", "macro_f1", "labels", "confusion", "misclassified",
                        "training_scans"}
    assert res["misclassified"] == []     # accuracy 1.0
    assert res["n"] == 12 and res["accuracy"] == 1.0 and np.trace(res["confusion"]) == 12
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_robustness_json(run_cli, trained, toy_manifest):
    code, out, err = run_cli("robustness", trained, toy_manifest, "--perturbation", "rot90",
                             "--perturbation", "brightness_+0.1", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["clean"] == 1.0 and set(res["accuracy"]) == {"rot90", "brightness_+0.1"}
    assert res["accuracy"]["rot90"] == 1.0  # PH of a rotated scan: same diagrams
    code, out, err = run_cli("robustness", trained, toy_manifest, "--perturbation", "warp")
    assert code == 2 and "unknown perturbation" in err


def test_robustness_help_lists_every_perturbation(run_cli):
    """--help said 'Only these perturbations' without their names: only a wrong one listed them."""
    from shapekit.temper.robustness import PERTURBATIONS

    code, out, _ = run_cli("robustness", "--help")
    flat = " ".join(out.split())
    assert code == 0 and all(f" {name}," in flat or f" {name}." in flat for name in PERTURBATIONS), out


def test_explain_overlay(run_cli, trained, toy_manifest, tmp_path):
    from pathlib import Path

    img = sorted((Path(toy_manifest).parent / "images").glob("*.png"))[0]
    code, out, err = run_cli("explain", trained, img, "--out", tmp_path / "o.png", "--top", "50", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["temper"] == "network" and (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"
    assert 0 < len(res["pairs"]) <= 50
    assert abs(sum(b["importance"] for b in res["blocks"]) - 1) < 1e-4
    scores = [p["score"] for p in res["pairs"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_featurize(run_cli, toy_manifest, tmp_path, suffix):
    out = tmp_path / f"f{suffix}"
    code, o, err = run_cli("featurize", toy_manifest, "--out", out, "--tile-size", "96",
                           "--scales", "2", "--json")
    assert code == 0, err
    assert json.loads(o)["tiles"] == 12
    if suffix == ".npz":
        z = np.load(out)
        assert z["X"].shape == (12, len(z["feature_names"])) and len(z["label"]) == 12
    else:
        df = pd.read_parquet(out)
        assert list(df.columns[:4]) == ["image", "scan", "label", "group"] and len(df) == 12


def test_bad_input_exit_2(run_cli, trained, toy_manifest, tmp_path):
    code, out, err = run_cli("classify", tmp_path / "missing", toy_manifest)
    assert code == 2 and "model directory not found" in err and err.count("\n") == 1
    cfg = json.loads((trained / "config.json").read_text())
    other = tmp_path / "old"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**cfg, "shapekit_version": "0.0.1"}))
    code, out, err = run_cli("classify", other, toy_manifest)
    assert code == 2 and "retrain" in err
    # labels the model never saw
    from pathlib import Path

    src = Path(toy_manifest).parent
    t = pd.read_csv(src / "labels.csv")
    t.loc[0, "label"] = "martensite"
    t.to_csv(src / "labels_unseen.csv", index=False)
    (src / "unseen.yaml").write_text(Path(toy_manifest).read_text().replace("labels.csv", "labels_unseen.csv"))
    code, out, err = run_cli("evaluate", trained, src / "unseen.yaml", "--json")
    assert code == 2 and "martensite" in err and out == ""
    tiny = tmp_path / "tiny.png"
    import cv2

    cv2.imwrite(str(tiny), (np.random.default_rng(0).random((32, 40)) * 255).astype(np.uint8))
    code, out, err = run_cli("classify", trained, tiny)
    assert code == 2 and "smaller than one 48x48 tile" in err
    assert "in Python" not in err and "pad=" not in err, err   # classify has neither to offer
    import tifffile

    tifffile.imwrite(tmp_path / "const.tif", np.full((96, 96), 128, np.uint8))
    code, out, err = run_cli("classify", trained, tmp_path / "const.tif")
    assert code == 2 and "constant image" in err   # a constant *array* is classified (documented)
    tifffile.imwrite(tmp_path / "nan.tif", np.where(np.eye(96) > 0, np.nan, 0.5).astype(np.float32))
    code, out, err = run_cli("classify", trained, tmp_path / "nan.tif")
    assert code == 2 and "NaN" in err
    code, out, err = run_cli("featurize", toy_manifest, "--out", tmp_path / "f.csv")
    assert code == 2 and ".parquet or .npz" in err


def test_model_trained_with_pixel_sizes_flags_a_magnification_far_outside(run_cli, tmp_path):
    """Training scans at 0.05 and 0.1 um/px: the model stores the range; a scan given 0.4 um/px
    (4x coarser than the coarsest) is "unknown" with a magnification note, the same scan at
    0.08 um/px is judged on its content."""
    from pathlib import Path

    man = Path(write_toy_manifest(str(tmp_path / "toy"), 4, 96, seed=2))
    table = pd.read_csv(man.parent / "labels.csv")
    table["um"] = [0.05, 0.1] * (len(table) // 2)
    table.to_csv(man.parent / "labels.csv", index=False)
    man.write_text(man.read_text().replace("um_per_px: null", "um_per_px: um"))
    code, _, err = run_cli("train-classifier", man, "--out", tmp_path / "m", "--model", "logreg",
                           "--tile-size", "48", "--scales", "1,2", "--seed", "1", "--augment", "0")
    assert code == 0, err
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["training_um_per_px"] == [0.05, 0.1] and cfg["target_um_per_px"] == pytest.approx(0.075)
    img = sorted((man.parent / "images").glob("*.png"))[0]
    verdicts = {}
    for um in ("0.08", "0.4"):
        code, out, err = run_cli("classify", tmp_path / "m", img, "--um-per-px", um, "--json")
        assert code == 0, err
        verdicts[um] = json.loads(out)[0]
    near, far = verdicts["0.08"], verdicts["0.4"]
    assert near["ood"]["scale"] == 0.5 and not any("magnification" in n for n in near["notes"])
    assert far["temper"] == "unknown" and far["in_distribution"] is False
    assert far["ood"]["scale"] == pytest.approx(2.0)
    assert any("magnification" in n and "4x coarser" in n for n in far["notes"])
    # the scan's own pixel size unknown: said once (the check's note, with the remedy), not
    # also by the reader in other words; one warning on stderr
    code, out, err = run_cli("classify", tmp_path / "m", img, "--json")
    assert code == 0, err
    unknown = [n for n in json.loads(out)[0]["notes"] if n.startswith("pixel size unknown")]
    assert len(unknown) == 1 and "--um-per-px" in unknown[0], unknown
    code, _, err = run_cli("classify", tmp_path / "m", img)
    assert code == 0 and err.count("pixel size unknown") == 1, err
    # the server's path says it once too, in the same words (it wrote its own note beside the check's)
    from shapekit.server.services import classify_file
    from shapekit.temper.modeldir import load_model

    notes = classify_file(load_model(tmp_path / "m"), img, img.name)["notes"]
    assert [n for n in notes if n.startswith("pixel size unknown")] == unknown, notes


def test_train_on_scans_smaller_than_a_tile_names_the_file_and_the_option(run_cli, toy_manifest,
                                                                          tmp_path):
    """Scans smaller than one tile: the error said 'image 0: ... (in Python: a smaller tile size,
    or pad='reflect')', naming neither the file nor the CLI's option; it now names the file, its
    size, --tile-size and the largest tile size these scans allow. Nothing is written."""
    code, out, err = run_cli("train-classifier", toy_manifest, "--out", tmp_path / "m",
                             "--tile-size", "128")
    assert code == 2 and err.count("\n") == 1, err
    assert ".png" in err and "image 0" not in err and "96x96" in err, err
    assert "--tile-size" in err and "at most 96" in err and "in Python" not in err, err
    assert not (tmp_path / "m").exists()


def test_train_refuses_a_folder_that_is_not_a_model_directory(run_cli, toy_manifest, tmp_path):
    """`--out scans/` (a folder of scans, or one with its own config.json) got the model's files
    written among them after the whole training, its config.json replaced; such a folder is now
    refused at once, untouched. A new, empty or earlier model's folder is written as before."""
    from pathlib import Path

    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "a.png").write_bytes(b"png")
    (scans / "config.json").write_text('{"detector": "SE"}')
    before = sorted(p.name for p in scans.iterdir())
    code, out, err = run_cli("train-classifier", toy_manifest, "--out", scans, "--tile-size", "96",
                             "--augment", "0", "--model", "logreg")
    assert code == 2 and "not a shapekit model directory" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in scans.iterdir()) == before
    assert (scans / "config.json").read_text() == '{"detector": "SE"}'
    (scans / "config.json").unlink()
    code, out, err = run_cli("train-classifier", toy_manifest, "--out", scans, "--tile-size", "96",
                             "--augment", "0", "--model", "logreg")
    assert code == 2 and "a.png" not in err and "new or empty folder" in err, err
    assert sorted(p.name for p in scans.iterdir()) == ["a.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):      # an empty folder, then the model written there: retrained in place
        code, out, err = run_cli("train-classifier", toy_manifest, "--out", empty, "--tile-size",
                                 "96", "--augment", "0", "--model", "logreg", "--scales", "2")
        assert code == 0, err
    assert (Path(empty) / "config.json").is_file()


def test_verdict_line_never_rounds_a_score_over_the_limit_to_1(capsys):
    """'unknown ... ood=1.00' read as inside the limit; a score just over 1 shows its digits."""
    from shapekit.cli.temper import _print_verdict

    base = {"image": "x.png", "probabilities": {"a": 0.6, "b": 0.4}, "tiles": 4, "notes": []}
    _print_verdict({**base, "temper": "unknown", "ood_score": 1.00404, "prediction_set": []})
    _print_verdict({**base, "temper": "a", "ood_score": 0.3418, "prediction_set": ["a"]})
    lines = capsys.readouterr().out.splitlines()
    assert "\tood=1.004\t" in lines[0] and "\tood=0.34\t" in lines[1]


def test_tile_map_title_never_rounds_a_score_over_the_limit_to_1():
    import numpy as np

    from shapekit.temper.explain import Explanation
    from shapekit.temper.explainplot import plot_tile_map

    v = {"image": "x", "temper": "unknown", "probabilities": {"a": 0.8, "b": 0.2}, "tiles": 1,
         "ood_score": 1.00404, "tile_map": {"tile_size": [8, 8], "labels": ["a", "b"], "tiles": [
             {"row": 0, "col": 0, "temper": "a", "p": [0.9, 0.1]}]}}
    fig = plot_tile_map(Explanation(v, {}, [], np.zeros((8, 8)), 1))
    assert "ood score 1.004)" in fig.axes[0].get_title()
