"""How often the realism verdict names an imaging attribute when nothing differs (its level).

Reads one uhcs3 class (default pearlite, 150 scans), computes each scan's imaging descriptors
(:func:`shapekit.realism.imaging.imaging_descriptors`), then, ``--splits`` times, draws ``n``
scans as the "synthetic" set and scores them against the rest with
:func:`shapekit.realism.imaging.attribute_shifts`: the share of splits in which an attribute is
said to differ (p < 0.01 and at least half a pooled sd), per attribute and for any of them.
Both sets are real scans of one class, so every word is a false alarm; each test states 1 %.

Example (what RESULTS.md reports, section 6, session 30)::

    OMP_NUM_THREADS=1 python benchmarks/realism_attribute_level.py --n 8 30 --json level.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from shapekit.io import load_manifest, read_image
from shapekit.realism.imaging import ATTRIBUTES, attribute_shifts, imaging_descriptors

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default=str(ROOT / "data_manifests" / "uhcs3.yaml"))
    ap.add_argument("--label", default="pearlite")
    ap.add_argument("--n", type=int, nargs="+", default=[8, 30], help="synthetic-set sizes")
    ap.add_argument("--splits", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    t0 = time.perf_counter()
    m = load_manifest(a.manifest)
    paths = [p for p, lab in zip(m.paths, m.labels) if lab == a.label]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, names = imaging_descriptors([read_image(p)[0] for p in paths])
    rng = np.random.default_rng(a.seed)
    rows = []
    for n in a.n:
        hits, any_hit = dict.fromkeys(ATTRIBUTES, 0), 0
        for _ in range(a.splits):
            idx = rng.permutation(len(X))
            said = [k for k, t in attribute_shifts(X[idx[n:]], X[idx[:n]], names).items()
                    if t["differs"]]
            any_hit += bool(said)
            for k in said:
                hits[k] += 1
        rows.append({"n": n, "against": len(X) - n, "any": any_hit / a.splits,
                     "per_attribute": {k: h / a.splits for k, h in hits.items()}})
        print(f"{n} against {len(X) - n}: any word {any_hit / a.splits:.3f}; "
              + ", ".join(f"{k} {h / a.splits:.4f}" for k, h in hits.items()), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"label": a.label, "scans": len(X), "splits": a.splits,
                                            "rows": rows,
                                            "seconds": round(time.perf_counter() - t0, 1)},
                                           indent=2))


if __name__ == "__main__":
    main()
