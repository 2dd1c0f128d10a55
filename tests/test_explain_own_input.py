"""``shapekit explain MODEL scan.png --out scan.png`` refuses before the model loads: the figure
replaced the scan it explains."""

from __future__ import annotations

import numpy as np


def test_explain_never_writes_over_its_image(run_cli, tmp_path, monkeypatch):
    import cv2

    import shapekit.temper.modeldir

    forbid(monkeypatch, "the model was loaded", (shapekit.temper.modeldir, "load_model"))
    scan = tmp_path / "scan.png"
    cv2.imwrite(str(scan), (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    original = scan.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out in (scan, "./scan.png"):
        code, stdout, err = run_cli("explain", "uhcs3", "scan.png", "--out", out)
        assert code == 2 and stdout == "", err
        assert err.strip().startswith("shapekit: error: --out ") and err.strip().endswith(
            "is IMAGE itself: the figure would replace the scan; give another --out"), err
        assert scan.read_bytes() == original
from cli_helpers import forbid
