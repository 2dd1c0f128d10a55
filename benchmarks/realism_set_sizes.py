"""How a realism ratio depends on the set sizes, and how real images read where the card scores
the shipped ``uhcs3-class`` generator (RESULTS.md sections 4 and 6, session 25).

``sizes``: real uhcs3 pearlite only (150 scans at their own scale). A random ``n`` of them play
the synthetic set against the others (or against ``--ref`` of the others); the real-vs-real
baseline scores halves of the reference, so the ratio moves with the sizes alone.

``uhcs3-class``: the card's realism evaluation (``benchmarks/gan_whole_images.py uhcs3``: the
model's training split, 48 generated 256^2 images per class with seeds ``0 + k``, against the
class's held-out real images), next to 48 real *training* images of the class scored the same
way: what the ratio, coverage and collapse flag read for real images in that design.

Example (one thread, a few minutes each)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_set_sizes.py sizes --out /tmp/sizes.json
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_set_sizes.py uhcs3-class --out /tmp/m.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _ratios(res: dict) -> dict:
    return {"ratio": res["relative_to_baseline"], "structure": res["structure"]["relative_to_baseline"],
            "imaging": res["imaging"]["relative_to_baseline"], "coverage": res["coverage"]["coverage"],
            "collapsed": res["coverage"]["collapsed"]}


def sizes(a: argparse.Namespace) -> dict:
    from shapekit.io.manifest import load_manifest
    from shapekit.io.scan import load_scan
    from shapekit.realism import score

    m = load_manifest(a.manifest).of_label("pearlite")
    ims = [load_scan(p).image for p in m.paths]
    rng = np.random.default_rng(a.seed)
    out = {}
    for n, ref in ((16, None), (48, None), (48, 30)):
        idx = rng.permutation(len(ims))
        fake = [ims[i] for i in idx[:n]]
        rest = [ims[i] for i in idx[n:]][: ref or len(ims)]
        res = score(rest, fake, n_boot=a.n_boot, n_perm=a.n_boot, seed=a.seed, n_jobs=1)
        out[f"real {n} vs other {len(rest)}"] = _ratios(res)
        print(f"real {n} vs other {len(rest)}: {out[f'real {n} vs other {len(rest)}']}", file=sys.stderr)
    return out


def uhcs3_class(a: argparse.Namespace) -> dict:
    from shapekit.generate import load_generator
    from shapekit.generate.data import holdout_split, load_training_table, to_common_scale
    from shapekit.realism import score
    from shapekit.registry import resolve

    gen = load_generator(resolve(a.model, "generator"), device="cpu")
    cfg = gen.config
    images, labels, _, codec, ump, names = load_training_table(a.manifest, "class")
    scaled, _ = to_common_scale(images, ump, float(cfg.get("downscale", 1.0)))
    train, test = holdout_split(labels, float(cfg.get("holdout", 0.2)), a.seed)
    rng = np.random.default_rng(a.seed)
    out = {}
    for k, name in enumerate(gen.label_names):
        fake = list(gen.sample(a.per_class, label=name, seed=a.seed + k, size=a.size))
        real_test = [scaled[i] for i in test if labels[i] == k]
        real_train = [scaled[i] for i in train if labels[i] == k]
        sub = [real_train[i] for i in rng.choice(len(real_train), a.per_class, replace=False)]
        out[name] = {f"generated {a.per_class}": _ratios(score(real_test, fake, n_boot=a.n_boot,
                                                              n_perm=a.n_boot, seed=a.seed, n_jobs=1)),
                     f"real training {a.per_class}": _ratios(score(real_test, sub, n_boot=a.n_boot,
                                                                   n_perm=a.n_boot, seed=a.seed,
                                                                   n_jobs=1)),
                     "n_heldout": len(real_test)}
        print(name, out[name], file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["sizes", "uhcs3-class"])
    p.add_argument("--manifest", type=Path, default=Path("data_manifests/uhcs3.yaml"))
    p.add_argument("--model", default="uhcs3-class")
    p.add_argument("--per-class", type=int, default=48)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--n-boot", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    res = sizes(a) if a.what == "sizes" else uhcs3_class(a)
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
