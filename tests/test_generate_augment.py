"""Augmentation of the GAN's training crops: flips and 90-degree turns, flips only (the scans'
axes kept), or none; chosen with ``train-gan --augment`` and kept by the run on ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gan_helpers import TINY_RUN_ARGS  # noqa: E402
from test_generate import make_tiny_dataset  # noqa: E402

from shapekit.errors import InputError  # noqa: E402
from shapekit.generate.data import CropDataset  # noqa: E402


def _stripes() -> np.ndarray:
    """Horizontal stripes (period 4 rows), a little off-centre so flips show: 64x64 in [0, 1]."""
    rows = (np.arange(64) % 4 < 1).astype(np.float32) * 0.8 + 0.1
    return np.repeat(rows[:, None], 64, axis=1)


def _directions(mode: str | bool, n: int = 64) -> set[str]:
    """Which way the stripes of n crops run ("rows": along rows, "columns": along columns)."""
    ds = CropDataset([_stripes()], np.array([0]), np.zeros((1, 0)), 16, n, seed=3, augment=mode)
    seen = set()
    for i in range(n):
        x = ds[i][0][0].numpy()
        along_rows = np.ptp(x, axis=1).max() < 1e-6     # every row constant
        along_cols = np.ptp(x, axis=0).max() < 1e-6
        assert along_rows != along_cols
        seen.add("rows" if along_rows else "columns")
    return seen


def test_flips_keep_the_axes_and_turns_swap_them() -> None:
    assert _directions("flips") == {"rows"}
    assert _directions("none") == {"rows"}
    assert _directions("dihedral") == {"rows", "columns"}
    assert _directions(True) == {"rows", "columns"}   # the earlier boolean still works


def _slopes(mode: str, n: int = 64) -> set[tuple[str, int, int]]:
    """On a ramp three times as steep down the rows as across the columns, which axis carries the
    steep slope in n crops and the signs of the (row, column) slopes."""
    r, c = np.mgrid[:64, :64].astype(np.float32)
    ramp = 0.1 + 0.6 * r / 63 + 0.2 * c / 63
    ds = CropDataset([ramp], np.array([0]), np.zeros((1, 0)), 16, n, seed=5, augment=mode)
    seen = set()
    for i in range(n):
        x = ds[i][0][0].numpy().astype(np.float64)
        dr, dc = np.diff(x, axis=0).mean(), np.diff(x, axis=1).mean()
        seen.add(("rows" if abs(dr) > abs(dc) else "columns", int(np.sign(dr)), int(np.sign(dc))))
    return seen


def test_flips_flip_both_ways_and_none_leaves_the_pixels_alone() -> None:
    assert _slopes("flips") == {("rows", sr, sc) for sr in (-1, 1) for sc in (-1, 1)}
    assert _slopes("none") == {("rows", 1, 1)}
    assert {axis for axis, _, _ in _slopes("dihedral")} == {"rows", "columns"}
    img = _stripes()
    ds = CropDataset([img], np.array([0]), np.zeros((1, 0)), 16, 8, seed=3, augment="none")
    for i in range(8):   # no gain or offset either: the crop is the image's pixels
        x = (ds[i][0][0].numpy() + 1) / 2
        assert any(np.allclose(x, img[r:r + 16, :16], atol=1e-6) for r in range(49))


def test_same_crop_stream_as_the_boolean_and_a_bad_value_refused() -> None:
    img = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    a = CropDataset([img], np.array([0]), np.zeros((1, 0)), 16, 6, seed=2, augment=True)
    b = CropDataset([img], np.array([0]), np.zeros((1, 0)), 16, 6, seed=2, augment="dihedral")
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(6))
    with pytest.raises(InputError, match="augment must be one of dihedral, flips, none, got 'turns'"):
        CropDataset([img], np.array([0]), np.zeros((1, 0)), 16, 6, augment="turns")


def test_cli_records_the_augmentation_and_resume_keeps_it(tmp_path: Path, run_cli,
                                                          one_torch_thread) -> None:
    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    run = tmp_path / "run"
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--max-steps", "1",
                           "--augment", "flips", *TINY_RUN_ARGS)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["augment"] == "flips"
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "2",
                           "--augment", "dihedral")
    assert code == 2 and "--augment dihedral (the run's: flips)" in err, err
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "2")
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["augment"] == "flips"
    # a run saved before the setting existed trained with turns, and says so on a resume
    cfg = json.loads((run / "config.json").read_text())
    del cfg["augment"]
    (run / "config.json").write_text(json.dumps(cfg))
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "3",
                           "--augment", "flips")
    assert code == 2 and "--augment flips (the run's: dihedral)" in err, err


def test_cli_refuses_an_unknown_augmentation(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("train-gan", tmp_path / "m.yaml", "--out", tmp_path / "run",
                           "--augment", "rotate")
    assert code == 2 and "'rotate' is not one of 'dihedral', 'flips', 'none'" in err, err
    assert not (tmp_path / "run").exists()
