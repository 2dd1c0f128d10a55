"""The progress line's rate and ETA: set-up before the first unit is not counted as a unit's cost."""

from __future__ import annotations

import io

from shapekit import _progress


def test_rate_counts_from_the_first_unit(monkeypatch):
    """10 s of set-up, then 1 s per unit: after 5 units the line reads 1 it/s and ETA 5 s (the
    overall average, 5 units in 14 s, read 0.357 it/s and ETA 14 s)."""
    clock = [0.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    out = io.StringIO()
    r = _progress.Reporter(10, "training", every_s=1e9, stream=out, bar=False, silent=False)
    for n in range(1, 6):
        clock[0] = 10.0 + (n - 1)      # unit 1 ends after the set-up, then one a second
        r.update(n)
    r._line(clock[0])
    line = out.getvalue().strip()
    assert "5/10 it (50 %) 1 it/s ETA" in line and _progress._duration(5.0) in line, line
    # one unit only: nothing to tell set-up from work, the overall average is all there is
    out2 = io.StringIO()
    clock[0] = 0.0
    r2 = _progress.Reporter(10, "training", every_s=1e9, stream=out2, bar=False, silent=False)
    clock[0] = 4.0
    r2.update(1)
    r2._line(clock[0])
    assert "1/10 it (10 %) 0.25 it/s" in out2.getvalue(), out2.getvalue()
