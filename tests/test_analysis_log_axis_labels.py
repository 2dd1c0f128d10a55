"""Log y-axes of the analysis plots read as plain numbers over narrow ranges.

``shapekit analyze frames uhcs3-class --plot`` spans 0.95-1.013 and its ticks read "9.5x10^-1",
"9.6x10^-1", ... "1.01x10^0".
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapekit.analysis.plots import _figure, readable_log_axis


def _labels(lo: float, hi: float) -> list[str]:
    plt, fig, ax = _figure(figsize=(4, 4))
    ax.plot([0, 1], [lo, hi])
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    fig.canvas.draw()
    y0, y1 = ax.get_ylim()
    out = [t.get_text() for minor in (False, True) for t in ax.get_yticklabels(minor=minor)
           if t.get_text() and y0 <= t.get_position()[1] <= y1]
    plt.close(fig)
    return out


def test_narrow_ranges_get_plain_numbers():
    assert _labels(0.95, 1.013) == ["1", "0.95", "0.96", "0.97", "0.98", "0.99", "1.01"]
    assert _labels(0.7, 1.8) == ["1", "0.7", "0.8", "0.9"]  # matplotlib: "10^0" alone
    assert _labels(200, 5000) == ["1000", "200", "300", "400", "600", "2000", "3000", "4000"]
    fine = _labels(0.999, 1.001)
    assert len(set(fine)) == len(fine) >= 3  # enough digits to tell the ticks apart
    assert all("10^" in s for s in _labels(1e-4, 10))  # many decades: powers of ten kept


def test_frames_plot_uses_plain_numbers(run_cli, tmp_path, monkeypatch):
    from shapekit.cli import analysis_geometry
    from shapekit.generate import ConditionCodec, Generator
    from shapekit.generate.export import export_generator

    torch.manual_seed(0)
    g = Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4, 4])
    export_generator(g, ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), tmp_path / "g",
                     crop_size=16)
    figs = []
    monkeypatch.setattr(analysis_geometry, "save_plot", lambda fig, path: figs.append(fig))
    code, _, err = run_cli("analyze", "frames", tmp_path / "g", "--n-inputs", "2", "--plot",
                           tmp_path / "f.png")
    assert code == 0, err
    ax = figs[0].axes[0]
    figs[0].canvas.draw()
    lo, hi = ax.get_ylim()
    assert 1e-3 <= lo and hi < 1e4
    shown = [t.get_text() for m in (False, True) for t in ax.get_yticklabels(minor=m)
             if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert shown and all(float(s) > 0 for s in shown), shown  # "9.5\\times10^{-1}" did not parse
