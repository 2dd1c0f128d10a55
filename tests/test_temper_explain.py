"""Explanations in physical terms: the sizes of the pairs `explain` reports have known answers."""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.temper.explain import particle_diameter, scored_pairs
from shapekit.topology import Block


def _squares(side: int, pitch: int, n: int, bright: bool = True) -> np.ndarray:
    img = np.zeros((n * pitch, n * pitch)) if bright else np.ones((n * pitch, n * pitch))
    for i in range(n):
        for j in range(n):
            r, c = i * pitch + pitch // 2, j * pitch + pitch // 2
            img[r:r + side, c:c + side] = 1.0 - img[r, c]
    return img


@pytest.mark.parametrize("filtration,bright", [("superlevel", True), ("sublevel", False)])
def test_particle_size_is_the_particle_not_the_spacing(filtration, bright):
    """6 px squares 40 px apart: every particle reads 6.77 px (the equivalent-circle diameter of
    36 px), not the ~40 px of twice the distance to the saddle where it merges (session 24)."""
    img = _squares(6, 40, 4, bright)
    img = img + np.random.default_rng(0).uniform(0, 1e-3, img.shape)   # distinct births
    pairs = scored_pairs({1: img}, {Block(1, filtration, 0): 1.0}, shape=img.shape,
                         um_per_px=0.5)
    big = [p for p in pairs if abs(p["death"] - p["birth"]) > 0.5]
    assert 1 <= len(big) <= 15                       # the particles away from the edge
    for p in big:
        assert p["size_px"] == pytest.approx(2 * np.sqrt(36 / np.pi), abs=0.01)
        assert p["size_um"] == pytest.approx(p["size_px"] * 0.5)
        assert p["reach_px"] >= 1                     # the saddle lies outside the particle


def test_particle_diameter_scale_and_window_growth():
    """A disc far larger than the first search window is measured whole."""
    yy, xx = np.mgrid[:301, :301]
    disc = ((yy - 150) ** 2 + (xx - 150) ** 2 <= 100 ** 2).astype(float)
    d = particle_diameter(disc, (150, 150), 0.5)
    assert d == pytest.approx(2 * np.sqrt(disc.sum() / np.pi)) and 199 < d < 201
    assert particle_diameter(1 - disc, (150, 150), 0.5, bright=False) == pytest.approx(d)


def test_explain_refuses_a_scan_too_large_for_its_pairs_before_classifying(tmp_path, run_cli,
                                                                           monkeypatch):
    """The pairs over the whole scan cost 64 pixels of budget a pixel: a scan over that budget is
    refused at once, before the verdict is computed (it was refused only after classifying it,
    11 s for a 4096x3072 scan), and the message names --map, which needs no pairs and works."""
    import cv2

    from shapekit.temper.explain import explain_scan
    from shapekit.temper.model import TemperModel
    from shapekit.temper.modeldir import load_model

    img = (np.random.default_rng(0).random((300, 400)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "scan.png"), img)
    budget = str(64 * 300 * 400 - 1)                 # the scan fits, its pairs do not
    model = load_model("uhcs3")

    def no_verdict(*a, **k):
        raise AssertionError("classified before the pairs' budget was checked")

    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", budget)
    with monkeypatch.context() as m:
        m.setattr(TemperModel, "assess", no_verdict)
        with pytest.raises(Exception, match="--map") as e:
            explain_scan(model, tmp_path / "scan.png")
        assert "AssertionError" not in type(e.value).__name__
    monkeypatch.delenv("SHAPEKIT_MAX_PIXELS")
    code, out, err = run_cli("--max-pixels", budget, "explain", "uhcs3", tmp_path / "scan.png",
                             "--out", tmp_path / "why.png")
    assert code == 2 and "--map" in err and "300" in err and not (tmp_path / "why.png").exists(), err
    code, out, err = run_cli("--max-pixels", budget, "explain", "uhcs3", tmp_path / "scan.png",
                             "--out", tmp_path / "map.png", "--map")
    assert code == 0 and (tmp_path / "map.png").exists(), err
