"""A temper asked where the simulator never makes it: a model trained on ``shapekit synth`` data
(conditions aging_temperature_C and aging_time_h, labels the three tempers) never saw over-aged
images at 200 C and 1 h, so ``generate`` warns and names where the label does occur; the README's
sweep example asks only for combinations the training data hold."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def sim_gan(tmp_path: Path) -> Path:
    """A tiny untrained generator with the simulator's condition names and temper labels."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    codec = ConditionCodec.fit(["over_aged", "peak_aged", "under_aged"],
                               ["aging_temperature_C", "aging_time_h"],
                               np.array([[120.0, 0.1], [220.0, 100.0]]), mode="parameters")
    export_generator(Generator(3, 2, z_local=2, z_global=4, w_dim=8, channels=[8, 4]), codec,
                     tmp_path / "gan", crop_size=16)
    return tmp_path / "gan"


def test_label_where_the_simulator_makes_another_temper_warns(sim_gan: Path, run_cli,
                                                             tmp_path: Path) -> None:
    # the README's example (over_aged at 200 C, 1-60 h) was generated without a word, though
    # over_aged occurs there only from ~22 h: 1 h is under-aged and 15.75 h peak-aged
    code, _, err = run_cli("generate", sim_gan, "--label", "over_aged", "--set",
                           "aging_temperature_C=200", "--sweep", "aging_time_h=1:60:5", "--n", "1",
                           "--size", "32", "--out", tmp_path / "a")
    assert code == 0, err
    warn = [ln for ln in err.splitlines() if "extrapolation" in ln]
    assert len(warn) == 1, err
    assert "aging_time_h=1: under_aged" in warn[0] and "aging_time_h=15.75: peak_aged" in warn[0]
    assert "aging_time_h=30.5" not in warn[0]          # over_aged there: no complaint
    assert "at 200 C over_aged needs aging_time_h 22.6-100" in warn[0]


def test_label_where_the_simulator_makes_it_is_silent(sim_gan: Path, run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("generate", sim_gan, "--label", "over_aged", "--set",
                           "aging_temperature_C=200", "--sweep", "aging_time_h=24:96:5", "--n", "1",
                           "--size", "32", "--out", tmp_path / "b")
    assert code == 0 and "extrapolation" not in err, err


def test_readme_sweep_example_is_a_trained_combination() -> None:
    from shapekit.synth import process_model

    text = README.read_text(encoding="utf-8")
    m = re.search(r"--label (\w+) --set aging_temperature_C=([\d.]+) \\\s*--sweep "
                  r"aging_time_h=([\d.]+):([\d.]+):(\d+)", text)
    assert m, "the README's sim-parameters sweep example is gone"
    label, T, lo, hi, k = m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4)), int(m.group(5))
    assert set(process_model(T, np.linspace(lo, hi, k))["temper"]) == {label}


def test_without_a_label_each_setting_gets_the_simulators_temper(sim_gan: Path, run_cli,
                                                                 tmp_path: Path) -> None:
    # without --label the tempers were drawn at random per image, whatever the conditions (an
    # over-aged image at 200 C and 1 h), and the sweep warned about its own draw
    import csv

    out = tmp_path / "c"
    code, _, err = run_cli("generate", sim_gan, "--set", "aging_temperature_C=200", "--sweep",
                           "aging_time_h=1:60:5", "--n", "2", "--size", "32", "--out", out)
    assert code == 0 and "extrapolation" not in err, err
    assert "no --label: each image gets the temper the simulator" in err
    rows = list(csv.DictReader(open(out / "conditions.csv")))
    assert len(rows) == 10
    want = {float(r["aging_time_h"]): process_model_temper(200.0, float(r["aging_time_h"]))
            for r in rows}
    assert [r["label"] for r in rows] == [want[float(r["aging_time_h"])] for r in rows]
    assert {r["label"] for r in rows} == {"under_aged", "peak_aged", "over_aged"}
    assert (out / "preview" / "sweep_grid.png").is_file()
    # the images are the model's at that temper: the same as asking for it with --label
    import tifffile

    code, _, err = run_cli("generate", sim_gan, "--label", "under_aged", "--set",
                           "aging_temperature_C=200", "--set", "aging_time_h=1", "--n", "2",
                           "--size", "32", "--out", tmp_path / "d")
    assert code == 0, err
    for i in range(2):
        assert np.array_equal(tifffile.imread(out / f"gen_{i:05d}.tif"),
                              tifffile.imread(tmp_path / "d" / f"gen_{i:05d}.tif"))


def process_model_temper(T: float, t: float) -> str:
    from shapekit.synth import process_model

    return str(process_model(T, t)["temper"])
