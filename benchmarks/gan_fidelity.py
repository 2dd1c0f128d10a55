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
   requested values at that tile size and sample count), and the diversity within a condition
   (mean pairwise |difference| of 8 generated vs 8 simulated images; 0 = latent ignored).
   An existing ``--work`` run with an exported generator is evaluated without retraining.

``--mode class`` runs the real-data check instead: train a class-conditioned GAN on a labelled
manifest (``uhcs3``, images downscaled by ``--downscale``), train the TopTemp classifier
(:func:`shapekit.temper.train.train_on_images`) on real tiles of the same size from 80% of the
images, and report the fraction of generated images it assigns to their conditioned class, next
to its accuracy on real tiles of the held-out 20% (the ceiling).

Example (what the report used; one niced thread)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_fidelity.py --mode parameters \
        --work /tmp/g4/fid_par --image-size 64 --max-steps 1800 --per-combo 48 \
        --out /tmp/g4/fid_par.json
    # --mode properties ... --max-steps 1500; --mode class --downscale 3 ... --max-steps 1200

Results (2026-11-28, shared 2-core x86-64 CPU, 1 torch thread, no GPU; 64-px tiles, channels 16,
batch 16, 240 simulated 128-px training images, 24 held-out conditions x 48 images; auxiliary
heads weight 1, mode-seeking weight 0.1). R^2 of measured vs requested; in brackets the ceiling
(the same measurement on real simulator tiles of 64 px at the same conditions):

================  =====  ========  ==============  ===============  ==============
mode              iters  train s   area fraction   mean radius      hardness
================  =====  ========  ==============  ===============  ==============
parameters        1800   1750      0.40 (0.91)     0.905 (0.99)     0.74 (0.98)
properties        1500   905       -0.93 (0.91)*   0.916 (0.99)     0.862 (0.98)
================  =====  ========  ==============  ===============  ==============

(*) properties mode conditions on temper + hardness only; area fraction is set by the aging
temperature, which that mode does not see, so its R^2 there is not a conditioning target.
The first session's model (32 px, no auxiliary heads, no mode-seeking) gave -9.4 / -0.01 / -2.1
(parameters) and -5.7 / 0.51 / 0.38 (properties) after 2600 iterations; its generator ignored
``z`` (all images of one condition were identical) and drew over-aged particles far too small
and too many (area fraction +0.05 against a 0.125-0.158 range), and 32-px tiles cap the
measurement itself at R^2 0.60 / 0.75 / 0.50. Class mode: see RESULTS.md section 6.

Session 3 (bilinear upsampling, now the default; the table above is ``--upsample nearest``),
continuing each run by resuming with a larger ``--max-steps``: parameters 1800 / 3600 / 5400
iterations -1.50 / 0.24 / 0.68 (area), 0.870 / 0.900 / 0.806 (radius), 0.69 / 0.73 / 0.66
(hardness); properties 1500 / 3000 iterations 0.884 / 0.970 (radius), 0.841 / 0.925 (hardness);
class mode on uhcs3 42 / 66 / 75 / 56 % at 1200 / 4500 / 7500 / 10500 iterations.
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


def _pairwise_diff(images: np.ndarray, k: int = 8) -> float:
    """Mean |difference| between the first ``k`` images of one condition, over all pairs: 0 when
    the generator ignores its latent (every image of a condition the same)."""
    x = np.asarray(images[:k], dtype=np.float64)
    return float(np.mean([np.abs(x[i] - x[j]).mean() for i in range(len(x))
                          for j in range(i + 1, len(x))]))


def _hardness_from_structure(f: float, r_nm: float) -> float:
    from shapekit.synth import physics

    return float(3.0 * physics.strength_from_structure(f, r_nm) / physics.G_ACC)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["parameters", "properties", "class"], default="parameters")
    p.add_argument("--manifest", type=Path, default=Path("data_manifests/uhcs3.yaml"),
                   help="class mode: the labelled real-data manifest.")
    p.add_argument("--downscale", type=float, default=3.0, help="class mode: shrink images by this.")
    p.add_argument("--work", type=Path, required=True, help="Work folder (data, run).")
    p.add_argument("--n-train", type=int, default=240)
    p.add_argument("--train-size", type=int, default=128, help="Side of the simulated images.")
    p.add_argument("--image-size", type=int, default=64, help="GAN tile side.")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--aux-weight", type=float, default=1.0,
                   help="Auxiliary class/condition heads of D (0 = off, the first session's model).")
    p.add_argument("--ms-weight", type=float, default=0.1, help="Mode-seeking term (0 = off).")
    p.add_argument("--upsample", choices=["bilinear", "nearest"], default="bilinear",
                   help="Generator upsampling (nearest = the second session's model).")
    p.add_argument("--sample-every", type=int, default=200)
    p.add_argument("--n-test", type=int, default=24, help="Held-out process conditions.")
    p.add_argument("--per-combo", type=int, default=32, help="Images generated per condition.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    import torch

    from shapekit.generate import load_generator, train_gan
    from shapekit.synth import process_model, render_micrograph, sample_process, synthesize

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if a.mode == "class":
        return class_agreement(a)
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
                               ema_decay=0.99, checkpoint_every=100,
                               sample_every=a.sample_every, aux_weight=a.aux_weight,
                               ms_weight=a.ms_weight, upsample=a.upsample)
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
               "sim_area_fraction": mr["area_fraction"], "sim_mean_radius_nm": mr["mean_radius_nm"],
               "gen_pairwise_diff": _pairwise_diff(fake), "sim_pairwise_diff": _pairwise_diff(real)}
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
    metrics["diversity"] = {"generated_pairwise_diff": float(col("gen_pairwise_diff").mean()),
                            "simulator_pairwise_diff": float(col("sim_pairwise_diff").mean())}
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


