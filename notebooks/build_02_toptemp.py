"""Build notebooks/02_toptemp.ipynb with nbformat (run: python notebooks/build_02_toptemp.py).

The notebook runs in CI (tests/test_notebooks.py, SHAPEKIT_NOTEBOOK_QUICK=1) on a small subset and
skips its real-data cells cleanly when ../shared/data is absent (it then uses toy micrographs).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# TopTemp: the temper of a micrograph from its topology

This notebook walks through `shapekit.temper` on the ultrahigh-carbon-steel (UHCS) micrographs in
`../shared/data/uhcs3` (three microconstituents set by the heat treatment: carbide network,
pearlite, spheroidite): persistence diagrams of each class, persistence images, cross-validated
accuracy on a subset, and an explanation overlay. Without `../shared/data` it runs the same steps
on toy micrographs (the toy generator of the tests, `tests/toy.py`).

Method: Kassab et al., *TopTemp: Parsing Precipitate Structure from Temper Topology*,
arXiv:2204.00629 (2022). Data: Hecht, DeCost, Holm et al., UHCS micrographs, NIST hdl 11256/940,
CC BY 3.0 US."""),
    ("code", """import os, time
from pathlib import Path
import numpy as np
import matplotlib
import matplotlib.pyplot as plt

from shapekit.topology import cubical_persistence, persistence_images, rescale, standardize
import sys; sys.path.insert(0, "../tests")
from toy import toy_dataset

QUICK = os.environ.get("SHAPEKIT_NOTEBOOK_QUICK") == "1"
DATA = Path(os.environ.get("SHAPEKIT_SHARED_DATA", "../../shared/data"))
HAVE_DATA = (DATA / "uhcs3" / "labels.csv").is_file()
print("real data:", HAVE_DATA, "| quick:", QUICK)"""),
    ("md", """## One micrograph per class

With real data: the first uhcs3 image of each class; otherwise one toy image per toy class."""),
    ("code", """if HAVE_DATA:
    import pandas as pd
    from shapekit.io import read_image
    table = pd.read_csv(DATA / "uhcs3" / "labels.csv")
    n_per_class = 8 if QUICK else 40
    subset = table.groupby("label_name").head(n_per_class).reset_index(drop=True)
    images = [read_image(DATA / "uhcs3" / "images" / f)[0] for f in subset.file]
    labels = list(subset.label_name)
else:
    images, labels = toy_dataset(8 if QUICK else 30, 256, seed=0)
classes = sorted(set(labels))
examples = {c: images[labels.index(c)] for c in classes}
fig, axes = plt.subplots(1, len(classes), figsize=(4 * len(classes), 3.2))
for ax, c in zip(axes, classes):
    ax.imshow(examples[c], cmap="gray"); ax.set_title(c); ax.axis("off")
plt.show()"""),
    ("md", """## Persistence diagrams of each class

Sublevel filtration (dark features first) and superlevel (bright first, reported in original units,
so birth >= death) of the z-scored image at scale 2 (2x2 area averaging). H0: components,
H1: loops."""),
    ("code", """fig, axes = plt.subplots(2, len(classes), figsize=(4 * len(classes), 7))
diagrams = {}
for j, c in enumerate(classes):
    z = rescale(standardize(examples[c]), 2)
    for i, filt in enumerate(("sublevel", "superlevel")):
        d = cubical_persistence(z, filt)
        diagrams[(c, filt)] = d
        ax = axes[i, j]
        for dim, col in ((0, "tab:blue"), (1, "tab:red")):
            p = d[dim][np.isfinite(d[dim][:, 1])]
            ax.scatter(p[:, 0], p[:, 1], s=3, c=col, alpha=0.5, label=f"H{dim} ({len(p)})")
        lo, hi = z.min(), z.max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.7)
        ax.set_title(f"{c}: {filt}"); ax.legend(fontsize=7)
        ax.set_xlabel("birth (z)"); ax.set_ylabel("death (z)")
plt.tight_layout(); plt.show()"""),
    ("md", """## Persistence images

Sublevel H1 (dark loops) and superlevel H0 (bright particles) as persistence images on a common
grid (birth in z units, persistence). Spheroidite's isolated carbides show up as many long-lived
bright components."""),
    ("code", """fig, axes = plt.subplots(2, len(classes), figsize=(4 * len(classes), 6.5))
for j, c in enumerate(classes):
    for i, (filt, dim) in enumerate((("sublevel", 1), ("superlevel", 0))):
        d = diagrams[(c, filt)][dim]
        d = d[np.isfinite(d[:, 1])]
        births = d[:, 0] if filt == "sublevel" else -d[:, 0]
        pairs = np.c_[births, births + np.abs(d[:, 1] - d[:, 0])]
        pim = persistence_images([pairs], (-3, 3), (0, 3), resolution=24, sigma=0.8).reshape(24, 24)
        axes[i, j].imshow(pim.T, origin="lower", extent=(-3, 3, 0, 3), aspect="auto", cmap="magma")
        axes[i, j].set_title(f"{c}: {filt} H{dim}")
        axes[i, j].set_xlabel("birth (z; superlevel negated)"); axes[i, j].set_ylabel("persistence")
plt.tight_layout(); plt.show()"""),
    ("md", """## Cross-validated accuracy on a subset

Tiles of 256 px covering each image, the TopTemp feature pipeline (scales 2 and 4 here to keep
the notebook fast), tile features pooled per image (`ScanClassifier(aggregation="features")`),
4-fold stratified CV with scikit-learn's `cross_val_predict` over scans. The full-data figures
(450 images, 5-fold, all scales) come from `benchmarks/toptemp_uhcs.py` and are in RESULTS.md."""),
    ("code", """from sklearn.model_selection import cross_val_predict
from shapekit.temper import ScanClassifier, ScanTiles, TopTempClassifier, feature_params, scan_splitter, scores
from shapekit.temper.scans import scan_features

params = feature_params("accurate", scales=[2, 4], min_persistence=0.25)
t = time.time()
scans = [ScanTiles(x) for x in scan_features(images, 256, params)]
print(f"{len(images)} images, {sum(map(len, scans))} tiles, {scans[0].n_features} features in {time.time() - t:.1f} s")
for model in ("svm", "logreg"):
    p = cross_val_predict(ScanClassifier(TopTempClassifier(model), "features"), scans, labels,
                          cv=scan_splitter(labels, n_splits=4), method="predict_proba")
    s = scores(labels, p, classes)
    print(f"TopTemp + {model:6s}: accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  confusion {s['confusion']}")"""),
    ("md", """## Why this verdict? An explanation overlay

Train a model on the subset, then draw the persistence pairs that drive its verdict at their birth
pixels (pair score = permutation importance of its diagram's features x its share of the diagram's
total persistence), next to the diagram of the most important block."""),
    ("code", """from shapekit.temper.train import train_on_images
from shapekit.temper.explain import explain_scan, plot_explanation

model = train_on_images(images, labels, model="svm", tile_size=256, feature_params=params,
                        aggregation="features", cv_folds=2)
ex = explain_scan(model, images[0], top=200)
print("\\n".join(ex.reading()))     # the verdict, then what drives it in physical terms
plot_explanation(ex); plt.show()"""),
    ("md", """## At the microscope: the shipped `uhcs3` model

shapekit ships a model trained on all 450 uhcs3 scans (`shapekit models`; its card gives the data,
licence, training command and measured figures). It needs no training and downloads nothing.
Every verdict says whether the scan lies inside its training data: `ood_score <= 1`, a 95 %
prediction set, or `"unknown"` for a scan unlike anything it was trained on. Here: the raw UHCS
originals (info bar cropped on the fly) and a superalloy scan (another material) when the data is
there, and a simulated aged-alloy micrograph (also another material) in any case; then each
tile's verdict over one scan."""),
    ("code", """from shapekit.synth import render_micrograph
from shapekit.temper import load_model
from shapekit.temper.explain import plot_tile_map

shipped = load_model("uhcs3")
scans = [render_micrograph(200.0, 8.0, size=512, seed=0)[0]]
if HAVE_DATA:
    scans = [str(p) for p in sorted((DATA / "uhcs_originals").glob("*.tif"))] + \\
        [str(DATA / "superalloy_aging" / "images" / "spot1_0d_0.tif")] + scans
for r in shipped.classify(scans):
    print(f"{Path(r['image']).name:24s} {r['temper']:16s} ood {r['ood_score']:5.2f}  set {r['prediction_set']}")
plot_tile_map(explain_scan(shipped, scans[0], pairs=False)); plt.show()"""),
]


def build(path: Path) -> None:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    build(Path(__file__).resolve().parent / "02_toptemp.ipynb")
