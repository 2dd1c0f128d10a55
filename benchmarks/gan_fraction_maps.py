"""What the generator's fraction terms see of the area-fraction error, per temper (issue 14).

On the held-out conditions of ``gan_whole_images.py sim --seed S`` (the same conditions, the
same generated latents and simulator seeds), the area fraction as
:func:`shapekit.synth.measure_structure` measures it and the means of the two soft particle maps
the generator's terms can match (:func:`shapekit.generate.terms.bright_map` with a 7-px window,
``--fraction-map half_max``; :func:`shapekit.generate.terms.measured_map`, ``measure``), for
the generated and the simulator fields. Printed per temper: the generated-minus-simulator gap
in each drawing, and on the simulator fields each map minus the measurement.

Usage::

    python benchmarks/gan_fraction_maps.py --model sim-parameters --seed 0 --out maps.json

About 1 min per model on one thread (24 conditions x 8 fields of 256 px).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="Shipped generator name or run directory.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--n-test", type=int, default=24)
    p.add_argument("--per-combo", type=int, default=8)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    import torch

    from shapekit.generate import load_generator
    from shapekit.generate.terms import bright_map, measured_map
    from shapekit.registry import resolve
    from shapekit.synth import measure_structure, process_model, render_micrograph, sample_process

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    gen = load_generator(resolve(a.model, "generator"), device="cpu")
    if gen.mode != "parameters":
        raise SystemExit(f"{a.model} is a {gen.mode}-mode model; this needs parameters mode")
    ump = float(gen.um_per_px)
    test = sample_process(a.n_test, rng=a.seed + 1000, balanced=True)  # as gan_whole_images.py
    rows = []
    for i, (temp, hours) in enumerate(zip(test["aging_temperature_C"], test["aging_time_h"])):
        temper = str(process_model(temp, hours)["temper"])
        fake = gen.sample(a.per_combo, label=temper, seed=a.seed + i, size=a.size,
                          conditions={"aging_temperature_C": float(temp),
                                      "aging_time_h": float(hours)})
        real = np.stack([render_micrograph(float(temp), float(hours), size=a.size, um_per_px=ump,
                                           seed=10_000 + 100 * i + k)[0]
                         for k in range(a.per_combo)])
        row = {"aging_temperature_C": float(temp), "aging_time_h": float(hours), "temper": temper}
        for name, imgs in (("gen", fake), ("sim", real)):
            x = torch.tensor(imgs, dtype=torch.float32)[:, None] * 2 - 1
            row[f"{name}_measured"] = float(np.mean([measure_structure(im, ump)["area_fraction"]
                                                     for im in imgs]))
            row[f"{name}_half_max"] = bright_map(x, window=7).mean().item()
            row[f"{name}_measure"] = measured_map(x).mean().item()
        rows.append(row)
    summary = {}
    for temper in ("under_aged", "peak_aged", "over_aged"):
        rr = [r for r in rows if r["temper"] == temper]
        summary[temper] = {
            **{f"gap_{k}": float(np.mean([r[f"gen_{k}"] - r[f"sim_{k}"] for r in rr]))
               for k in ("measured", "half_max", "measure")},
            **{f"sim_{k}_minus_measured": float(np.mean([r[f"sim_{k}"] - r["sim_measured"]
                                                         for r in rr]))
               for k in ("half_max", "measure")}}
        s = summary[temper]
        print(f"{temper}: generated - simulator: measured {s['gap_measured']:+.4f}, half_max map "
              f"{s['gap_half_max']:+.4f}, measure map {s['gap_measure']:+.4f} | simulator, map - "
              f"measured: half_max {s['sim_half_max_minus_measured']:+.4f}, measure "
              f"{s['sim_measure_minus_measured']:+.4f}")
    result = {"model": a.model, "seed": a.seed, "size": a.size, "summary": summary, "rows": rows}
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
