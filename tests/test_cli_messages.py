"""A user sees only shapekit's own messages on stderr; ``shapekit -v`` adds the libraries'.

Library warnings (deprecations, Lightning's tips and device banners, third-party UserWarnings)
are hidden by default; shapekit's own warnings (:class:`~shapekit.errors.ShapekitWarning`) are one
``shapekit: warning:`` line each, without a source line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import hostile as H

REPO = Path(__file__).resolve().parents[1]


def _noisy_command():
    from shapekit.cli import app
    from shapekit.errors import ShapekitWarning

    @app.command("_noisy", hidden=True)
    def _noisy() -> None:
        warnings.warn("old API", DeprecationWarning)
        warnings.warn("a library's user warning", UserWarning)
        logging.getLogger("pytorch_lightning.utilities.rank_zero").info("Tip: try litlogger")
        warnings.warn("pixel size unknown", ShapekitWarning)

    return app


def test_only_shapekit_warnings_by_default_all_with_v(run_cli):
    app = _noisy_command()
    try:
        code, out, err = run_cli("_noisy")
        assert code == 0 and err == "shapekit: warning: pixel size unknown\n", err
        code, out, err = run_cli("-v", "_noisy")
    finally:
        app.commands.pop("_noisy")
    assert code == 0
    assert "shapekit: warning: pixel size unknown" in err
    assert "DeprecationWarning" in err and "old API" in err
    assert "a library's user warning" in err and "Tip: try litlogger" in err
    assert "warnings.warn(" not in err  # never a line of source code


def test_filters_are_restored_after_a_command(run_cli):
    app = _noisy_command()
    try:
        run_cli("_noisy")
    finally:
        app.commands.pop("_noisy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("after", UserWarning)
    assert [str(w.message) for w in caught] == ["after"]


def _shapekit(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from shapekit.cli import main; main()",
                           *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_classify_prints_one_shapekit_warning_only(tmp_path):
    """classify printed a UserWarning plus a line of source code; a real run, as a subprocess."""
    from shapekit.temper.train import train_on_images
    from toy import toy_dataset

    imgs, labels = toy_dataset(2, 48, seed=0)
    train_on_images(imgs, labels, tile_size=None, cv_folds=2, augment=0,
                    feature_params={"scales": [1]}, aggregation="features",
                    target_um_per_px=0.1).save(tmp_path / "model")
    img = H.write_png(tmp_path / "scan.png", (H.texture(48, 48) * 255).astype(np.uint8))
    r = _shapekit("classify", tmp_path / "model", img, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the scan has no pixel size: shapekit says so, in one line, and nothing else is printed
    assert r.stderr.startswith("shapekit: warning: ") and r.stderr.count("\n") == 1, r.stderr
    assert "pixel size unknown" in r.stderr


@pytest.mark.slow
def test_train_gan_prints_no_lightning_noise(tmp_path):
    """train-gan printed Lightning's litlogger tip, device banners and deprecations."""
    manifest = H.manifest_folder(tmp_path / "data", n_per_class=2, size=48)
    r = _shapekit("train-gan", manifest, "--out", tmp_path / "gan", "--image-size", "16",
                  "--max-steps", "2", "--batch-size", "2", "--channels", "4",
                  "--sample-every", "0", "--checkpoint-every", "2", "--r1-gamma", "0",
                  "--accelerator", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert all(not x.strip() or x.startswith(("training a", "done:", "shapekit:")) for x in lines), lines
    for noise in ("Tip", "litlogger", "GPU available", "deprecated", "Warning", "Trainer"):
        assert noise not in r.stderr, r.stderr
    assert not (tmp_path / "lightning_logs").exists()  # nothing written beside the run directory
