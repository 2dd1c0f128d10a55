"""Conditioning fidelity of the conditional GAN on the simulator (ground truth known).

1. Synthesize a training set with :func:`shapekit.synth.synthesize` (aging temperature/time drawn
   over the simulator's domain; temper label; hardness).
2. Train in ``parameters`` mode (temper + aging temperature + aging time) or ``properties`` mode
   (temper + hardness) with :func:`shapekit.generate.train_gan`.
3. Draw **held-out** process conditions (another seed of :func:`shapekit.synth.sample_process`:
   combinations never seen in training), generate ``--per-combo`` images for each, and measure
   area fraction and mean precipitate radius with :func:`shapekit.synth.measure_structure`
   (in ``properties`` mode also the hardness implied by the measured structure through the
   simulator's strength model).
4. Report R^2 (coefficient of determination, 1 - SSE/SST) between requested and measured values,
   next to the **ceiling**: the same measurement on ``--per-combo`` real simulator fields of the
   same tile size at the same conditions (how well the measurement itself can recover the
   requested values at that tile size and sample count).

Example (what the report used; about 25-30 min on 1 busy CPU core)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_fidelity.py --mode parameters \\
        --work /tmp/gan_fid_parameters --max-steps 1000 --out /tmp/gan_fid_parameters.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def r2(requested: np.ndarray, measured: np.ndarray) -> float:
    """Coefficient of determination of ``measured`` as a prediction of ``requested``."""
    y, x = np.asarray(requested, float), np.asarray(measured, float)
    ok = np.isfinite(x) & np.isfinite(y)
    y, x = y[ok], x[ok]
    sst = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if sst == 0 else 1.0 - float(np.sum((y - x) ** 2)) / sst


def _measure(images: np.ndarray, um_per_px: float) -> dict[str, float]:
    from shapekit.synth import measure_structure

    ms = [measure_structure(im, um_per_px) for im in images]
    return {"area_fraction": float(np.mean([m["area_fraction"] for m in ms])),
            "mean_radius_nm": float(np.nanmean([m.get("mean_radius_nm", np.nan) for m in ms]))}


def _hardness_from_structure(f: float, r_nm: float) -> float:
    from shapekit.synth import physics

    return float(3.0 * physics.strength_from_structure(f, r_nm) / physics.G_ACC)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["parameters", "properties"], default="parameters")
    p.add_argument("--work", type=Path, required=True, help="Work folder (data, run).")
    p.add_argument("--n-train", type=int, default=240)
    p.add_argument("--train-size", type=int, default=128, help="Side of the simulated images.")
    p.add_argument("--image-size", type=int, default=64, help="GAN tile side.")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--n-test", type=int, default=24, help="Held-out process conditions.")
    p.add_argument("--per-combo", type=int, default=32, help="Images generated per condition.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    import torch

    from shapekit.generate import load_generator, train_gan
    from shapekit.synth import process_model, render_micrograph, sample_process, synthesize

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    data = a.work / "train"
    if not (data / "manifest.yaml").is_file():
        synthesize(a.n_train, out_dir=data, seed=a.seed, size=a.train_size, keep_images=False)
    run = a.work / "run"
    t0 = time.perf_counter()
    train_info: dict = {}
    if not (run / "generator.safetensors").is_file():
        resume = (run / "checkpoints" / "last.ckpt").is_file()
        train_info = train_gan(data / "manifest.yaml", run, condition=a.mode,
                               image_size=a.image_size, max_steps=a.max_steps,
                               batch_size=a.batch_size, seed=a.seed, resume=resume,
                               g_channels=a.channels, d_channels=a.channels, z_dim=64,
                               ema_decay=0.99, checkpoint_every=100, sample_every=100)
    train_s = time.perf_counter() - t0
    gen = load_generator(run, device="cpu")
    ump = float(gen.um_per_px or 0.002)

    test = sample_process(a.n_test, rng=a.seed + 1000, balanced=True)
    rows = []
    t1 = time.perf_counter()
    for i, (T, t) in enumerate(zip(test["aging_temperature_C"], test["aging_time_h"])):
        truth = process_model(T, t)
        temper = str(truth["temper"])
        conds = ({"aging_temperature_C": float(T), "aging_time_h": float(t)}
                 if a.mode == "parameters" else {"hardness_HV": float(truth["hardness_HV"])})
        fake = gen.sample(a.per_combo, label=temper, conditions=conds, seed=a.seed + i)
        real = np.stack([render_micrograph(float(T), float(t), size=a.image_size, um_per_px=ump,
                                           seed=10_000 + 100 * i + k)[0]
                         for k in range(a.per_combo)])
        mf, mr = _measure(fake, ump), _measure(real, ump)
        row = {"aging_temperature_C": float(T), "aging_time_h": float(t), "temper": temper,
               "req_area_fraction": float(truth["area_fraction"]),
               "req_mean_radius_nm": float(truth["mean_radius_nm"]),
               "req_hardness_HV": float(truth["hardness_HV"]),
               "gen_area_fraction": mf["area_fraction"], "gen_mean_radius_nm": mf["mean_radius_nm"],
               "sim_area_fraction": mr["area_fraction"], "sim_mean_radius_nm": mr["mean_radius_nm"]}
        row["gen_hardness_HV"] = _hardness_from_structure(mf["area_fraction"], mf["mean_radius_nm"])
        row["sim_hardness_HV"] = _hardness_from_structure(mr["area_fraction"], mr["mean_radius_nm"])
        rows.append(row)
        print(f"[{i + 1}/{len(test)}] T={T:.0f}C t={t:.2f}h {temper}: r req "
              f"{row['req_mean_radius_nm']:.2f} gen {row['gen_mean_radius_nm']:.2f} sim "
              f"{row['sim_mean_radius_nm']:.2f} nm; f req {row['req_area_fraction']:.3f} gen "
              f"{row['gen_area_fraction']:.3f} sim {row['sim_area_fraction']:.3f}", file=sys.stderr)
    eval_s = time.perf_counter() - t1

    def col(k: str) -> np.ndarray:
        return np.array([r[k] for r in rows])

    metrics = {}
    for q in ("area_fraction", "mean_radius_nm", "hardness_HV"):
        metrics[q] = {"r2_generated": r2(col(f"req_{q}"), col(f"gen_{q}")),
                      "r2_simulator_ceiling": r2(col(f"req_{q}"), col(f"sim_{q}")),
                      "pearson_generated": float(np.corrcoef(col(f"req_{q}"), col(f"gen_{q}"))[0, 1]),
                      "r2_generated_vs_simulator_measured": r2(col(f"sim_{q}"), col(f"gen_{q}"))}
    result = {"mode": a.mode, "settings": {k: str(v) if isinstance(v, Path) else v
                                           for k, v in vars(a).items()},
              "training_seconds": round(train_s, 1), "train_info": train_info,
              "evaluation_seconds": round(eval_s, 1),
              "hardware": {"cpu": platform.processor() or platform.machine(),
                           "cores_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                           "cuda": torch.cuda.is_available(),
                           "load_avg_at_end": os.getloadavg()},
              "metrics": metrics, "rows": rows}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
