"""Would a learned embedding flag the superalloy? Mahalanobis on a temper CNN's features.

The shipped uhcs3 outside check (TopTemp scan means + grey levels + spectrum shares) flags 21 of
the 23 superalloy SEM images (RESULTS.md, section 1). A common alternative in the OOD literature
is the Mahalanobis distance in a trained network's penultimate features (Lee et al., NeurIPS
2018). This script asks whether that would do better here, before any of it is built into the
package:

* uhcs3 (450 scans, 3 classes) in 5 stratified folds; per fold a temper CNN
  (:func:`shapekit.temper.train.train_on_images` with ``model="cnn"``, the CLI's defaults) is
  trained on the other 4 folds;
* one row per scan: the mean penultimate embedding of its tiles, cut as the CNN model cuts them;
* distances: pooled Mahalanobis and class-conditional (the smallest over the 3 classes'
  Gaussians), Ledoit-Wolf covariances fitted on the training folds' rows;
* threshold: the 99 % quantile of the held-out fold's own distances (an optimistic threshold for
  flagging: it is set on the very scans whose false alarms it bounds);
* the 23 superalloy images are scored by every fold's model.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_cnn_embedding.py --json out.json   # ~5 min
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def mahalanobis(train: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance of ``rows`` to the Gaussian of ``train`` (Ledoit-Wolf covariance)."""
    from sklearn.covariance import LedoitWolf

    mu = train.mean(axis=0)
    prec = LedoitWolf().fit(train - mu).precision_
    d = rows - mu
    return np.sqrt(np.einsum("ij,jk,ik->i", d, prec, d))


def class_mahalanobis(train: np.ndarray, y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Smallest distance over the classes' Gaussians."""
    return np.min([mahalanobis(train[y == c], rows) for c in np.unique(y)], axis=0)


def main(argv: list[str] | None = None) -> dict:
    import pandas as pd

    from shapekit.temper.cnn_cv import cnn_tiles
    from shapekit.temper.cnn_train import embed_tiles
    from shapekit.temper.scans import load_scan_image
    from shapekit.temper.train import train_on_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if not (DATA / "uhcs3").is_dir():
        sys.exit(f"no data at {DATA}")
    t0 = time.perf_counter()
    lab = pd.read_csv(DATA / "uhcs3" / "labels.csv")
    images = [load_scan_image(DATA / "uhcs3" / "images" / f) for f in lab["file"]]
    y = lab["label_name"].to_numpy()
    alloy_paths = sorted((DATA / "superalloy_aging" / "images").glob("*.tif"))
    alloy = [load_scan_image(q) for q in alloy_paths]
    rng = np.random.default_rng(a.seed)
    fold = np.zeros(len(y), int)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % a.folds
    out: dict = {"folds": [], "superalloy_files": [q.name for q in alloy_paths]}
    for k in range(a.folds):
        tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        model = train_on_images([images[i] for i in tr], list(y[tr]), model="cnn", seed=a.seed)
        scale = model.config["cnn"]["input_scale"]

        def embed(ims: list[np.ndarray], model=model, scale=scale) -> np.ndarray:
            return np.array([embed_tiles(model.network, cnn_tiles(im, model.tile_size, scale)[0]).mean(0)
                             for im in ims])

        e_tr, e_te, e_al = embed([images[i] for i in tr]), embed([images[i] for i in te]), embed(alloy)
        row: dict = {"fold": k, "n_heldout": len(te)}
        for name, dist in (("pooled", lambda r: mahalanobis(e_tr, r)),
                           ("class_conditional", lambda r: class_mahalanobis(e_tr, y[tr], r))):
            d_te, d_al = dist(e_te), dist(e_al)
            thr = float(np.quantile(d_te, 0.99))
            row[name] = {"threshold_q99_heldout": thr, "heldout_median": float(np.median(d_te)),
                         "superalloy_flagged": int(np.sum(d_al > thr)),
                         "superalloy_distances": [round(float(v), 3) for v in d_al]}
        out["folds"].append(row)
        print(f"fold {k}: superalloy flagged {row['pooled']['superalloy_flagged']}/23 (pooled), "
              f"{row['class_conditional']['superalloy_flagged']}/23 (class-conditional)", file=sys.stderr)
    for name in ("pooled", "class_conditional"):
        f = [r[name]["superalloy_flagged"] for r in out["folds"]]
        out[name] = {"superalloy_flagged_per_fold": f, "mean_share": float(np.mean(f)) / len(alloy)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({k: out[k] for k in ("pooled", "class_conditional", "seconds")}))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
