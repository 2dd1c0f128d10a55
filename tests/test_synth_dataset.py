"""synthesize() and `shapekit synth`: files, manifest, determinism, bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shapekit.errors import InputError
from shapekit.synth import COLUMNS, TEMPERS, render_micrograph, synthesize


def test_synthesize_in_memory_balanced_and_deterministic():
    a = synthesize(9, size=48, seed=3)
    b = synthesize(9, size=48, seed=3)
    c = synthesize(9, size=48, seed=4)
    assert list(a.table.columns) == COLUMNS and len(a) == 9 and a.out_dir is None
    assert a.table["temper"].value_counts().to_dict() == dict.fromkeys(TEMPERS, 3)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert all(np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert not a.table["aging_time_h"].equals(c.table["aging_time_h"])
    # each row regenerates from its own seed
    row = a.table.iloc[4]
    img, truth = render_micrograph(row["aging_temperature_C"], row["aging_time_h"], size=48,
                                   seed=int(row["seed"]))
    assert np.array_equal(img, a.images[4])
    assert row["hardness_HV"] == pytest.approx(truth["hardness_HV"])
    assert row["area_fraction"] == pytest.approx(truth["realised_area_fraction"])
    assert row["model_mean_radius_nm"] == pytest.approx(truth["mean_radius_nm"])


def test_fields_per_sample_share_conditions():
    s = synthesize(6, size=40, seed=0, fields_per_sample=3)
    g = s.table.groupby("sample_id")
    assert g.ngroups == 2
    assert (g["aging_time_h"].nunique() == 1).all()
    assert s.table["seed"].nunique() == 6


def test_synthesize_writes_a_loadable_dataset(tmp_path):
    io = pytest.importorskip("shapekit.io")
    s = synthesize(6, out_dir=tmp_path / "ds", size=48, seed=1)
    root = tmp_path / "ds"
    assert s.manifest == root / "manifest.yaml"
    table = pd.read_csv(root / "labels.csv")
    assert list(table.columns) == COLUMNS
    assert sorted(p.name for p in (root / "images").iterdir()) == list(table["file"])
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]  # no temp files left
    img, meta = io.read_image(root / "images" / table["file"][2])
    assert img.shape == (48, 48)
    assert np.abs(img - s.images[2]).max() <= 1.0 / 65535 + 1e-6  # 16-bit PNG round trip
    m = io.load_manifest(root / "manifest.yaml")
    assert m.counts() == dict.fromkeys(TEMPERS, 2)
    assert m.parameter_values.shape == (6, 2)


def test_bad_arguments_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="--n"):
        synthesize(0)
    with pytest.raises(InputError, match="--size"):
        synthesize(2, size=16)
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        synthesize(2, size=40, out_dir=tmp_path / "f")


def test_cli_synth_json_and_manifest(tmp_path, run_cli):
    out = tmp_path / "syn"
    code, stdout, stderr = run_cli("synth", "--n", "6", "--out", out, "--size", "48", "--seed", "2",
                                   "--info-bar", "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["n"] == 6 and summary["counts"] == dict.fromkeys(sorted(TEMPERS), 2)
    table = pd.read_csv(out / "labels.csv")
    assert (table["info_bar_rows"] >= 16).all()
    io = pytest.importorskip("shapekit.io")
    img, _ = io.read_image(out / "images" / table["file"][0])
    assert img.shape == (48 + table["info_bar_rows"][0], 48)
    assert len(io.load_manifest(out / "manifest.yaml")) == 6
    code, stdout, stderr = run_cli("manifest", "check", out / "manifest.yaml")
    assert code == 0, stderr


@pytest.mark.parametrize("args,needle", [(["--n", "0"], "--n"), (["--n", "-3"], "--n"),
                                         (["--n", "2", "--size", "8"], "--size"),
                                         (["--n", "x"], "")])
def test_cli_synth_bad_arguments_exit_2(tmp_path, run_cli, args, needle):
    code, stdout, stderr = run_cli("synth", *args, "--out", tmp_path / "o")
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and needle in stderr
    assert not (tmp_path / "o" / "manifest.yaml").exists()


def test_cli_synth_help(run_cli):
    code, stdout, _ = run_cli("synth", "--help")
    assert code == 0 and "--info-bar" in stdout and "--n" in stdout
