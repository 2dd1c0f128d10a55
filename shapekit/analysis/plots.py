"""PNG plots for the invariance, frequency and DNA tools (matplotlib, Agg, atomic writes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(*args, **kwargs):
    from shapekit._mpl import headless

    headless()
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(*args, **kwargs)


def _save(plt, fig, path: str | Path) -> Path:
    from shapekit._atomic import atomic_path

    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def readable_log_axis(axis) -> None:
    """Label a log-scaled matplotlib ``axis`` with plain numbers (0.95, 1, 2) where they are short.

    Over less than a decade matplotlib labels the minor ticks of a log axis like ``9.5x10^-1``.
    While the axis stays within [0.001, 10000) the labels become plain numbers (3 significant
    digits, more on a very narrow axis); which ticks carry a label is still matplotlib's choice.
    Wider axes keep ``10^k``.

    Examples
    --------
    >>> plt, fig, ax = _figure()
    >>> ax.set_yscale("log"); _ = ax.set_ylim(0.95, 1.013); readable_log_axis(ax.yaxis)
    >>> fig.canvas.draw(); [t.get_text() for t in ax.get_yticklabels(minor=True)][:3]
    ['0.95', '0.96', '0.97']
    >>> plt.close(fig)
    """
    from matplotlib.ticker import LogFormatterSciNotation

    class _Plain(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            text = super().__call__(x, pos)
            lo, hi = sorted(self.axis.get_view_interval()) if self.axis is not None else (0, 0)
            if not text or not (1e-3 <= lo and hi < 1e4):
                return text
            digits = max(3, 3 + int(np.ceil(-np.log10(max((hi - lo) / hi, 1e-12)))))
            return np.format_float_positional(x, precision=digits, fractional=False, trim="-")

    base = getattr(axis.get_transform(), "base", 10)
    axis.set_major_formatter(_Plain(base))
    # every minor tick labelled below 0.6 decades (matplotlib: 0.4), so 0.7-1.8 is not "1" alone
    axis.set_minor_formatter(_Plain(base, labelOnlyBase=False, minor_thresholds=(1, 0.6)))


def plot_frequency(report: dict, path: str | Path) -> Path:
    """Radial sensitivity and power curves (log-log) beside both centred 2-D maps.

    ``report`` is the output of :func:`shapekit.analysis.frequency.frequency_report`.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from shapekit.analysis.frequency import frequency_report
    >>> rep = frequency_report(lambda t: t.mean((1, 2, 3)), torch.rand(3, 1, 8, 8))
    >>> plot_frequency(rep, pathlib.Path(tempfile.mkdtemp()) / "f.png").exists()
    True
    """
    plt, fig, axes = _figure(1, 3, figsize=(11, 3.4))
    f = np.asarray(report["freqs"])
    keep = f > 0
    s = np.asarray(report["sensitivity"])[keep]
    p = np.asarray(report["power"])[keep]
    ax = axes[0]
    ax.semilogy(f[keep], s / max(s.max(), 1e-30), label="sensitivity (model)")
    ax.semilogy(f[keep], p / max(p.max(), 1e-30), label="power (data)")
    ax.set_xlabel("frequency |k| (cycles/pixel)")
    readable_log_axis(ax.yaxis)
    ax.set_ylabel("radial mean / max")
    ax.set_title(f"Spearman {report['spearman']:.2f}")
    ax.legend(fontsize=8)
    for ax, key, title in ((axes[1], "sensitivity_map", "sensitivity"),
                           (axes[2], "power_map", "data power (log)")):
        m = np.fft.fftshift(np.asarray(report[key]))
        h, w = m.shape       # centred: zero frequency in the middle, -0.5 at the first row/column
        extent = (-0.5 - 0.5 / w, 0.5 - 0.5 / w, 0.5 - 0.5 / h, -0.5 - 0.5 / h)
        ax.imshow(np.log10(m + 1e-12 * m.max()) if "power" in key else m, cmap="magma", extent=extent)
        ax.set_title(f"{title}, 0 at the centre", fontsize=10)
        ax.set_xlabel("k_x (cycles/pixel)")
        ax.set_ylabel("k_y (cycles/pixel)")
    return _save(plt, fig, path)


def plot_dna_ranges(result: dict, path: str | Path) -> Path:
    """Bar chart of the learned per-class rotation range with the global (Augerino) range.

    ``result`` as returned by :func:`shapekit.analysis.dna_scans.dna_on_scans` (keys
    ``dna_rotation_deg`` and ``global_rotation_deg``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> res = {"dna_rotation_deg": {"0": 170.0, "6": 30.0}, "global_rotation_deg": 80.0}
    >>> plot_dna_ranges(res, pathlib.Path(tempfile.mkdtemp()) / "d.png").exists()
    True
    """
    plt, fig, ax = _figure(figsize=(5, 3.4))
    ranges = result["dna_rotation_deg"]
    ax.bar([str(k) for k in ranges], list(ranges.values()), color="tab:blue",
           label="per-input policy (median per class)")
    ax.axhline(result["global_rotation_deg"], color="tab:red", ls="--", label="global range")
    ax.set_xlabel("class")
    ax.set_ylabel("learned rotation range (deg)")
    ax.set_ylim(0, 185)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_eed_layers(scores: dict[str, dict[str, dict[str, float]]], path: str | Path,
                    title: str = "") -> Path:
    """Line plot of normalised EED per layer: one line per (model, group).

    ``scores[model][group][layer] = score``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> s = {"cnn": {"rot90": {"a": 0.5, "output": 0.2}}}
    >>> plot_eed_layers(s, pathlib.Path(tempfile.mkdtemp()) / "e.png").exists()
    True
    """
    plt, fig, ax = _figure(figsize=(7, 3.6))
    for model, per_group in scores.items():
        for group, per_layer in per_group.items():
            ax.plot(list(per_layer), list(per_layer.values()), marker="o", label=f"{model} / {group}")
    ax.set_ylabel("normalised EED (0 = invariant)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    return _save(plt, fig, path)
