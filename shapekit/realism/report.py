"""Report of a realism score: the verdict, thumbnails of both sets, the numbers, then the plots.

``report.html`` opens with one sentence per question (:mod:`shapekit.realism.verdict`), then
thumbnails of both sets side by side (the same field of view in pixels at the common scale, so
feature sizes can be compared by eye), each set called by its name, then tables and PNG plots:
imaging descriptors, structure Betti curves and two-point curves, and the combined headline's
Betti curves and summary histograms. Every file is written atomically; the page is self-contained
apart from the PNGs next to it.

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

from shapekit._atomic import atomic_path, write_bytes, write_text

__all__ = ["write_report", "thumbnails", "plot_betti", "plot_summaries", "plot_two_point", "plot_imaging"]

#: every figure a report may hold; a report rewritten into its folder removes those it does not show
FIGURES = ("thumbs_reference.png", "thumbs_compared.png", "imaging.png", "structure_betti.png", "two_point.png",
           "betti.png", "summaries.png")

REAL, FAKE = "#1f77b4", "#d62728"


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, np.ndarray]:
    from shapekit._mpl import headless

    headless()
    import matplotlib.pyplot as plt

    # constrained: each panel leaves room for its neighbour's tick labels (fixed spacing drew them over it)
    fig, ax = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
    return fig, ax


def thumbnails(path: str | os.PathLike[str], images: list[np.ndarray], *, n: int = 8, cols: int = 4,
               crop: int = 256, size: int = 128) -> Path:
    """A PNG mosaic of ``n`` evenly spaced images, centre crops of ``crop`` px shown at ``size`` px.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib, cv2
    >>> p = thumbnails(pathlib.Path(tempfile.mkdtemp()) / "t.png", [np.full((40, 50), 0.5)] * 3, crop=32, size=16)
    >>> cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape
    (18, 54)
    """
    import cv2

    idx = np.unique(np.linspace(0, len(images) - 1, min(n, len(images))).round().astype(int))
    tiles = []
    for i in idx:
        a = np.asarray(images[i], dtype=np.float32)
        h, w = a.shape
        c = min(crop, h, w)
        a = a[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c]
        a = cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA if c > size else cv2.INTER_LINEAR)
        tiles.append(np.pad(np.clip(a, 0, 1), 1, constant_values=1.0))
    cols = min(cols, len(tiles))
    rows = -(-len(tiles) // cols)
    tiles += [np.ones_like(tiles[0])] * (rows * cols - len(tiles))
    mosaic = np.vstack([np.hstack(tiles[r * cols:(r + 1) * cols]) for r in range(rows)])
    ok, buf = cv2.imencode(".png", np.round(mosaic * 255).astype(np.uint8))
    write_bytes(path, buf.tobytes())
    return Path(path)


def plot_betti(path: str | os.PathLike[str], real: Any, fake: Any, names: tuple[str, str] = ("real", "synthetic"),
               xlabel: str = "grey level") -> Path:
    """Mean +/- one standard deviation Betti curves per diagram kind, one colour per set (the band
    stops at 0: Betti numbers are counts).

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
        for fs, colour, lab in ((real, REAL, names[0]), (fake, FAKE, names[1])):
            m, s = fs.betti[:, j].mean(0), fs.betti[:, j].std(0)
            a.plot(fs.grid, m, color=colour, label=lab)
            a.fill_between(fs.grid, np.maximum(m - s, 0.0), m + s, color=colour, alpha=0.2)  # counts: >= 0
        a.set_title(block.name)
        a.set_xlabel(xlabel)
        if j == 0:
            a.set_ylabel("Betti number / 10^4 px")
            a.legend(fontsize=8)
    return _save(fig, Path(path))


