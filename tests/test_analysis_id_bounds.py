"""Intrinsic dimension estimates out of bounds are flagged, and the k the MLE used is reported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from shapekit.analysis import intrinsic_dimension, layer_intrinsic_dimension

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_estimates_above_what_the_points_can_span_are_nan_with_a_note():
    # 12 points of a 200-dim Gaussian: TwoNN and MLE came back above 11, the most 12 points span
    X = np.random.default_rng(0).normal(size=(12, 200))
    with pytest.warns(UserWarning) as caught:
        r = intrinsic_dimension(X, k=20)
    assert [str(w.message).split(" ")[0] for w in caught] == ["twonn", "mle"]
    assert "> 11 = n_points - 1: too few points for this dimension, set to NaN" in \
        str(caught[0].message)
    assert math.isnan(r["twonn"]) and math.isnan(r["mle"])
    assert r["lpca"] == 10.0  # local PCA: each point's 11 neighbours span at most 10 dimensions
    assert r["k"] == 11.0  # k=20 asked, 11 neighbours used
    notes: list[str] = []
    small = np.random.default_rng(0).normal(size=(12, 3))  # fills R^3: TwoNN 5.86
    r = intrinsic_dimension(small, notes=notes)
    assert r["twonn"] == pytest.approx(5.855, abs=1e-3)  # kept: noise around the ambient 3
    assert notes == ["twonn 5.86 > 3 = ambient dimension: the points fill their space (about 3)"]
    rng = np.random.default_rng(0)
    good = intrinsic_dimension(rng.normal(size=(500, 2)) @ rng.normal(size=(2, 10)), notes=notes)
    assert len(notes) == 1 and good["k"] == 20.0 and abs(good["twonn"] - 2) < 0.3


def test_layer_rows_carry_the_k_used_and_the_notes():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(50, 50), torch.nn.Tanh())
    x = torch.randn(24, 50)
    rows = layer_intrinsic_dimension(net, x, ["1"], groups=[0] * 12 + [1] * 12,
                                     methods=["twonn", "mle"], k=15)
    assert [(r["group"], r["k"]) for r in rows if r["layer"] == "1"] == \
        [("all", 15.0), ("0", 11.0), ("1", 11.0)]
    flagged = [r for r in rows if r.get("note")]
    assert flagged and all("set to NaN" in r["note"] for r in flagged)
    assert all(math.isnan(r["twonn"]) for r in flagged if r["note"].startswith("twonn"))


def _cnn_dir(path: Path) -> Path:
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(0)
    net = SmallResNet(n_classes=3, width=4).eval()
    cfg = {"kind": "cnn", "label_names": ["lamellae", "network", "spheroids"], "tile_size": 32,
           "target_um_per_px": None, "aggregation": "proba",
           "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}}
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return write_model_dir(path, cfg, {"cnn.safetensors": arrays})


def test_cli_reports_the_k_used_per_group_and_notes_out_of_bound_estimates(run_cli, tmp_path):
    from toy import write_toy_manifest

    manifest = write_toy_manifest(str(tmp_path / "toy"), n_per_class=1, size=64)
    model = _cnn_dir(tmp_path / "m")
    args = ("analyze", "id", model, manifest, "--layers", "stem", "--max-images", "3",
            "--tiles-per-image", "4")
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["k_requested"] == 20 and "k" not in res  # "k": 20 read as the k used
    rows = {(r["layer"], r["group"]): r for r in res["rows"]}
    assert rows[("stem", "all")]["k"] == 11 and rows[("stem", "network")]["k"] == 3
    # TwoNN of a 4-point group of 2048-wide activations: 3 points span at most 3 dimensions
    stem = rows[("stem", "network")]
    assert stem["twonn"] is None and "> 3 = n_points - 1" in stem["note"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "twonn=nan" in out and " k=3" in out
    assert "note: " in err and "are nan: too few points" in err
