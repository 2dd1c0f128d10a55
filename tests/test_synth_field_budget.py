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


def test_far_outside_the_domain_is_refused_at_once():
    t0 = time.perf_counter()
    # (1000 C is now refused as above the solvus: particles as large, below it, take 1e12 h)
    with pytest.raises(InputError, match=r"simulated field of 64x64 px with its \d+-px margin .*"
                                         r"over the limit of 268435456 pixels"):
        render_micrograph(220.0, 1e12, size=64)
    assert time.perf_counter() - t0 < 2.0


def test_the_budget_counts_the_margin(monkeypatch):
    assert render_micrograph(200.0, 10.0, size=64)[0].shape == (64, 64)   # 90 x 90 with margin
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "4096")
    with pytest.raises(InputError, match=r"simulated field of 64x64 px .*: \d+x\d+ = \d+ pixels, "
                                         r"over the limit of 4096 pixels"):
        render_micrograph(200.0, 10.0, size=64)
