"""What any stationary generator can reach on the simulator checker: R^2 on windows of larger fields.

The simulator (:func:`shapekit.synth.render_micrograph`) fills each field of view to the requested
area fraction (:mod:`shapekit.synth.microstructure`: candidates are added "until the requested
area fraction is filled"), so two 256^2 fields at one condition differ in phase fraction far less
than two 256^2 windows of one large field: a global bookkeeping of the field, not a property of
the structure. A fully convolutional generator (the issue's design: a latent map whose extent sets
the output size) is a stationary, local process; even one that reproduced the simulator's local
statistics exactly would fluctuate like a window of a large field. This script measures that
ceiling on the checker's own conditions: for each seed, the ``--n-test`` held-out conditions of
``benchmarks/gan_whole_images.py sim`` (:func:`shapekit.synth.sample_process` with ``rng =
seed + 1000``), ``--per-combo`` images per condition, each the centre ``--size``^2 window of a
``--field``^2 simulator field (render seeds 30 000 + 100 i + k, none of the checker's), measured
as the checker measures (:func:`gan_whole_images.measure_set`); R^2 of area fraction, mean radius
and the implied hardness against the requested values, next to the checker's own simulator
ceiling (whole ``--size``^2 fields, its render seeds 10 000 + 100 i + k). Also the per-image
standard deviation of the area fraction at each condition, both ways.

Example (RESULTS.md section 6, session 21; one process per seed)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/sim_stationary_ceiling.py --seeds 76 77 78 79 \
        --jobs 2 --out /tmp/ceiling.json
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan_whole_images import REAL_SEED, checker_conditions, measure_set, r2  # noqa: E402

QUANTITIES = ("area_fraction", "mean_radius_nm", "hardness_HV")


def one_seed(seed: int, n_test: int, per_combo: int, size: int, field: int,
             um_per_px: float) -> dict:
    """Both ceilings on one seed's held-out conditions."""
    from shapekit.synth import measure_structure, render_micrograph

    o = (field - size) // 2
    rows = []
    for i, (T, t, truth) in enumerate(checker_conditions(seed, n_test)):
        whole = np.stack([render_micrograph(T, t, size=size, um_per_px=um_per_px,
                                            seed=REAL_SEED + 100 * i + k)[0]
                          for k in range(per_combo)])
        win = np.stack([render_micrograph(T, t, size=field, um_per_px=um_per_px,
                                          seed=30_000 + 100 * i + k)[0][o:o + size, o:o + size]
                        for k in range(per_combo)])
        row = {"aging_temperature_C": T, "aging_time_h": t,
               "temper": str(truth["temper"])}
        for name, imgs in (("fields", whole), ("windows", win)):
            m = measure_set(imgs, um_per_px)
            for q in QUANTITIES:
                row[f"{name}_{q}"] = m[q]
            row[f"{name}_area_sd"] = float(np.std([measure_structure(im, um_per_px)["area_fraction"]
                                                   for im in imgs], ddof=1))
        for q in QUANTITIES:
            row[f"req_{q}"] = float(truth[q])
        rows.append(row)
        print(f"seed {seed} [{i + 1}/{n_test}] {row['temper']}: area sd per image, fields "
              f"{row['fields_area_sd']:.4f}, windows {row['windows_area_sd']:.4f}", file=sys.stderr)

    def col(k: str) -> np.ndarray:
        return np.array([r[k] for r in rows])

    r2s = {f"{name}_{q}": r2(col(f"req_{q}"), col(f"{name}_{q}"))
           for name in ("fields", "windows") for q in QUANTITIES}
    sd = {f"{name}_{temper}": float(np.median([r[f"{name}_area_sd"] for r in rows
                                                if r["temper"] == temper]))
          for name in ("fields", "windows") for temper in ("under_aged", "peak_aged", "over_aged")}
    return {"seed": seed, "r2": r2s, "median_area_sd_per_image": sd, "rows": rows}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", required=True,
                   help="Checker seeds (held-out condition sets of gan_whole_images.py sim).")
    p.add_argument("--n-test", type=int, default=24)
    p.add_argument("--per-combo", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="Side of the measured images.")
    p.add_argument("--field", type=int, default=1024, help="Side of the fields cut into windows.")
    p.add_argument("--um-per-px", type=float, default=0.002, help="The shipped models' scale.")
    p.add_argument("--jobs", type=int, default=1, help="Seeds measured in parallel (processes).")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    if a.field < a.size:
        p.error("--field must be at least --size")
    args = [(s, a.n_test, a.per_combo, a.size, a.field, a.um_per_px) for s in a.seeds]
    with ProcessPoolExecutor(max(1, a.jobs)) as ex:
        per_seed = list(ex.map(one_seed, *zip(*args)))
    summary = {k: float(np.mean([s["r2"][k] for s in per_seed])) for k in per_seed[0]["r2"]}
    result = {"settings": vars(a) | {"out": str(a.out)}, "mean_r2": summary, "seeds": per_seed}
    for s in per_seed:
        print(f"seed {s['seed']}: " + ", ".join(f"{k} {v:.3f}" for k, v in s["r2"].items()))
    print("mean: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
