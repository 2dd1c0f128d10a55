"""Report of a realism score: PNG figures (Betti curves, summary histograms, two-point curves) + HTML.

Every file is written atomically (temporary file + rename). The HTML page is self-contained apart
from the PNGs next to it (relative links) and lists the headline numbers with their baseline.

References
----------
.. [1] Howland, S. et al. "Parameters, properties, and process: conditional neural generation of
   realistic SEM imagery towards ML-assisted advanced manufacturing", arXiv:2302.08495 (2023).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from shapekit._atomic import atomic_path, write_text

__all__ = ["write_report", "plot_betti", "plot_summaries", "plot_two_point"]

REAL, FAKE = "#1f77b4", "#d62728"


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    plt.close(fig)


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, np.ndarray]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    return fig, ax


def plot_betti(path: str | os.PathLike[str], real: Any, fake: Any) -> Path:
    """Mean +/- one standard deviation Betti curves per diagram kind, real vs synthetic.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from shapekit.realism.summaries import image_features
    >>> rng = np.random.default_rng(0)
    >>> fs = image_features([rng.random((16, 16)) for _ in range(2)])
    >>> plot_betti(pathlib.Path(tempfile.mkdtemp()) / "b.png", fs, fs).exists()
    True
    """
    blocks = list(real.blocks)
    fig, ax = _figure(1, len(blocks), (3.2 * len(blocks), 2.8))
    for j, block in enumerate(blocks):
        a = ax[0, j]
        for fs, colour, lab in ((real, REAL, "real"), (fake, FAKE, "synthetic")):
            m, s = fs.betti[:, j].mean(0), fs.betti[:, j].std(0)
            a.plot(fs.grid, m, color=colour, label=lab)
            a.fill_between(fs.grid, m - s, m + s, color=colour, alpha=0.2)
        a.set_title(block.name)
        a.set_xlabel("grey level")
        if j == 0:
            a.set_ylabel("Betti number / 10^4 px")
            a.legend(fontsize=8)
    return _done(fig, path)


def _done(fig: Any, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    _save(fig, p)
    return p


def plot_summaries(path: str | os.PathLike[str], result: dict, real: Any, fake: Any, n: int = 6) -> Path:
    """Histograms real vs synthetic of the ``n`` summaries that differ most (standardised W1).

    ``result`` is the dict of :func:`shapekit.realism.score`; see :func:`write_report` for an example.
    """
    names = result["top_summaries"][:n] or list(real.names[:n])
    fig, ax = _figure(1, len(names), (3.0 * len(names), 2.6))
    for j, name in enumerate(names):
        c = real.names.index(name)
        a = ax[0, j]
        vals = np.concatenate([real.summaries[:, c], fake.summaries[:, c]])
        bins = np.histogram_bin_edges(vals, bins=20)
        a.hist(real.summaries[:, c], bins=bins, color=REAL, alpha=0.5, density=True, label="real")
        a.hist(fake.summaries[:, c], bins=bins, color=FAKE, alpha=0.5, density=True, label="synthetic")
        a.set_title(f"{name}\nW1={result['summaries'][name]['w1_std']:.2f} sd", fontsize=8)
        if j == 0:
            a.legend(fontsize=7)
    return _done(fig, path)


def plot_two_point(path: str | os.PathLike[str], result: dict, mat_real: dict, mat_fake: dict) -> Path:
    """Two-point correlation curves (mean and spread) and mean chord-length histograms.

    ``mat_real``/``mat_fake`` come from :func:`shapekit.realism.materials.materials_statistics`;
    see :func:`write_report` for an example.
    """
    fig, ax = _figure(1, 2, (8.0, 3.0))
    tp = result["two_point"]
    r = np.asarray(tp["r_px"])
    for st, colour, lab in ((mat_real, REAL, "real"), (mat_fake, FAKE, "synthetic")):
        s2 = st["two_point"][:, : len(r)]
        ax[0, 0].plot(r, s2.mean(0), color=colour, label=lab)
        ax[0, 0].fill_between(r, s2.mean(0) - s2.std(0), s2.mean(0) + s2.std(0), color=colour, alpha=0.2)
        edges = st["chord_bins"]
        ax[0, 1].step(edges[:-1], st["chord_hist"].mean(0), where="post", color=colour, label=lab)
    ax[0, 0].set_xlabel("r (px)")
    ax[0, 0].set_ylabel("S2(r)")
    ax[0, 0].set_title(f"two-point correlation (distance {tp['distance']:.4f})", fontsize=9)
    ax[0, 0].legend(fontsize=8)
    ax[0, 1].set_xscale("log")
    ax[0, 1].set_xlabel("chord length (px)")
    ax[0, 1].set_title("chord-length distribution", fontsize=9)
    return _done(fig, path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not np.isfinite(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return html.escape(str(v))


def write_report(out_dir: str | os.PathLike[str], result: dict, real: Any, fake: Any,
                 mat_real: dict, mat_fake: dict) -> Path:
    """Write ``betti.png``, ``summaries.png``, ``two_point.png`` and ``report.html`` to ``out_dir``.

    Returns
    -------
    Path
        The HTML file.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from shapekit.realism import score
    >>> rng = np.random.default_rng(0)
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = score([rng.random((24, 24)) for _ in range(6)], [rng.random((24, 24)) for _ in range(6)],
    ...           n_boot=3, n_perm=3, report_dir=d)          # calls write_report
    >>> sorted(p.name for p in d.iterdir())
    ['betti.png', 'report.html', 'summaries.png', 'two_point.png']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_betti(out / "betti.png", real, fake)
    plot_summaries(out / "summaries.png", result, real, fake)
    plot_two_point(out / "two_point.png", result, mat_real, mat_fake)
    rvr = result["real_vs_real"]
    cov = result["coverage"]
    rows = [("topological distance", result["topological_distance"]),
            ("95% bootstrap CI", result["ci"]["topological_distance"]),
            ("real-vs-real baseline (halves)", f"{_fmt(rvr['mean'])} CI {_fmt(rvr['ci'])}"),
            ("permutation null (same sizes)", f"{_fmt(result['permutation_null']['mean'])} "
                                               f"CI {_fmt(result['permutation_null']['ci'])}"),
            ("p-value (same distribution)", result["p_value"]),
            *[(f"component {k}", v) for k, v in result["components"].items()],
            ("coverage (expected if same)", f"{_fmt(cov['coverage'])} ({_fmt(cov['expected_if_same'])})"),
            ("precision / recall / density", f"{_fmt(cov['precision'])} / {_fmt(cov['recall'])} / "
                                             f"{_fmt(cov['density'])}"),
            ("diversity ratio", cov["diversity_ratio"]),
            ("mode collapse flagged", cov["collapsed"]),
            ("two-point distance", result["two_point"]["distance"]),
            ("phase fraction real / synthetic", f"{_fmt(result['materials']['phase_fraction']['real_mean'])} / "
                                                f"{_fmt(result['materials']['phase_fraction']['fake_mean'])}"),
            ("KID", "not computed (no local extractor)" if result["kid"] is None
             else f"{_fmt(result['kid']['kid_mean'])} +/- {_fmt(result['kid']['kid_std'])}"),
            ("images real / synthetic", f"{result['n_real']} / {result['n_fake']}")]
    table = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows)
    top = "\n".join(f"<li>{html.escape(n)}: {result['summaries'][n]['w1_std']:.3g} real sd "
                    f"(CI {_fmt(result['summaries'][n]['ci'])})</li>" for n in result["top_summaries"])
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in result.get("warnings", []))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>shapekit realism report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} th{{text-align:left;padding-right:1em}}
img{{max-width:100%}}</style></head><body>
<h1>Topological realism report</h1>
<table>{table}</table>
<p>topological_distance = (d_summaries + d_mmd + d_energy) / 3; see shapekit.realism.setstats.
The real-vs-real baseline scores random halves of the real set against each other.</p>
<h2>Summaries that differ most</h2><ul>{top}</ul>
{"<h2>Warnings</h2><ul>" + warn + "</ul>" if warn else ""}
<h2>Betti curves</h2><img src="betti.png" alt="Betti curves">
<h2>Summary distributions</h2><img src="summaries.png" alt="summary histograms">
<h2>Two-point correlation and chord lengths</h2><img src="two_point.png" alt="two-point curves">
</body></html>
"""
    write_text(out / "report.html", page)
    return out / "report.html"
