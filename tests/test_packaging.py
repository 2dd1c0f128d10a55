"""The source distribution holds what the README's commands need from it.

Built in a subprocess with setuptools' own backend (no network, a few seconds), from a copy of the
checkout without ``*.egg-info`` (setuptools adds the files an old ``SOURCES.txt`` lists).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_sdist_holds_the_test_suite_and_the_install_constraints(tmp_path: Path) -> None:
    """Without MANIFEST.in the sdist held tests/test_*.py but not conftest.py nor the helpers they
    import (pytest stopped with 16 collection errors), and not constraints.txt, which the
    README's install command names. It builds without setuptools' deprecation warnings."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.egg-info", "__pycache__", "build", "dist", ".hypothesis"))
    code = ("import sys, setuptools.build_meta as b; "
            "sys.stdout.write(b.build_sdist(sys.argv[1]))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=src, check=True,
                         capture_output=True, text=True)
    name = run.stdout.strip().splitlines()[-1]
    # the licence as a TOML table is deprecated, and builds with it stop after 2027-02-18
    assert "deprecated" not in run.stderr, run.stderr[-2000:]
    with tarfile.open(tmp_path / name) as t:
        files = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    tests = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert "tests/conftest.py" in tests and tests <= files, sorted(tests - files)[:5]
    for f in ("constraints.txt", "data_manifests/uhcs3.yaml", "benchmarks/ship_classifier.py",
              "shapekit/pretrained/uhcs3/card.json", "shapekit/server/static/index.html"):
        assert f in files, f
    assert not [f for f in files if f.endswith((".pyc", ".nbi", ".nbc"))]
    with tarfile.open(tmp_path / name) as t:
        meta = t.extractfile(f"{name[:-len('.tar.gz')]}/PKG-INFO").read().decode()
    assert "License-Expression: BSD-3-Clause AND CC-BY-3.0-US" in meta and "License-File: LICENSE" in meta
    assert "License-File: LICENSE-MODELS" in meta  # the shipped weights of UHCS data: CC BY 3.0 US
