"""Can the shipped generators' 8-px cell pattern be removed as a fixed pattern (issue 14)?

A camera's fixed-pattern noise is removed by subtracting one pattern estimated once (a dark
frame). This checks whether the generators' pattern at the latent period is fixed enough for that:
for each shipped model it draws 64 raw network fields of 512^2 (8 draws of 8 images, each draw at
its own class and, for the simulator models, conditions drawn uniformly in the training ranges;
at 512^2 the field's crop starts at a latent cell edge), takes every image's 8x8 cell pattern
(:func:`shapekit.generate.checks.cell_pattern`), and subtracts from each image the mean pattern of
the images of the *other* draws (all of them, or those of the same class), so no image's own
pattern is removed with it. It reports :func:`shapekit.generate.checks.lattice_contrast` before
and after, and the mean correlation between two images' cell patterns.

Example (what RESULTS.md reports, section 6, session 30)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_fixed_pattern.py --json fixed.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from shapekit.generate.checks import cell_pattern, lattice_contrast
from shapekit.generate.export import load_generator

MODELS = ("sim-parameters", "sim-properties", "uhcs3-class")
DRAWS, PER, SIZE, PERIOD = 8, 8, 512, 8


def fixed_pattern_study(name: str, seed: int = 1) -> dict:
    """Lattice contrast of one shipped model's raw fields before and after subtracting the mean
    cell pattern of the other draws (all, or the same class)."""
    s = load_generator(name)
    rng = np.random.default_rng(seed)
    fields, labels = [], []
    for k in range(DRAWS):
        label = s.label_names[k % len(s.label_names)]
        cond = {n: float(rng.uniform(*s.ranges[n])) for n in s.condition_names}
        fields.append(s.sample(PER, label=label, conditions=cond, seed=k, size=SIZE, raw=True))
        labels += [label] * PER
    x = np.concatenate(fields).astype(np.float64) * 255
    labels = np.array(labels)
    draw = np.arange(len(x)) // PER
    pats = np.stack([cell_pattern(im, PERIOD) for im in x])
    reps = (SIZE // PERIOD, SIZE // PERIOD)
    out = {"model": name, "images": len(x), "contrast_raw": lattice_contrast(x, PERIOD)}
    for mode in ("all", "class"):
        fixed = []
        for i in range(len(x)):
            others = draw != draw[i]
            if mode == "class":
                others &= labels == labels[i]
            fixed.append(x[i] - np.tile(pats[others].mean(axis=0), reps))
        out[f"contrast_minus_{mode}_mean"] = lattice_contrast(np.stack(fixed), PERIOD)
    c = np.corrcoef(pats.reshape(len(pats), -1))
    out["pattern_correlation"] = float((c.sum() - len(c)) / (len(c) ** 2 - len(c)))
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    out["pattern_correlation_same_class"] = float(c[same].mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    t0 = time.perf_counter()
    rows = [fixed_pattern_study(m) for m in a.models]
    for r in rows:
        print(f"{r['model']:15s} contrast raw {r['contrast_raw']:.2f}  minus all {r['contrast_minus_all_mean']:.2f}"
              f"  minus class {r['contrast_minus_class_mean']:.2f}  correlation {r['pattern_correlation']:.2f}"
              f" (same class {r['pattern_correlation_same_class']:.2f})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"rows": rows, "seconds": round(time.perf_counter() - t0, 1)}, fh, indent=2)


if __name__ == "__main__":
    main()
