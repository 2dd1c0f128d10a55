"""The README's API snippet runs and gives what its comment says."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_pipeline_snippet_runs():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## API"):text.index("## CLI reference")]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)   # noqa: S102 - our own README
    assert ns["X"].shape == (4, 324)
    assert ns["pipe"].get_feature_names_out()[0] == "s1_sublevel_h0_n_pairs"


def test_readme_sim_sweep_caption():
    """docs/sim_sweep.png (benchmarks/gan_figures.py, seed 0) as the README tells it: the radius
    measured on the shipped sim-parameters images goes back on the first step at 150 C (4.27 ->
    4.22 nm; the README said it rose along every sweep) and rises along the rest of that row."""
    import numpy as np
    import pytest

    pytest.importorskip("torch")
    from shapekit.generate import load_generator
    from shapekit.registry import resolve
    from shapekit.synth import measure_structure, process_model

    assert "first step at\n150 C (4.27 -> 4.22 nm" in README.read_text(encoding="utf-8")
    gen = load_generator(resolve("sim-parameters", "generator"), device="cpu")
    radii = []
    for t in np.geomspace(0.3, 60.0, 6):       # the figure's first row: 150 C, seed 0, 160 px
        truth = process_model(150.0, float(t))
        im = gen.sample(1, label=str(truth["temper"]), seed=0, size=160,
                        conditions={"aging_temperature_C": 150.0, "aging_time_h": float(t)})[0]
        radii.append(measure_structure(im, gen.um_per_px)["mean_radius_nm"])
    assert abs(radii[0] - 4.27) < 0.02 and abs(radii[1] - 4.22) < 0.02 and radii[1] < radii[0], radii
    assert all(np.diff(radii[1:]) > 0), radii