def class_agreement(a: argparse.Namespace) -> dict:
    """Class-mode GAN on a real labelled manifest, checked by the TopTemp classifier."""
    import cv2
    import torch

    from shapekit.generate import load_generator
    from shapekit.generate.data import GANDataModule, load_training_table
    from shapekit.generate.train import fit_gan
    from shapekit.temper.train import train_on_images

    images, labels, values, codec, _, names = load_training_table(a.manifest, "class")
    small = [cv2.resize(im, (int(round(im.shape[1] / a.downscale)),
                             int(round(im.shape[0] / a.downscale))), interpolation=cv2.INTER_AREA)
             for im in images]
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(small))
    n_test = len(small) // 5
    test_idx, train_idx = np.sort(order[:n_test]), np.sort(order[n_test:])
    run = a.work / "run"
    t0 = time.perf_counter()
    train_info: dict = {}
    if not (run / "generator.safetensors").is_file():
        dm = GANDataModule([small[i] for i in train_idx], labels[train_idx],
                           np.zeros((len(train_idx), 0)), codec, image_size=a.image_size,
                           batch_size=a.batch_size, steps=a.max_steps, seed=a.seed,
                           names=[names[i] for i in train_idx])
        train_info = fit_gan(dm, run, max_steps=a.max_steps, seed=a.seed,
                             resume=(run / "checkpoints" / "last.ckpt").is_file(),
                             g_channels=a.channels, d_channels=a.channels, z_dim=64,
                             ema_decay=0.99, checkpoint_every=100, sample_every=a.sample_every,
                             aux_weight=a.aux_weight, ms_weight=a.ms_weight,
                             upsample=a.upsample,
                             extra_config={"manifest": str(a.manifest), "downscale": a.downscale})
    train_s = time.perf_counter() - t0

    def tiles(idx: np.ndarray, per: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
        r = np.random.default_rng(seed)
        out, lab = [], []
        s = a.image_size
        for i in idx:
            im = small[i]
            for _ in range(per):
                y, x = r.integers(0, im.shape[0] - s + 1), r.integers(0, im.shape[1] - s + 1)
                out.append(im[y:y + s, x:x + s])
                lab.append(codec.label_names[labels[i]])
        return out, lab

    t1 = time.perf_counter()
    tr_x, tr_y = tiles(train_idx, 2, a.seed + 1)
    clf = train_on_images(tr_x, tr_y, tile_size=None, seed=a.seed, cv_folds=3)
    clf.save(a.work / "toptemp")
    te_x, te_y = tiles(test_idx, 2, a.seed + 2)
    real_pred = [r["temper"] for r in clf.classify(te_x)]
    real_acc = float(np.mean([p == t for p, t in zip(real_pred, te_y)]))
    gen = load_generator(run, device="cpu")
    per_class = {}
    for k, name in enumerate(gen.label_names):
        fake = gen.sample(a.per_combo, label=name, seed=a.seed + k)
        pred = [r["temper"] for r in clf.classify(list(fake))]
        per_class[name] = float(np.mean([p == name for p in pred]))
    agreement = float(np.mean(list(per_class.values())))
    result = {"mode": "class", "manifest": str(a.manifest), "downscale": a.downscale,
              "image_size": a.image_size, "training_seconds": round(train_s, 1),
              "train_info": train_info, "classifier_seconds": round(time.perf_counter() - t1, 1),
              "toptemp_accuracy_real_heldout_tiles": real_acc,
              "n_real_test_tiles": len(te_y), "agreement_generated": agreement,
              "agreement_per_class": per_class, "n_generated_per_class": a.per_combo,
              "hardware": {"cores_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                           "cuda": torch.cuda.is_available(), "load_avg_at_end": os.getloadavg()}}
    print(json.dumps(result, indent=2))
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
