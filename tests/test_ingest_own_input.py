"""``shapekit ingest scans/*.tif --out scans/`` refuses, before anything is written, to replace a
raw microscope file with its own cleaned copy: it overwrote the original (info bar and all)
with the float32 crop, irreversibly."""

from __future__ import annotations

import numpy as np


def test_an_input_is_never_replaced_by_its_own_output(run_cli, tmp_path, monkeypatch):
    import tifffile

    scan = tmp_path / "scan.tif"
    tifffile.imwrite(scan, (np.random.default_rng(0).random((64, 80)) * 255).astype(np.uint8))
    other = tmp_path / "elsewhere" / "b.png"
    other.parent.mkdir()
    other.write_bytes(b"")
    original = scan.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out in (tmp_path, "."):
        code, stdout, err = run_cli("ingest", other, "scan.tif", "--out", out)
        assert code == 2 and stdout == "", err
        assert err.strip().startswith("shapekit: error: scan.tif would be replaced by its own "
                                      "cleaned copy"), err
        assert err.strip().endswith("give another --out")
        assert scan.read_bytes() == original
        assert not (tmp_path / "scan.json").exists() and not (tmp_path / "b.tif").exists()
    code, _, err = run_cli("ingest", "scan.tif", "--out", tmp_path / "clean")
    assert code == 0, err
