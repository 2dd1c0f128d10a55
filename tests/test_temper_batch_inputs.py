"""classify's inputs: every scan once, under the name first given, and symlink loops walked once."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import pytest

from shapekit.temper._globwalk import glob_files
from shapekit.temper.batch import expand_inputs


def _tree(root: Path) -> None:
    for rel in ("a/x.png", "a/b/y.png", "a/b/c/z.tif", "a/.hidden/h.png", "a/.dot.png", "w.png",
                "a/b/notes.txt", "d/e/f/g/deep.png", "a/b/c/e.PNG"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


@pytest.mark.parametrize("pattern", ["**/*.png", "**", "a/**/*.png", "a/**", "**/b/*", "**/*/*.png",
                                     "a/**/c/*", "**/.hidden/*", "**/.*", "d/**/**/*.png",
                                     "a/*/**/*.tif", "*.png", "a/b/*"])
def test_the_walk_matches_what_glob_matches_without_links(tmp_path: Path, pattern: str, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    for pat in (pattern, str(tmp_path / pattern)):
        want = sorted({p for p in glob.glob(pat, recursive=True) if os.path.isfile(p)})
        assert glob_files(pat) == want, pat


def test_a_symlink_loop_gives_each_scan_once_and_ends(tmp_path: Path):
    """`ln -s .. a/up`: glob listed every scan ~40 times (a/up/a/up/...); two loops are 2**40 paths."""
    _tree(tmp_path)
    (tmp_path / "a" / "up").symlink_to("..")
    (tmp_path / "a" / "b" / "up2").symlink_to("../..")
    t0 = time.perf_counter()
    paths = expand_inputs([str(tmp_path / "**" / "*.png")])
    assert time.perf_counter() - t0 < 2
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == \
        ["a/b/y.png", "a/x.png", "d/e/f/g/deep.png", "w.png"]


def test_a_scan_named_twice_is_kept_once_under_its_first_name(tmp_path: Path):
    _tree(tmp_path)
    (tmp_path / "link.png").symlink_to(tmp_path / "w.png")
    (tmp_path / "links").symlink_to(tmp_path / "a")
    got = expand_inputs([tmp_path / "link.png", tmp_path / "w.png", str(tmp_path / "links" / "*.png"),
                         tmp_path / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["link.png", "links/x.png"]
