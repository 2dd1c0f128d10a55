"""``train-gan --batch-size 100000 --crop-size 32`` passed the pixel budget (it counted only the
crops, 100000 x 32 x 32), made the run folder and was then killed by the kernel for memory while
it built its first batch of feature maps (the generator draws each crop with 6 latent cells of
margin a side, at 32 channels: 1600 times the crops' pixels). Now a training batch of the
generator's largest feature map is checked against the budget too, before anything is written:
one line, exit 2, no run folder."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_generate import make_tiny_dataset  # noqa: E402


def test_a_batch_whose_feature_maps_exceed_the_budget_is_refused_up_front(tmp_path: Path,
                                                                          run_cli) -> None:
    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    out = tmp_path / "run"
    # the crops, 64 x 32 x 32 = 65536 px, fit the budget of 10^6; the generator's feature maps,
    # 64 x 32 x 128 x 128 = 33.5 M, do not
    code, _, err = run_cli("--max-pixels", "1000000", "train-gan", manifest, "--out", out,
                           "--crop-size", "32", "--batch-size", "64", "--max-steps", "1",
                           "--sample-every", "0", "--checkpoint-every", "1")
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("shapekit: error:")]
    assert len(lines) == 1, err
    assert "feature maps" in lines[0] and "64x32x128x128" in lines[0]
    assert "--batch-size" in lines[0]
    assert not out.exists()


def test_the_same_batch_within_the_budget_trains(tmp_path: Path, run_cli) -> None:
    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    code, _, err = run_cli("--max-pixels", "40000000", "train-gan", manifest, "--out",
                           tmp_path / "run", "--crop-size", "32", "--batch-size", "2",
                           "--channels", "4", "--max-steps", "1", "--sample-every", "0",
                           "--checkpoint-every", "1")
    assert code == 0, err