def plot_summaries(path: str | os.PathLike[str], columns: dict, top: list[str], real: Any, fake: Any,
                   names: tuple[str, str] = ("real", "synthetic"), n: int = 6) -> Path:
    """Histograms of the ``n`` summaries that differ most (``top``; ``columns`` gives their W1).

    ``columns`` and ``top`` are a block's of :func:`shapekit.realism.calibration.compare_pooled`.
    """
    sel = top[:n] or list(real.names[:n])
    fig, ax = _figure(1, len(sel), (3.0 * len(sel), 2.6))
    for j, name in enumerate(sel):
        c = real.names.index(name)
        a = ax[0, j]
        bins = np.histogram_bin_edges(np.concatenate([real.summaries[:, c], fake.summaries[:, c]]), bins=20)
        a.hist(real.summaries[:, c], bins=bins, color=REAL, alpha=0.5, density=True, label=names[0])
        a.hist(fake.summaries[:, c], bins=bins, color=FAKE, alpha=0.5, density=True, label=names[1])
        a.set_title(f"{name}\nW1={columns[name]['w1_std']:.2f} sd", fontsize=8)
        if j == 0:
            a.legend(fontsize=7)
    return _save(fig, Path(path))


def plot_two_point(path: str | os.PathLike[str], mat_real: dict, mat_fake: dict,
                   names: tuple[str, str] = ("real", "synthetic")) -> Path:
    """Two-point correlation curves (mean and spread) and mean chord-length histograms.

    ``mat_real``/``mat_fake`` come from :func:`shapekit.realism.materials.materials_statistics`.
    """
    fig, ax = _figure(1, 2, (8.0, 3.0))
    r_max = min(mat_real["two_point"].shape[1], mat_fake["two_point"].shape[1])
    step = int(mat_real.get("step", 1))
    r = step * np.arange(r_max)
    for st, colour, lab in ((mat_real, REAL, names[0]), (mat_fake, FAKE, names[1])):
        s2 = st["two_point"][:, :r_max]
        ax[0, 0].plot(r, s2.mean(0), color=colour, label=lab)
        ax[0, 0].fill_between(r, s2.mean(0) - s2.std(0), s2.mean(0) + s2.std(0), color=colour, alpha=0.2)
        ax[0, 1].step(step * st["chord_bins"][:-1], st["chord_hist"].mean(0), where="post", color=colour, label=lab)
    ax[0, 0].set(xlabel="r (px)", ylabel="S2(r)")
    ax[0, 0].set_title("two-point correlation of the bright phase", fontsize=9)
    ax[0, 0].legend(fontsize=8)
    ax[0, 1].set_xscale("log")
    ax[0, 1].set_xlabel("chord length (px)")
    ax[0, 1].set_title("chord-length distribution", fontsize=9)
    return _save(fig, Path(path))


