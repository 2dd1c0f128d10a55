"""A second ``generate`` into the same --out that failed or was stopped midway damaged the first
run's set: its clean-up deleted this run's files, among them the earlier images it had already
overwritten (same gen_NNNNN names), while the earlier conditions.csv still listed them. Now the
new images are written into a hidden staging folder in OUT and moved into place only when all of
them (and the table and grid) are written: a failed or stopped run leaves OUT byte for byte as it
was; a run that succeeds still leaves exactly its own set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402

from test_generate_sigterm import SCRIPT  # generate, SIGTERM while writing its third image


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    return tiny_export(tmp_path / "gan", temperature=True)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _first_run(run_cli, gan: Path, out: Path) -> dict[str, bytes]:
    code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out,
                           "--sweep", "T=100:200:2", "--seed", "1")
    assert code == 0, err
    before = _snapshot(out)
    assert sorted(before) == ["conditions.csv", "gen_00000.tif", "gen_00001.tif",
                              "gen_00002.tif", "gen_00003.tif", "preview/sweep_grid.png"]
    return before


def test_sigterm_in_a_second_run_leaves_the_first_set_as_it_was(gan: Path, run_cli,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "g"
    before = _first_run(run_cli, gan, out)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, "generate", str(gan), "--n", "3", "--size",
                        "16", "--out", str(out), "--sweep", "T=100:200:2", "--seed", "2"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 143, (r.returncode, r.stderr)
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "gen_00002.tif",
                                                     "gen_00003.tif", "preview"]


def test_failed_second_run_leaves_the_first_set_as_it_was(gan: Path, run_cli, tmp_path: Path,
                                                          monkeypatch) -> None:
    import shapekit.generate.grid as grid

    out = tmp_path / "g"
    before = _first_run(run_cli, gan, out)
    real, calls = grid.save_image, []

    def failing(image, path, metadata=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(image, path, metadata)

    monkeypatch.setattr(grid, "save_image", failing)
    code, _, _ = run_cli("generate", gan, "--n", "3", "--size", "16", "--out", out, "--seed", "3")
    assert code != 0 and len(calls) == 3
    assert _snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "gen_00002.tif",
                                                     "gen_00003.tif", "preview"]


def test_a_failed_grid_leaves_the_first_set_and_grid_as_they_were(gan: Path, run_cli,
                                                                  tmp_path: Path,
                                                                  monkeypatch) -> None:
    import shapekit.generate.grid as grid

    out, png = tmp_path / "g", tmp_path / "elsewhere" / "grid.png"
    code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out,
                           "--grid", png)
    assert code == 0, err
    before, grid_before = _snapshot(out), png.read_bytes()

    def failing(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(grid, "save_grid", failing)
    code, _, _ = run_cli("generate", gan, "--n", "3", "--size", "16", "--out", out, "--grid", png,
                         "--seed", "5")
    assert code != 0
    assert _snapshot(out) == before and png.read_bytes() == grid_before
    assert sorted(p.name for p in png.parent.iterdir()) == ["grid.png"]


def test_successful_second_run_leaves_exactly_its_own_set(gan: Path, run_cli,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "g"
    before = _first_run(run_cli, gan, out)
    code, _, err = run_cli("generate", gan, "--n", "1", "--size", "16", "--out", out,
                           "--seed", "4", "--format", "png")
    assert code == 0 and "removed 4 images of an earlier run" in err, err
    after = _snapshot(out)
    # the earlier preview is not this run's output and stays, as before; no staging is left
    assert sorted(after) == ["conditions.csv", "gen_00000.png", "preview/sweep_grid.png"]
    assert after["preview/sweep_grid.png"] == before["preview/sweep_grid.png"]
    assert b"gen_00000.png" in after["conditions.csv"]


def test_score_and_classify_never_read_a_staging_folder(gan: Path, run_cli, tmp_path: Path) -> None:
    # a staging folder left by a killed run (SIGKILL: no clean-up) is not read as images
    from shapekit.realism import load_image_set
    from shapekit.temper.batch import expand_inputs

    out = tmp_path / "g"
    assert run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out)[0] == 0
    (out / ".generate-left").mkdir()
    (out / ".generate-left" / "gen_00000.tif").write_bytes((out / "gen_00000.tif").read_bytes())
    assert len(load_image_set(out)[0]) == 2
    assert [p.name for p in expand_inputs([out])] == ["gen_00000.tif", "gen_00001.tif"]


def test_a_sigterm_while_the_set_is_moved_into_place_is_answered_after() -> None:
    import signal

    from shapekit.cli.signals import Terminated, sigterm_deferred, sigterm_raises

    steps = []
    with pytest.raises(Terminated), sigterm_raises():
        with sigterm_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("moved")
        steps.append("not reached")
    assert steps == ["moved"]
