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
    """The pairs over the whole scan cost PAIR_WORK pixels of budget a pixel: a scan over that budget is
    refused at once, before the verdict is computed (it was refused only after classifying it,
    11 s for a 4096x3072 scan), and the message names --map, which needs no pairs and works."""
    import cv2

    from shapekit.temper.explain import PAIR_WORK, explain_scan
    from shapekit.temper.model import TemperModel
    from shapekit.temper.modeldir import load_model

    img = (np.random.default_rng(0).random((300, 400)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "scan.png"), img)
    budget = str(PAIR_WORK * 300 * 400 - 1)          # the scan fits, its pairs do not
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


def _noise_scan(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).random((h, w)).astype(np.float32)


def test_explain_turns_only_the_pairs_it_reports_into_records(monkeypatch):
    """A noisy scan has a pair for every few pixels: every one became a dict (~900 bytes) and had
    its particle measured (0.4 ms each: 2000x1500 px of noise, 437 000 pairs, 57 s and 165 bytes a
    pixel); now the pairs stay a table and only the ``top`` reported ones are measured."""
    from shapekit.temper import explain as E
    from shapekit.temper.modeldir import load_model

    model = load_model("uhcs3")
    calls = []
    measure = E.particle_diameter
    monkeypatch.setattr(E, "particle_diameter", lambda *a, **k: calls.append(1) or measure(*a, **k))
    ex = E.explain_scan(model, _noise_scan(300, 400), top=20)
    assert len(ex.pairs) == 20 and len(calls) <= 20 and ex.n_pairs > 1000
    scores = [r["score"] for r in ex.pairs]
    assert scores == sorted(scores, reverse=True)
    blocks, table, levels = E.model_pair_table(model, ex.scan)          # every pair
    assert len(table.rows) == table.n_pairs == ex.n_pairs
    assert ex.pairs == E.pair_records(table.rows[:20], levels)
    best = max(blocks, key=blocks.get)        # the figure's diagram: every pair of the top block
    in_best = (table.rows[:, 0] == best.scale) & (table.rows[:, 1] == (best.filtration == "superlevel")) \
        & (table.rows[:, 2] == best.dim)
    assert np.array_equal(np.sort(ex.diagram, axis=0), np.sort(table.rows[in_best][:, [3, 4, 8]], axis=0))
    assert len(ex.diagram) > 20
    assert 0.5 * blocks[best] < ex.diagram[:, 2].sum() <= blocks[best] + 1e-9  # less pairs cut by the edge


_RSS_SCRIPT = """
import resource, sys, numpy as np
from shapekit.temper.explain import model_pair_table
from shapekit.temper.modeldir import load_model
import torch
model = load_model("uhcs3")
img = np.random.default_rng(0).random((1024, 768)).astype(np.float32)
model_pair_table(model, img[:64, :64])                 # warm up (imports, first allocations)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
blocks, table, levels = model_pair_table(model, img, 300)       # as explain does
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(grown / img.size, table.n_pairs)
"""


def test_explain_pairs_take_what_the_budget_counts_per_pixel():
    """The pairs of a noisy scan fit the PAIR_WORK words a pixel that the budget counts (about
    255 bytes a pixel with GUDHI on the CPU, against the 320 counted): before, a dict per pair on
    top of GUDHI's complex took about 350 bytes a pixel, over the 256 then counted."""
    import subprocess
    import sys

    from shapekit.temper.explain import PAIR_WORK

    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    per_pixel, n_pairs = float(out[0]), int(out[1])
    assert n_pairs > 50_000 and per_pixel < 4 * PAIR_WORK, per_pixel   # 320 bytes; was ~350


def test_the_server_refuses_pairs_over_the_budget_before_classifying(tmp_path, monkeypatch):
    """The web app's explain option counts the same budget as `shapekit explain`, before the
    verdict (its pairs were checked only inside GUDHI's path, after classifying)."""
    import cv2
    from cli_helpers import forbid

    from shapekit.errors import InputError
    from shapekit.server.services import classify_file
    from shapekit.temper.explain import PAIR_WORK
    from shapekit.temper.model import TemperModel
    from shapekit.temper.modeldir import load_model

    cv2.imwrite(str(tmp_path / "scan.png"), (np.random.default_rng(0).random((300, 400)) * 255).astype(np.uint8))
    model = load_model("uhcs3")
    forbid(monkeypatch, "classified before the pairs' budget was checked", (TemperModel, "assess"))
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", str(PAIR_WORK * 300 * 400 - 1))
    with pytest.raises(InputError, match="--map") as e:
        classify_file(model, tmp_path / "scan.png", "scan.png", explain=True)
    assert "scan.png" in str(e.value) and "\n" not in str(e.value)


def test_the_diagram_colours_only_the_pairs_drawn_on_the_scan():
    """The diagram coloured as many of the top block's pairs as the figure draws in all (--top:
    300), though only those of that block among them are drawn (here 2 of 3): the colours
    claimed pairs that are not on the scan."""
    from shapekit.temper.explain import Explanation, plot_explanation
    from shapekit.topology import Block

    best, other = Block(1, "superlevel", 0), Block(1, "sublevel", 1)
    rec = [{"scale": k.scale, "filtration": k.filtration, "dim": k.dim, "birth": 1.0 + i, "death": 0.0,
            "row": 5.0, "col": 5.0, "score": 0.9 - 0.1 * i} for i, k in enumerate([best, other, best])]
    diagram = np.array([[1.0, 0.0, 0.9], [3.0, 0.0, 0.7], [4.0, 0.0, 0.1], [5.0, 0.0, 0.05]])
    v = {"image": "x", "temper": "a", "probabilities": {"a": 1.0}}
    fig = plot_explanation(Explanation(v, {best: 0.6, other: 0.4}, rec, np.zeros((16, 16)), 3,
                                       diagram=diagram))
    grey, coloured = fig.axes[1].collections
    assert len(grey.get_offsets()) == 4
    assert sorted(map(tuple, coloured.get_offsets())) == [(1.0, 0.0), (3.0, 0.0)]
