"""An output table that cannot be created is named as the user gave it: ``classify --out
/proc/r.csv`` said '/proc/.r.csv.lock: no such file or directory' (the lock file beside it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapekit.temper.batch import classify_batch

OUT = "/proc/shapekit-no-such-dir/r.csv"   # never creatable, by root or anyone


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    import cv2

    p = tmp_path / "scan.png"
    cv2.imwrite(str(p), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    return p


def test_uncreatable_table_is_named_not_its_lock(scan: Path) -> None:
    with pytest.raises(OSError) as e:
        classify_batch(None, [scan], OUT)
    assert e.value.filename == OUT


def test_cli_names_the_table(scan: Path, run_cli) -> None:
    code, _, err = run_cli("classify", "uhcs3", scan, "--out", "/proc/r.csv")
    assert code == 2 and err.count("\n") == 1, err
    assert "/proc/r.csv" in err and ".lock" not in err, err
