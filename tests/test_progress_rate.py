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
    # one unit only: nothing tells set-up from work, so no rate and no ETA (see below)
    out2 = io.StringIO()
    clock[0] = 0.0
    r2 = _progress.Reporter(10, "training", every_s=1e9, stream=out2, bar=False, silent=False)
    clock[0] = 4.0
    r2.update(1)
    r2._line(clock[0])
    assert "1/10 it (10 %) ? it/s ETA ? (first 1 it in 0m04s, set-up included)" in out2.getvalue()


def test_a_line_after_the_first_unit_alone_gives_no_rate_or_eta(monkeypatch):
    """A 45-s first training iteration (compilation, data loader start), then 0.1 s each: the
    line written at the first iteration read '0.0222 it/s ETA 24h59m' for a run of 4 minutes.
    It now says the rate is not known yet; the next line has it, and a loop done in its first
    update reports its average and ETA 0."""
    clock = [0.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    out = io.StringIO()
    r = _progress.Reporter(2000, "training", every_s=30.0, stream=out, bar=False, silent=False)
    clock[0] = 45.0
    r.update(1, loss_d=0.5)                      # past every_s: a line
    clock[0] = 75.0
    r.update(301)                                # 300 its in 30 s: 10 it/s, 1699 left
    lines = out.getvalue().splitlines()
    assert lines[0] == ("training 1/2000 it (0 %) ? it/s ETA ? (first 1 it in 0m45s, set-up "
                        "included) | loss_d 0.5"), lines
    assert lines[1].startswith("training 301/2000 it (15 %) 10 it/s ETA 2m50s"), lines
    out2 = io.StringIO()
    clock[0] = 0.0
    r2 = _progress.Reporter(4, "read", every_s=30.0, stream=out2, bar=False, silent=False)
    clock[0] = 40.0
    r2.update(4)
    assert out2.getvalue().startswith("read 4/4 it (100 %) 0.1 it/s ETA 0m00s"), out2.getvalue()


def test_no_notebook_tqdm_in_jupyter():
    """In a Jupyter kernel without ipywidgets, ``tqdm.auto`` warned "IProgress not found. Please
    update jupyter and ipywidgets" into the notebook at shapekit's first progress bar (notebooks 02
    and 03 showed it), and with ipywidgets it drew a widget instead of writing to stderr. shapekit's
    bars are plain tqdm on stderr: no warning, tqdm.notebook never imported."""
    import subprocess
    import sys

    import pytest

    pytest.importorskip("IPython")
    code = """
import sys, types, warnings
import IPython
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # as inside a kernel
warnings.simplefilter("error")
from shapekit._progress import Reporter, progress
assert list(progress([1, 2], disable=True)) == [1, 2]
r = Reporter(2, "x", bar=True, silent=False, stream=sys.stderr)
r.update(2)
r.close()
assert "tqdm.notebook" not in sys.modules, "tqdm.notebook imported"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def _fake_tqdm_clock(monkeypatch) -> list[float]:
    import tqdm.std

    clock = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: clock[0])
    monkeypatch.setattr(tqdm.std.tqdm, "monitor_interval", 0)
    return clock


def test_terminal_bar_rate_counts_from_the_first_unit(monkeypatch):
    """On a terminal (tqdm) the first training iteration's time held the set-up: 45 s of start,
    then 1 it/s, read '45.00s/it' and ETA 24h58m at iteration 1 and was still ~5 s/it four
    iterations later. The bar now says '?' until a second iteration ends, then 1 it/s."""
    clock = _fake_tqdm_clock(monkeypatch)
    out = io.StringIO()
    r = _progress.Reporter(2000, "training", unit="it", stream=out, bar=True, silent=False)
    clock[0] = 45.0
    r.update(1)
    assert "1/2000 [00:45<?, ?it/s]" in str(r._bar), str(r._bar)
    for n in range(2, 6):
        clock[0] = 45.0 + (n - 1)
        r.update(n)
    assert "5/2000 [00:49<33:15,  1.00it/s]" in str(r._bar), str(r._bar)
    r.close()


def test_terminal_progress_loop_rate_counts_from_the_first_item(monkeypatch):
    """progress() over an iterable whose first item waits on a set-up (a worker pool's start)."""
    clock = _fake_tqdm_clock(monkeypatch)
    monkeypatch.setenv("SHAPEKIT_PROGRESS", "1")
    seen = []
    bar = _progress.progress(range(10), desc="read", total=10)
    for i in bar:
        clock[0] = 20.0 + 0.5 * i           # 20 s set-up, then 2 items/s
        seen.append(str(bar))
    assert "1/10 [00:20<?, ?it/s]" in seen[1], seen   # seen[k]: the bar with k items done
    assert "5/10 [00:22<00:02,  2.00it/s]" in seen[5], seen
