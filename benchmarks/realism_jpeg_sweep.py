"""JPEG re-encoding sweep of the topological realism score: uhcs3 halves (two grids) and the simulator.

Scores a held-out half re-encoded at each JPEG quality against the other half, for two random splits,
and prints the distances with their 95 % bootstrap intervals.

* ``--source uhcs`` (default): spheroidite halves of uhcs3. These images are already JPEGs (IJG quality
  75). With ``--offset 0`` the re-encoding uses the source's own 8x8 block grid (double compression:
  qualities 50-74 *sharpen* the grain, see ``benchmarks/realism_jpeg_cause.py``); with ``--offset 4``
  both halves are cropped by 4 pixels at the top and left first, so the re-encoding grid is offset
  from the source's and the ladder is an ordinary single compression.
* ``--source simulator``: 8-bit simulator micrographs (never compressed): the clean JPEG ladder.

    python benchmarks/realism_jpeg_sweep.py [--data ../shared/data] [--n-rounds 50] [--offset 0]
        [--source uhcs|simulator] [--qualities 90,70,50,30,20,10] [--out sweep.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapekit._atomic import write_json  # noqa: E402
from shapekit.realism.prepared import prepare_set  # noqa: E402
from shapekit.realism import score  # noqa: E402


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode a [0, 1] grey image as JPEG at ``quality`` and decode it."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def load(source: str, data: Path, offset: int) -> list[np.ndarray]:
    """The image pool: uhcs3 spheroidite (cropped by ``offset`` px) or 80 simulator images (8 bits)."""
    if source == "simulator":
        from shapekit.synth import render_micrograph

        return [(np.round(render_micrograph(180.0, 3.0, size=192, seed=i)[0] * 255) / 255).astype(np.float32)
                for i in range(80)]
    import pandas as pd

    from shapekit.io import read_image

    lab = pd.read_csv(data / "uhcs3" / "labels.csv")
    files = lab.loc[lab.label_name == "spheroidite", "file"].tolist()
    return [read_image(data / "uhcs3" / "images" / f)[0][offset:, offset:] for f in files]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--n-rounds", type=int, default=50, help="bootstrap and permutation rounds")
    ap.add_argument("--offset", type=int, default=0, help="crop this many px (top, left) before re-encoding")
    ap.add_argument("--source", choices=("uhcs", "simulator"), default="uhcs")
    ap.add_argument("--qualities", default="90,70,50,30,20,10")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    ims = load(args.source, args.data, args.offset)
    qualities = [int(q) for q in args.qualities.split(",")]
    rows = []
    for split in (0, 1):
        p = np.random.default_rng(split).permutation(len(ims))
        half = len(ims) // 2
        a, b = [ims[i] for i in p[:half]], [ims[i] for i in p[half:]]
        pa = prepare_set(a, n_jobs=args.n_jobs)
        cells = []
        for q in [100] + qualities:        # 100: the held-out half as it is (no re-encoding)
            r = score(pa, b if q == 100 else [jpeg(x, q) for x in b], n_boot=args.n_rounds,
                      n_perm=args.n_rounds, seed=0, n_jobs=args.n_jobs)
            td, ci = r["topological_distance"], r["ci"]["topological_distance"]
            rows.append({"split": split, "quality": q, "topological_distance": td, "ci": ci,
                         "p_value": r["p_value"], "real_vs_real": r["real_vs_real"]["mean"],
                         "components": r["components"]})
            cells.append(f"{'as is' if q == 100 else f'q{q}'}={td:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
        tds = [row["topological_distance"] for row in rows if row["split"] == split and row["quality"] != 100]
        mono = all(x < y for x, y in zip(tds, tds[1:]))
        print(f"{args.source} offset {args.offset} split {split} (real-vs-real {rows[-1]['real_vs_real']:.3f}): "
              + "  ".join(cells) + f"  -> {'monotone' if mono else 'NOT monotone'}", flush=True)
    if args.out:
        write_json(args.out, {"rows": rows, "settings": {k: str(v) for k, v in vars(args).items()}})


if __name__ == "__main__":
    main()
