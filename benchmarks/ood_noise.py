"""The outside check's noise part on real data: structure shares of uhcs3 and of foreign scans.

:func:`shapekit.temper.outside.structure_share` (the share of a scan's grey-level variance above
the ``sigma``-px scale) over the 450 uhcs3 scans as the classifier is trained on them, clean and
under the robustness study's noise 0.1 / blur 2 / JPEG q30, the 5 UHCS originals, the 23
superalloy images, 60 simulator fields, and 20 uniform + 20 Gaussian white-noise scans
(``ship_classifier.white_noise``). The part flags a scan whose share is under half the smallest
training share (RESULTS.md section 1, session 28: rules N1 at sigma 1, not met; N2 at sigma 2, met).

Usage (from the repository root; about 2 min on one thread)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_noise.py --sigma 2 --json /tmp/noise2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data"


def study(sigma: float) -> dict:
    from ship_classifier import white_noise

    from shapekit.io import load_manifest, load_scan
    from shapekit.synth.dataset import synthesize
    from shapekit.temper.outside import structure_share
    from shapekit.temper.robustness import perturb
    from shapekit.temper.scans import read_manifest_images

    def shares(images) -> list[float]:
        return [structure_share(im, sigma) for im in images]

    images = read_manifest_images(load_manifest(ROOT / "data_manifests" / "uhcs3.yaml"))
    out = {"uhcs3_clean": shares(images)}
    for p in ("noise_0.1", "blur_2", "jpeg_q30"):
        out[f"uhcs3_{p}"] = shares(perturb(im, p, seed=i) for i, im in enumerate(images))
    out["uhcs_originals"] = shares(load_scan(f).image for f in sorted((DATA / "uhcs_originals").glob("*.tif")))
    out["superalloy"] = shares(load_scan(f).image
                               for f in sorted((DATA / "superalloy_aging" / "images").glob("*.tif")))
    out["simulator_seed1"] = shares(synthesize(60, seed=1, size=512, keep_images=True).images)
    uni, gau = white_noise(20)
    out["white_noise_uniform"], out["white_noise_gaussian"] = shares(uni), shares(gau)
    lo = float(np.nanmin(out["uhcs3_clean"]))
    summary = {k: {"n": len(v), "min": float(np.nanmin(v)), "p1": float(np.nanpercentile(v, 1)),
                   "median": float(np.nanmedian(v)), "flagged": int(np.sum(np.asarray(v) < lo / 2))}
               for k, v in out.items()}
    return {"sigma": sigma, "structure_share_min": lo, "limit": lo / 2, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sigma", type=float, default=2.0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    res = study(a.sigma)
    for k, v in res["summary"].items():
        print(f"{k:22s} n={v['n']:3d} min {v['min']:.3f} p1 {v['p1']:.3f} median {v['median']:.3f} "
              f"under half the uhcs3 minimum: {v['flagged']}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
