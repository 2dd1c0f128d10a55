"""Superalloy 0 d vs 180 d: what changed in the structure, by the data set's own phase masks?

Issue 16 expects the evaluator to call the shared superalloy's 0 d and 180 d sets far apart in
structure. That expectation assumes 180 d of exposure changed the structure. This benchmark checks
the assumption against ground truth that the evaluator never sees: the phase masks published with
the images (Stuckner et al., npj Comput. Mater. 8, 200 (2022), MIT; ``mask[..., 0] > 0`` is the
gamma matrix, the rest the annotated gamma-prime precipitates). Then it scores known answers on the
same real images.

1. **Ground truth from the masks**, per image: gamma-prime area fraction, number of precipitates,
   mean equivalent diameter of those not touching the border (px), interface length per pixel,
   mean chord length of the precipitates along rows (px). Averaged per spot; 180 d against 0 d
   paired by spot (7 spots: paired t-test), and the two 0 d imaging sessions (spots 1-2 against
   spots 3-7, as the imaging part reads them) for scale.
2. **Fine precipitates** (not in the masks): dark blobs of 1-4 px radius inside the matrix
   channels (Laplacian of Gaussian on the z-scored image), per 10^4 matrix pixels.
3. **The evaluator on the masks themselves** (binary images, imaging taken out by construction):
   ``score(masks 0 d, masks 180 d, mode="structure")`` resampled by spot.
4. **A known structural change on the same real images** (positive control): 0 d against 180 d
   magnified 1.5x (the central 341^2 of each image resampled to 512^2, i.e. every feature 1.5x
   larger), by spot -> the structure must read far; and 0 d against 180 d with brightness +0.1
   and contrast x0.8 -> the structure answer must not move.

Run from the repository root (under a minute on one core)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/realism_superalloy_truth.py --out /tmp/sa_truth.json
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapekit._atomic import write_json  # noqa: E402

MEASURES = ("area_fraction", "count", "mean_diameter_px", "interface_per_px", "mean_chord_px",
            "fine_per_1e4_matrix_px")


def mask_measures(precipitate: np.ndarray) -> dict[str, float]:
    """Ground-truth structure of one binary precipitate mask (True = gamma-prime)."""
    from skimage import measure

    h, w = precipitate.shape
    props = [p for p in measure.regionprops(measure.label(precipitate)) if p.area >= 20]
    inner = np.array([p.area for p in props if p.bbox[0] > 0 and p.bbox[1] > 0
                      and p.bbox[2] < h and p.bbox[3] < w], float)
    chords = []
    for row in precipitate.astype(np.int8):
        d = np.diff(np.r_[0, row, 0])
        chords.extend(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
    return {"area_fraction": float(precipitate.mean()), "count": float(len(props)),
            "mean_diameter_px": float(np.sqrt(4 * inner / np.pi).mean()),
            "interface_per_px": float(measure.perimeter(precipitate) / precipitate.size),
            "mean_chord_px": float(np.mean(chords))}


def fine_precipitates(image: np.ndarray, matrix: np.ndarray) -> float:
    """Dark blobs of radius 1-4 px inside the matrix, per 10^4 matrix pixels."""
    from scipy import ndimage
    from skimage.feature import blob_log

    z = (image - image.mean()) / (image.std() + 1e-12)
    blobs = blob_log(np.clip(-z, 0, None), min_sigma=1.0, max_sigma=3.0, num_sigma=5, threshold=0.3)
    inside = ndimage.binary_erosion(matrix, iterations=2)
    ys, xs = blobs[:, 0].astype(int), blobs[:, 1].astype(int)
    return float(inside[ys, xs].sum() / max(inside.sum(), 1) * 1e4)


def load(data: Path) -> list[dict]:
    import pandas as pd
    import tifffile

    from shapekit.io import read_image

    root = data / "superalloy_aging"
    meta = pd.read_csv(root / "metadata.csv").dropna(subset=["exposure_days"])
    items = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, r in meta.iterrows():
            image = read_image(root / "images" / r["image"])[0]
            matrix = tifffile.imread(root / "masks" / r["mask"])[..., 0] > 0
            m = mask_measures(~matrix)
            m["fine_per_1e4_matrix_px"] = fine_precipitates(image, matrix)
            items.append({"image": r["image"], "spot": int(r["spot"]), "days": int(r["exposure_days"]),
                          "pixels": image, "precipitate": (~matrix).astype(np.float32), **m})
    return items


def paired(items: list[dict]) -> list[dict]:
    """Per-spot means; 180 d against 0 d paired by spot; the two 0 d sessions."""
    from scipy import stats

    spots = sorted({i["spot"] for i in items})
    out = []
    for q in MEASURES:
        by = {d: np.array([np.mean([i[q] for i in items if i["spot"] == s and i["days"] == d])
                           for s in spots]) for d in (0, 180)}
        t = stats.ttest_rel(by[180], by[0])
        early = by[0][np.array(spots) <= 2]
        late = by[0][np.array(spots) > 2]
        out.append({"measure": q, "mean_0d": float(by[0].mean()), "sd_0d": float(by[0].std(ddof=1)),
                    "mean_180d": float(by[180].mean()), "sd_180d": float(by[180].std(ddof=1)),
                    "paired_p": float(t.pvalue),
                    "change_180d_vs_0d": float(by[180].mean() / by[0].mean() - 1),
                    "session_change_0d": float(late.mean() / early.mean() - 1)})
        r = out[-1]
        print(f"{q:24s} 0 d {r['mean_0d']:.4g} (sd {r['sd_0d']:.2g})  180 d {r['mean_180d']:.4g} "
              f"(sd {r['sd_180d']:.2g})  change {100 * r['change_180d_vs_0d']:+.1f} % "
              f"(paired p = {r['paired_p']:.2f}); 0 d sessions differ by "
              f"{100 * r['session_change_0d']:+.1f} %", flush=True)
    return out


def _brief(name: str, r: dict) -> dict:
    out = {"experiment": name}
    for part in ("structure", "imaging"):
        b = r.get(part)
        if b:
            out[part] = {"relative": b["relative_to_baseline"], "p_value": b["p_value"],
                         "distance": b["distance"], "baseline": b["real_vs_real"]["mean"]}
    out["verdict"] = r["verdict"]["lines"]
    parts = " | ".join(f"{p} {out[p]['relative']:.2f}x (p = {out[p]['p_value']:.3f})"
                       for p in ("structure", "imaging") if p in out)
    print(f"{name:44s} {parts}", flush=True)
    return out


def scores(items: list[dict], kw: dict) -> list[dict]:
    import cv2

    from shapekit.realism import score

    d0 = [i for i in items if i["days"] == 0]
    d180 = [i for i in items if i["days"] == 180]
    g0 = np.array([str(i["spot"]) for i in d0])
    g180 = np.array([str(i["spot"]) for i in d180])

    def zoom(x: np.ndarray, f: float = 1.5) -> np.ndarray:
        h, w = x.shape
        ch, cw = int(round(h / f)), int(round(w / f))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return cv2.resize(x[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_CUBIC)

    rows = []
    common = dict(real_groups=g0, fake_groups=g180, **kw)
    rows.append(_brief("masks: 0 d vs 180 d (structure only)",
                       score([i["precipitate"] for i in d0], [i["precipitate"] for i in d180],
                             mode="structure", names=("0 d masks", "180 d masks"), **common)))
    rows.append(_brief("images: 0 d vs 180 d",
                       score([i["pixels"] for i in d0], [i["pixels"] for i in d180],
                             names=("0 d", "180 d"), **common)))
    rows.append(_brief("images: 0 d vs 180 d magnified 1.5x",
                       score([i["pixels"] for i in d0],
                             [np.clip(zoom(i["pixels"]), 0, 1) for i in d180],
                             names=("0 d", "180 d magnified 1.5x"), **common)))
    rows.append(_brief("images: 0 d vs 180 d brighter, contrast x0.8",
                       score([i["pixels"] for i in d0],
                             [np.clip(0.6 + 0.8 * (i["pixels"] - 0.5), 0, 1) for i in d180],
                             names=("0 d", "180 d brighter, lower contrast"), **common)))
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--n-perm", type=int, default=200)
    ap.add_argument("--n-jobs", type=int, default=1)
    a = ap.parse_args(argv)
    if not (a.data / "superalloy_aging" / "metadata.csv").is_file():
        print(f"no superalloy_aging under {a.data}: nothing to measure", file=sys.stderr)
        return {}
    t0 = time.perf_counter()
    items = load(a.data)
    result = {"data": str(a.data / "superalloy_aging"), "per_image": [{k: v for k, v in i.items()
                                           if k not in ("pixels", "precipitate")} for i in items]}
    result["ground_truth"] = paired(items)
    result["scores"] = scores(items, dict(n_boot=a.n_boot, n_perm=a.n_perm, n_jobs=a.n_jobs, seed=0))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"total {result['seconds']:.0f} s")
    if a.out:
        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
