"""`shapekit demo` at its smallest settings writes summary.json: with 12 images the realism
step's real-vs-real diversity interval is NaN, and the demo ended in an internal error (exit 1,
"Out of range float values are not JSON compliant") after doing all its work. The shipped
generator's iterations in it are its whole training (sim-parameters: 18500, as on its card and
in `shapekit models`), not the last fine-tuning stage's (10500)."""

from __future__ import annotations

import json

import pytest


def test_smallest_demo_writes_its_summary(run_cli, tmp_path, one_torch_thread):
    pytest.importorskip("torch")
    from shapekit.registry import available

    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "--out", out, "--n", "12", "--size", "64",
                                "--gan-steps", "1", "--json")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(stdout)["realism"] == summary["realism"]       # NaN written as null
    card = next(c for c in available("generator") if c["name"] == summary["generator"]["name"])
    assert summary["generator"]["iterations"] == card["iterations"] == 18500
