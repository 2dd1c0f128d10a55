"""``shapekit train-gan --two-point-lag N`` with the two-point term off: the lag is used only when
the term's weight is > 0 (:func:`shapekit.generate.losses.measurement_losses`), so it was
silently ignored by minutes of training; now it is refused (exit 2, one line) before any data
is read. The effective weight is ``--two-point-weight``, or on ``--resume`` the run's own."""

from __future__ import annotations

import json
from pathlib import Path


def _run_dir(tmp_path: Path, weight: float | None) -> Path:
    """A run folder with only a config.json whose model has ``two_point_weight`` (None: none)."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    model = {"g_channels": 4} if weight is None else {"g_channels": 4, "two_point_weight": weight}
    (run / "config.json").write_text(json.dumps({"manifest": str(tmp_path / "m.csv"),
                                                 "model": model}))
    return run


def test_a_lag_without_the_two_point_term_is_refused(run_cli, tmp_path: Path) -> None:
    manifest, out = tmp_path / "m.csv", tmp_path / "new"   # neither read: refused first
    for weight in ((), ("--two-point-weight", "0")):
        code, _, err = run_cli("train-gan", manifest, "--out", out, "--two-point-lag", "8", *weight)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "--two-point-lag 8" in err and "--two-point-weight" in err, err
        assert "manifest" not in err and not out.exists(), err
    # with the term on, the lag is used: the next check speaks (the manifest is missing)
    code, _, err = run_cli("train-gan", manifest, "--out", out, "--two-point-lag", "8",
                           "--two-point-weight", "1")
    assert code == 2 and "two-point" not in err and "manifest not found" in err, err


def test_on_resume_the_runs_own_weight_decides(run_cli, tmp_path: Path) -> None:
    for saved in (None, 0.0):
        run = _run_dir(tmp_path / str(saved), saved)
        code, _, err = run_cli("train-gan", tmp_path / "m.csv", "--out", run, "--resume",
                               "--two-point-lag", "8")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "--two-point-lag 8" in err and "the run's" in err, err
    run = _run_dir(tmp_path / "on", 2.0)          # the run's term is on: the lag changes it
    code, _, err = run_cli("train-gan", tmp_path / "m.csv", "--out", run, "--resume",
                           "--two-point-lag", "8")
    assert "two-point-lag" not in err, err
    run = _run_dir(tmp_path / "given", 0.0)       # turned on now, with its lag
    code, _, err = run_cli("train-gan", tmp_path / "m.csv", "--out", run, "--resume",
                           "--two-point-lag", "8", "--two-point-weight", "1")
    assert "two-point-lag" not in err, err
