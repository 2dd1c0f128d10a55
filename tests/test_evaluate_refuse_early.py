"""``shapekit evaluate`` / ``robustness`` refuse a manifest whose labels the model never saw from
the model's config, before the model loads (it loaded first: 2.5 s for the shipped uhcs3)."""

from __future__ import annotations

import numpy as np
from cli_helpers import forbid
import pytest


@pytest.fixture()
def other_labels(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"x{i}.png"), (rng.random((64, 64)) * 255).astype(np.uint8))
    (tmp_path / "labels.csv").write_text("file,label\nx0.png,0\nx1.png,180\n")
    (tmp_path / "m.yaml").write_text("name: m\nroot: .\ntable: labels.csv\nimages_dir: .\n"
                                     "image: file\nlabel: label\n")
    return tmp_path / "m.yaml"


@pytest.mark.parametrize("cmd", ["evaluate", "robustness"])
def test_unseen_labels_are_refused_before_the_model_loads(run_cli, monkeypatch, other_labels, cmd):
    import shapekit.temper.modeldir

    forbid(monkeypatch, "the model was loaded", (shapekit.temper.modeldir, "load_model"))
    code, out, err = run_cli(cmd, "uhcs3", other_labels)
    assert code == 2 and out == "", err
    assert err.strip() == (f"shapekit: error: {other_labels}: label(s) ['0', '180'] were not seen "
                           "in training (model labels: ['carbide_network', 'pearlite', 'spheroidite'])")
