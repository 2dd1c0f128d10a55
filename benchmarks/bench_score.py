"""Speed of ``shapekit.realism.score``: 200 vs 200 images of 512^2, 200 bootstrap + 200 permutation rounds.

Goal (issue 5, kept by issue 16 for ``--mode both``): under 60 s on 2 CPU cores. Prints the wall
time of each stage and its share, and the ratio of the total to an anchor measured in the same
run: the bare persistent homology of the same images (GUDHI fast path, both filtrations, one
thread, extrapolated from a sample), the one cost no realism score on cubical PH can avoid.

Images: UHCS micrographs (uhcs3, centre 475^2 crop resized to 512^2) when ../shared/data is present,
else smoothed-noise textures. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_score.py --n-jobs 2 [--mode both|structure|imaging]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def uhcs_images(data: Path, n: int, size: int) -> list[np.ndarray] | None:
    import cv2

    from shapekit.io import read_image

    files = sorted((data / "uhcs3" / "images").glob("*.jpg"))
    if len(files) < n:
        return None
    out = []
    for f in files[:n]:
        img = read_image(f)[0]
        h, w = img.shape
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(np.clip(cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC), 0, 1).astype(np.float32))
    return out


def texture_images(n: int, size: int, seed: int) -> list[np.ndarray]:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = ndimage.gaussian_filter(rng.random((size, size)), 3.0)
        out.append(((im - im.min()) / (im.max() - im.min())).astype(np.float32))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="images per set")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--n-perm", type=int, default=200)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--source", choices=["auto", "uhcs", "texture"], default="auto")
    ap.add_argument("--mode", choices=["both", "structure", "imaging"], default="both",
                    help="which realism questions to answer (issue 16; the goal is set on both)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    args = ap.parse_args()

    from shapekit.realism import score
    from shapekit.topology import cubical_persistence_batch

    ims = None
    if args.source in ("auto", "uhcs"):
        ims = uhcs_images(args.data, 2 * args.n, args.size)
        source = "uhcs3"
    if ims is None:
        if args.source == "uhcs":
            raise SystemExit(f"uhcs3 not found under {args.data}")
        ims, source = texture_images(2 * args.n, args.size, 0), "texture"
    real, fake = ims[: args.n], ims[args.n:]

    sample = ims[:: max(1, len(ims) // 20)][:20]
    t0 = time.perf_counter()
    for filt in ("sublevel", "superlevel"):
        cubical_persistence_batch(sample, filtration=filt, min_persistence=1.5 / 255, n_jobs=1)
    anchor = (time.perf_counter() - t0) / len(sample) * len(ims)

    t0 = time.perf_counter()
    res = score(real, fake, mode=args.mode, n_boot=args.n_boot, n_perm=args.n_perm, n_jobs=args.n_jobs, seed=0)
    total = time.perf_counter() - t0
    stages = {k: v for k, v in res["timings_s"].items() if k != "total"}
    report = {"source": source, "mode": args.mode, "n_per_set": args.n, "size": args.size, "n_boot": args.n_boot,
              "n_perm": args.n_perm, "n_jobs": args.n_jobs, "total_s": round(total, 2),
              "stages_s": stages, "share": {k: round(v / total, 3) for k, v in stages.items()},
              "per_image_cpu_s": res["per_image_cpu_s"],
              "anchor_bare_ph_1thread_s": round(anchor, 2), "ratio_total_to_anchor": round(total / anchor, 2),
              "goal_s": 60.0, "within_goal": bool(total < 60.0),
              "verdict": res["verdict"]["lines"]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.n} vs {args.n} images of {args.size}^2 ({source}), mode {args.mode}, {args.n_boot} bootstrap + "
          f"{args.n_perm} permutation rounds, n_jobs={args.n_jobs}")
    for k, v in stages.items():
        print(f"  {k:12s} {v:7.2f} s  {100 * v / total:5.1f} %")
    print(f"  {'total':12s} {total:7.2f} s   (goal < 60 s: {'OK' if total < 60 else 'MISSED'})")
    print(f"  per-image CPU seconds (summed over workers): {res['per_image_cpu_s']}")
    print(f"  anchor: bare PH of all images, 1 thread = {anchor:.2f} s; total / anchor = {total / anchor:.2f}")


if __name__ == "__main__":
    main()
