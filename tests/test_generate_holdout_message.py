"""``train-gan --holdout 0.8`` on a set with 2 images of each class was refused with "leaves no
training image of class 0": the class's index, not its name, and no count to go by. Now the
message names the class as the manifest does and says how many of its images it has."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_generate import make_tiny_dataset  # noqa: E402


def test_a_holdout_that_leaves_a_class_empty_names_the_class(tmp_path: Path, run_cli) -> None:
    manifest = make_tiny_dataset(tmp_path / "data", n=4)  # labels a, b, a, b
    out = tmp_path / "run"
    code, _, err = run_cli("train-gan", manifest, "--out", out, "--holdout", "0.8",
                           "--crop-size", "32", "--batch-size", "2", "--max-steps", "1")
    assert code == 2, err
    assert ("shapekit: error: --holdout 0.8 holds out all 2 images of class 'a'; "
            "give a smaller --holdout") in err
    assert not out.exists()
