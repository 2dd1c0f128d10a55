"""Progress off a terminal: a line every 30 s of a long loop, nothing for a short one."""

from __future__ import annotations

import io

from shapekit import _progress


def _run(monkeypatch, step_s: float, n: int = 10, manual: bool = False) -> str:
    clock = [0.0]
    out = io.StringIO()
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    monkeypatch.setattr(_progress.sys, "stderr", out)      # not a terminal
    monkeypatch.delenv("SHAPEKIT_PROGRESS", raising=False)
    if manual:  # as select_model drives it: update() calls, then close()
        bar = _progress.progress(iter(()), desc="cv fits", total=n)
        for _ in range(n):
            clock[0] += step_s
            bar.update(1)
        bar.close()
    else:
        for _ in _progress.progress(range(n), desc="scans"):
            clock[0] += step_s
    return out.getvalue()


def test_long_loop_writes_lines_and_a_last_one(monkeypatch):
    """10 units of 7 s: lines at 35 s and 70 s (every 30 s), the last one at 10/10 (train-classifier
    and robustness printed nothing for minutes into a log)."""
    text = _run(monkeypatch, 7.0)
    lines = text.splitlines()
    assert [ln.split(" it ")[0] for ln in lines] == ["scans 5/10", "scans 10/10"], text
    assert "ETA" in lines[0]
    manual = _run(monkeypatch, 7.0, manual=True).splitlines()
    assert [ln.split(" it ")[0] for ln in manual] == ["cv fits 5/10", "cv fits 10/10"], manual


def test_short_loop_and_silenced_loop_write_nothing(monkeypatch):
    assert _run(monkeypatch, 1.0) == ""                     # 10 s in all: no line at all
    monkeypatch.setenv("SHAPEKIT_PROGRESS", "0")
    clock = [0.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    out = io.StringIO()
    monkeypatch.setattr(_progress.sys, "stderr", out)
    for _ in _progress.progress(range(10), desc="x"):
        clock[0] += 50.0
    assert out.getvalue() == ""


def test_lines_count_in_the_unit_asked_for(monkeypatch):
    """classify's progress off a terminal read 'classify 5/10 it ... it/s', not its scans."""
    clock = [0.0]
    out = io.StringIO()
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    monkeypatch.setattr(_progress.sys, "stderr", out)
    monkeypatch.delenv("SHAPEKIT_PROGRESS", raising=False)
    for _ in _progress.progress(range(10), desc="classify", total=10, unit="scan"):
        clock[0] += 7.0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("classify 5/10 scan (50 %) ") and " scan/s ETA " in lines[0], lines
    assert " it" not in out.getvalue()
