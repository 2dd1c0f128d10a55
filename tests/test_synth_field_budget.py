"""The simulator checks its padded field against the pixel budget before allocating it.

The field is simulated with a margin that grows with the particles, so far outside the
simulator's domain (1000 C for 100 h: particles thousands of pixels across) a 64-px micrograph
asked for a 17742^2 grid and died with MemoryError (1000 C for 1 h: 56 s and ~1 GB); and
``render_micrograph(size=40000)`` allocated 1.6 G pixels unchecked. Both are now one InputError
line, like every other allocation derived from the input.
"""

from __future__ import annotations

import time

import pytest

from shapekit.errors import InputError
from shapekit.synth import render_micrograph


@pytest.mark.parametrize("time_h", [1e8, 1e12])
def test_far_outside_the_domain_is_refused_at_once(time_h):
    """Particles larger than the field: refused before any work. (1000 C is refused as above
    the solvus; particles as large, below it, take 1e12 h, which overran the pixel budget, and
    1e8 h fitted in it but took 46 s to lay out a 128-px field with no particle in view.)"""
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"mean precipitate radius is .* px at 0.002 um/px, more "
                                         r"than half the 128-px field"):
        render_micrograph(200.0, time_h, size=128)
    assert time.perf_counter() - t0 < 2.0
    # the simulator's own domain at its smallest field: still laid out
    assert render_micrograph(220.0, 100.0, size=32)[0].shape == (32, 32)


def test_the_budget_counts_the_margin(monkeypatch):
    assert render_micrograph(200.0, 10.0, size=64)[0].shape == (64, 64)   # 90 x 90 with margin
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "4096")
    with pytest.raises(InputError, match=r"simulated field of 64x64 px .*: \d+x\d+ = \d+ pixels, "
                                         r"over the limit of 4096 pixels"):
        render_micrograph(200.0, 10.0, size=64)


def test_synthesize_checks_every_condition_before_writing(tmp_path):
    """At the finest pixel size a 32-px field cannot hold the over-aged particles (up to 24 nm =
    120 px): refused before the first image, not after the under-aged ones were written."""
    from shapekit.synth import synthesize

    with pytest.raises(InputError, match="more than half the 32-px field"):
        synthesize(6, out_dir=tmp_path / "s", size=32, um_per_px=2e-4, seed=0)
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").rglob("*.png"))