def plot_imaging(path: str | os.PathLike[str], real_images: list[np.ndarray], fake_images: list[np.ndarray],
                 Xr: np.ndarray, Xf: np.ndarray, inames: list[str],
                 names: tuple[str, str] = ("real", "synthetic")) -> Path:
    """Pooled grey-level histograms and the per-image brightness, contrast, noise and blur.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from shapekit.realism.imaging import imaging_descriptors
    >>> rng = np.random.default_rng(0); a = [rng.random((16, 16)) for _ in range(3)]
    >>> X, nm = imaging_descriptors(a)
    >>> plot_imaging(pathlib.Path(tempfile.mkdtemp()) / "i.png", a, a, X, X, nm).exists()
    True
    """
    cols = [("mean", "brightness (mean grey)"), ("std", "contrast (grey sd)"),
            ("relative_noise", "noise / contrast"), ("blur_px", "blur (px)")]
    fig, ax = _figure(1, 1 + len(cols), (3.0 * (1 + len(cols)), 2.8))
    bins = np.linspace(0, 1, 65)
    for ims, colour, lab in ((real_images, REAL, names[0]), (fake_images, FAKE, names[1])):
        step = max(1, len(ims) // 32)
        h = sum(np.histogram(np.asarray(a).ravel(), bins=bins)[0] for a in ims[::step]).astype(float)
        ax[0, 0].step(bins[:-1], h / max(h.sum(), 1.0), where="post", color=colour, label=lab)
    ax[0, 0].set(xlabel="grey level", title="grey-level histogram")
    ax[0, 0].legend(fontsize=8)
    rng = np.random.default_rng(0)
    for k, (col, title) in enumerate(cols, start=1):
        j = inames.index(col)
        for x0, X, colour in ((0, Xr, REAL), (1, Xf, FAKE)):
            ax[0, k].scatter(x0 + 0.15 * rng.standard_normal(len(X)), X[:, j], s=6, color=colour, alpha=0.6)
        ax[0, k].set_xticks([0, 1], [names[0][:14], names[1][:14]], fontsize=8)
        ax[0, k].set_title(title, fontsize=9)
    return _save(fig, Path(path))


#: what the numbers of each imaging attribute are (its descriptor), named in the report's table
MEASURES = {"mean": "mean grey", "std": "grey sd", "relative_noise": "noise / contrast", "blur_px": "blur, px",
            "skewness": "skewness"}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "n/a" if not np.isfinite(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return html.escape(str(v))


def _table(rows: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in rows) + "</table>"


def _block_rows(b: dict) -> list[tuple[str, Any]]:
    rvr = b["real_vs_real"]
    return [("distance", b["distance"]), ("95% bootstrap CI", b["ci"]["distance"]),
            ("real-vs-real baseline (halves)", f"{_fmt(rvr['mean'])} CI {_fmt(rvr['ci'])}"),
            ("distance / baseline", b["relative_to_baseline"]), ("p-value (same distribution)", b["p_value"]),
            *[(f"component {k}", v) for k, v in b["components"].items()]]


def write_report(out_dir: str | os.PathLike[str], result: dict, real_images: list[np.ndarray],
                 fake_images: list[np.ndarray], *, raw: tuple | None = None, structure: tuple | None = None,
                 imaging: tuple | None = None) -> Path:
    """Write ``report.html``, the thumbnails and the plots of a :func:`shapekit.realism.score` result.

    Parameters
    ----------
    out_dir : path
    result : dict
    real_images, fake_images : list of ndarray
        The images as compared (at the common scale).
    raw : (FeatureSet, FeatureSet), optional
        Raw-image features (headline plots ``betti.png``, ``summaries.png``).
    structure : (FeatureSet, FeatureSet, dict, dict), optional
        Structure features and materials (``structure_betti.png``, ``two_point.png``).
    imaging : (ndarray, ndarray, list of str), optional
        Imaging descriptors and their names (``imaging.png``).

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
    >>> sorted(p.name for p in d.iterdir())[:4]
    ['betti.png', 'imaging.png', 'report.html', 'structure_betti.png']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = (result["names"]["real"], result["names"]["synthetic"])
    um = result.get("um_per_px")
    thumbnails(out / "thumbs_reference.png", real_images)
    thumbnails(out / "thumbs_compared.png", fake_images)
    scale = f"{um:.4g} um/px" if um else "pixel size unknown"
    figs = "".join(f'<figure><img src="{f}" alt="{html.escape(n)} thumbnails"><figcaption><b>{html.escape(n)}</b> '
                   f"({role}, {k} images, {scale})</figcaption></figure>"
                   for f, n, role, k in (("thumbs_reference.png", names[0], "reference", result["n_real"]),
                                         ("thumbs_compared.png", names[1], "compared", result["n_fake"])))
    sections = []
    if imaging is not None:
        Xr, Xf, inames = imaging
        plot_imaging(out / "imaging.png", real_images, fake_images, Xr, Xf, inames, names)
        att = result["imaging"]["attributes"]
        rows = "".join(f"<tr><td>{html.escape(a)} ({MEASURES.get(v['descriptor'], v['descriptor'])})</td>"
                       f"<td>{_fmt(v['real_mean'])}</td><td>{_fmt(v['fake_mean'])}</td>"
                       f"<td>{_fmt(v['effect_size'])}</td><td>{_fmt(v['p_value'])}</td>"
                       f"<td>{html.escape(v['word']) if v['differs'] else 'similar'}</td></tr>" for a, v in att.items())
        sections.append(f"<h2>Imaging</h2>{_table(_block_rows(result['imaging']))}<table><tr><th>attribute</th>"
                        f"<th>{html.escape(names[0])}</th><th>{html.escape(names[1])}</th><th>effect (sd)</th>"
                        f"<th>p</th><th>verdict</th></tr>{rows}</table>"
                        '<img src="imaging.png" alt="imaging descriptors">')
    if structure is not None:
        sr, sf, mr, mf = structure
        st = result["structure"]
        cov = st["coverage"]
        plot_betti(out / "structure_betti.png", sr, sf, names, xlabel="u = 0.5 + z / 8")
        plot_two_point(out / "two_point.png", mr, mf, names)
        res = st["resolution"]
        rows = _block_rows(st) + [
            ("smoothing (px)", f"{names[0]}: {res['sigma_real']}, {names[1]}: {res['sigma_fake']}"),
            ("coverage (expected if same)", f"{_fmt(cov['coverage'])} ({_fmt(cov['expected_if_same'])})"),
            ("near-duplicates (expected if same)", f"{_fmt(cov['duplicate_fraction'])} ({_fmt(cov['duplicate_expected'])})"),
            ("diversity ratio (halves of the reference)", f"{_fmt(cov['diversity_ratio'])} "
                                                           f"({_fmt(cov['diversity_ratio_real_vs_real'])})"),
            ("collapsed / reduced diversity", f"{_fmt(cov['collapsed'])} / {_fmt(cov['reduced_diversity'])}")]
        sections.append(f"<h2>Structure</h2>{_table(rows)}"
                        '<img src="structure_betti.png" alt="structure Betti curves">'
                        '<img src="two_point.png" alt="two-point curves">')
    if raw is not None:
        fr, ff = raw
        plot_betti(out / "betti.png", fr, ff, names)
        plot_summaries(out / "summaries.png", result["summaries"], result["top_summaries"], fr, ff, names)
        b = {"distance": result["topological_distance"], "ci": {"distance": result["ci"]["topological_distance"]},
             "real_vs_real": result["real_vs_real"], "relative_to_baseline": result["relative_to_baseline"],
             "p_value": result["p_value"], "components": result["components"]}
        sections.append("<h2>Combined (raw-image topology)</h2>"
                        "<p>topological_distance = (d_summaries + d_mmd + d_energy) / 3 on the images as they are: "
                        "it sees structure and imaging at once.</p>" + _table(_block_rows(b))
                        + '<img src="betti.png" alt="Betti curves"><img src="summaries.png" alt="summary histograms">')
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in result.get("warnings", []))
    verdict = "".join(f"<li>{html.escape(s)}</li>" for s in result["verdict"]["lines"])
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(names[1])} against {html.escape(names[0])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} th{{text-align:left;padding-right:1em}}
img{{max-width:100%}} .verdict li{{font-size:1.15em;margin:.4em 0}} .sets{{display:flex;gap:2em}}
figure{{margin:0}}</style></head><body>
<h1>{html.escape(names[1])} against {html.escape(names[0])}</h1>
<ul class="verdict">{verdict}</ul>
<div class="sets">{figs}</div>
{"".join(sections)}
{"<h2>Warnings</h2><ul>" + warn + "</ul>" if warn else ""}
<p>Baselines score random halves of {html.escape(names[0])} against each other; p-values are permutation tests of
"both sets come from one distribution". See shapekit.realism (score, structure, imaging, verdict).</p>
</body></html>
"""
    write_text(out / "report.html", page)
    shown = {"thumbs_reference.png", "thumbs_compared.png"}
    for part, names_ in ((imaging, ("imaging.png",)), (structure, ("structure_betti.png", "two_point.png")),
                         (raw, ("betti.png", "summaries.png"))):
        if part is not None:
            shown.update(names_)
    for name in set(FIGURES) - shown:    # an earlier report's figures in this folder: another comparison
        (out / name).unlink(missing_ok=True)
    return out / "report.html"
