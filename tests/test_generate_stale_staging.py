"""A ``generate`` killed outright (SIGKILL, out of memory) while writing its set left its hidden
``OUT/.generate-*`` staging folder in OUT for ever: no later run removed it. Now each staging
folder holds ``owner.lock``, locked by its run for as long as the folder is in use; a later run
into OUT removes the folders whose lock it can take (their run is dead) and never one whose run is
still writing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402
pytest.importorskip("fcntl")

#: generate, with save_image doing ACTION before writing its second image
SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    import shapekit.generate.grid as grid
    from shapekit.cli import main
    real, calls = grid.save_image, []
    def save_image(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            if sys.argv[1] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            Path(sys.argv[2]).touch()            # tell the test it is writing
            while not Path(sys.argv[3]).exists():  # and wait for the test's go
                time.sleep(0.05)
        return real(*a, **k)
    grid.save_image = save_image
    main(sys.argv[4:])
""")


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    return tiny_export(tmp_path / "gan")


def _start(action: str, gan: Path, out: Path, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, action, str(tmp_path / "writing"),
                             str(tmp_path / "go"), "generate", str(gan), "--n", "3", "--size",
                             "16", "--out", str(out), "--seed", "7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _stages(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".generate-"))


def test_a_later_run_removes_the_staging_folder_of_a_killed_one(gan: Path, tmp_path: Path,
                                                                run_cli) -> None:
    out = tmp_path / "out"
    p = _start("kill", gan, out, tmp_path)
    p.communicate(timeout=120)
    assert p.returncode == -9
    assert len(_stages(out)) == 1  # what SIGKILL leaves: no handler runs
    code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out)
    assert code == 0, err
    assert _stages(out) == []
    assert "removed 1 staging folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif"]


def test_a_concurrent_run_keeps_the_staging_folder_of_a_live_one(gan: Path, tmp_path: Path,
                                                                 run_cli) -> None:
    out = tmp_path / "out"
    p = _start("wait", gan, out, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "writing").exists():
            assert p.poll() is None and time.monotonic() < deadline, p.stderr and p.stderr.read()
            time.sleep(0.05)
        live = _stages(out)
        assert len(live) == 1
        code, _, err = run_cli("generate", gan, "--n", "2", "--size", "16", "--out", out)
        assert code == 0, err
        assert _stages(out) == live  # the live run's folder, untouched
        assert "staging folder" not in err
    finally:
        (tmp_path / "go").touch()
        _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err  # it finished its own set
    assert _stages(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "gen_00002.tif"]


def test_an_unowned_old_folder_is_named_not_removed(gan: Path, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "out"
    old = out / ".generate-abc123"  # an older shapekit's, or another host's: cannot be checked
    old.mkdir(parents=True)
    (old / "gen_00000.tif").write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    code, _, err = run_cli("generate", gan, "--n", "1", "--size", "16", "--out", out)
    assert code == 0, err
    assert old.is_dir()
    assert ".generate-abc123" in err and "delete" in err
