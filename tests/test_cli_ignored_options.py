"""Options the chosen mode would ignore are refused (one line, exit 2, before any work), and
inputs that are wrong are named as soon as they can be.

``analyze frames GENERATOR --kinds rotation`` ran 10 s of latent frames, the kinds unused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shapekit: error: "), err
    assert message in lines[0], err


def _boom(*a, **k):
    raise AssertionError("the work started")


def test_frames_of_a_generator_refuses_image_kinds(run_cli, monkeypatch):
    pytest.importorskip("torch")
    import shapekit.analysis.runners as runners

    monkeypatch.setattr(runners, "run_frames", _boom)
    gen = PRETRAINED / "sim-parameters"
    _refused(run_cli("analyze", "frames", gen, "--kinds", "rotation,latent"),
             "Invalid value for '--kinds': rotation: a generator's frames are its latent directions")
    # latent alone, or the default, goes on to the frames
    for extra in (["--kinds", "latent"], []):
        code, _, err = run_cli("analyze", "frames", gen, *extra)
        assert code == 1 and "the work started" in err, err
