"""A SIGTERM while generate writes its files (a batch scheduler's stop) left gen_*.tif files
without conditions.csv: the process ended at once. Now the signal winds the run down: what it
wrote is removed, exit code 143 and one line saying so."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402

#: generate, with save_image sending this process a SIGTERM while it writes its third image
SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import shapekit.generate.grid as grid
    from shapekit.cli import main
    real, calls = grid.save_image, []
    def save_image(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)
    grid.save_image = save_image
    main(sys.argv[1:])
""")


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    return tiny_export(tmp_path / "gan")


@pytest.mark.parametrize("fresh", [True, False], ids=["new folder", "existing folder"])
def test_sigterm_while_writing_leaves_no_images_without_their_table(gan: Path, tmp_path: Path,
                                                                     fresh: bool) -> None:
    out = tmp_path / "out"
    if not fresh:
        out.mkdir()
        (out / "mine.txt").write_text("kept")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, "generate", str(gan), "--n", "6", "--size",
                        "32", "--out", str(out)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 143, (r.returncode, r.stderr)
    assert r.stderr.strip().startswith("shapekit: error: stopped by SIGTERM"), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    if fresh:
        assert not out.exists()
    else:
        assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
