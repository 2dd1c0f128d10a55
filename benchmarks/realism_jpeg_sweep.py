"""JPEG re-encoding sweep of the topological realism score on uhcs3 spheroidite halves.

Scores held-out halves re-encoded at quality 90/70/50/30/20/10 against the other half, for two
random splits, and prints the distances. Used to show that JPEG is not ranked monotonically (see
RESULTS.md, section 4).

    python benchmarks/realism_jpeg_sweep.py [--data ../shared/data] [--n-rounds 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from shapekit.io import read_image
from shapekit.realism.prepared import prepare_set
from shapekit.realism.score import score


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode a [0, 1] grey image as JPEG at ``quality`` and decode it."""
    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--n-rounds", type=int, default=50)
    args = ap.parse_args()
    lab = pd.read_csv(args.data / "uhcs3" / "labels.csv")
    files = lab.loc[lab.label_name == "spheroidite", "file"].tolist()
    ims = [read_image(args.data / "uhcs3" / "images" / f)[0] for f in files]
    for split in (0, 1):
        p = np.random.default_rng(split).permutation(len(ims))
        half = len(ims) // 2
        a, b = [ims[i] for i in p[:half]], [ims[i] for i in p[half:]]
        pa = prepare_set(a, n_jobs=2)
        row = []
        for q in (90, 70, 50, 30, 20, 10):
            r = score(pa, [jpeg(x, q) for x in b], n_boot=args.n_rounds, n_perm=args.n_rounds, seed=0,
                      n_jobs=2)
            row.append(f"q{q}={r['topological_distance']:.3f}")
        print(f"split {split}: " + "  ".join(row), flush=True)


if __name__ == "__main__":
    main()
