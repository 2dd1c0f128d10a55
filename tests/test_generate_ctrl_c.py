"""Ctrl-C during ``generate`` ended with ``shapekit: error: aborted`` (and a blank line): nothing
said whether OUT had been left half-written. The run was wound down properly (its files
removed), so it now says so, as a SIGTERM does: one line, exit 130, OUT as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_export  # noqa: E402

from test_generate_sigterm import SCRIPT  # noqa: E402  (sends SIGTERM at the third image)


#: a shell that starts the tests in the background (``pytest ... &``, as a CI script may) leaves
#: SIGINT ignored in its children, and Python then keeps it ignored: Ctrl-C is answered as a
#: terminal delivers it, so the child takes the default handler back first
DEFAULT_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


@pytest.fixture
def gan(tmp_path: Path) -> Path:
    return tiny_export(tmp_path / "gan")


def test_ctrl_c_while_writing_says_what_is_left(gan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}
    script = DEFAULT_SIGINT + SCRIPT.replace("signal.SIGTERM", "signal.SIGINT")
    r = subprocess.run([sys.executable, "-c", script, "generate", str(gan), "--n", "6", "--size",
                        "32", "--out", str(out)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert r.stderr.strip().splitlines()[-1] == (
        f"shapekit: error: stopped by Ctrl-C: no half-written set is left in {out}; run the same "
        "command again")
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


#: generate, with a Ctrl-C arriving after the first image of the finished set is moved into OUT
COMMIT_SCRIPT = """
import os, signal, sys
from shapekit.cli import main
real, moved = os.replace, []
def replace(src, dst, *a, **k):
    real(src, dst, *a, **k)
    if "/.generate-" in str(src) and ".generate-" not in str(dst):
        moved.append(dst)
        if len(moved) == 1:
            os.kill(os.getpid(), signal.SIGINT)
os.replace = replace
main(sys.argv[1:])
"""


def test_ctrl_c_while_the_set_moves_into_place_is_answered_after_it(gan: Path,
                                                                    tmp_path: Path) -> None:
    # it stopped the move halfway: OUT kept the first image without its conditions.csv
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHAPEKIT_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-c", DEFAULT_SIGINT + COMMIT_SCRIPT, "generate", str(gan), "--n", "3",
                        "--size", "32", "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert sorted(p.name for p in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "gen_00002.tif"]
