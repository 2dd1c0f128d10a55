"""Quality of shipped (or any exported) generators on whole micrographs, measured, not assumed.

Two evaluations, each on the files a user gets (``--model`` is a shipped name or a run directory):

``sim`` (parameters or properties mode, the simulator's ground truth):
  1. **Conditioning fidelity on whole images.** ``--n-test`` held-out process conditions (another
     seed of :func:`shapekit.synth.sample_process`, never seen in training), ``--per-combo``
     generated images of ``--size``^2 each; area fraction, mean radius (and the hardness they
     imply through the simulator's strength model) measured with
     :func:`shapekit.synth.measure_structure`; R^2 of measured against requested, next to the
     ceiling (the same measurement on simulator fields of the same size at the same conditions).
  2. **Sweeps.** Parameters mode: aging time 0.3-60 h (log-spaced) at 140, 180 and 210 C; properties
     mode: hardness over each temper's range. Same latents along a sweep; the measured mean radius
     (time) or implied hardness (hardness) must change monotonically: Spearman rho per sweep and
     the number of steps that go the wrong way. Time sweeps also measure simulator fields (same
     render seeds at every step): where the truth barely moves (the first steps at 140 C move the
     radius by 0.005 nm) the simulator's own measured sweep steps back as well, so a wrong step is
     also counted where it is resolved, i.e. where the simulator's measured sweep rises.
  3. **Whole-image checks** on ``--big``^2 images: power-spectrum peaks at the latent period
     (:func:`shapekit.generate.checks.lattice_peak_ratio`) and a border frame
     (:func:`~shapekit.generate.checks.border_profile_ratio`), next to the same numbers for
     simulator fields.
  4. **Realism per temper:** :func:`shapekit.realism.score` of the generated images of the
     held-out conditions against the simulator fields of the same conditions (``--n-boot``
     rounds): the morphology, which the requested numbers above do not judge; and a direction
     shared by each set (:func:`shapekit.generate.checks.orientation_bias`; simulator fields have
     none).

``uhcs3`` (class mode, real data; UHCS, CC BY 3.0 US):
  1. Real images at the model's training scale (its ``downscale``), split into training and
     held-out images exactly as training split them (:func:`shapekit.generate.data.holdout_split`,
     fraction and seed from the model).
  2. The TopTemp classifier (:func:`shapekit.temper.train.train_on_images`, ``accurate`` preset,
     SVM, tiles of 128 px = the default 256-px window at half resolution) trained on the real
     training images; its CV and its accuracy on the held-out real images are reported. (The
     preset was chosen by CV on the real images alone, before any generated image was scored.)
  3. ``--per-class`` generated images of ``--size``^2 per class: the share assigned to their
     conditioned class; :func:`shapekit.realism.score` of each class's generated set against that
     class's held-out real images (topological distance relative to the real-vs-real baseline,
     coverage, collapse flag, two-point correlation), KID with a local extractor when ``--kid``
     names one (``--kid train``: a small temper CNN trained on the real training images), the
     whole-image checks against real images, and a direction shared by the generated images
     (:func:`shapekit.generate.checks.orientation_bias`; the other checks are blind to it).

Example (what RESULTS.md section 6 reports; one niced thread)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_whole_images.py sim --model sim-parameters \
        --out /tmp/eval_sim_par.json
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_whole_images.py uhcs3 --model uhcs3-class \
        --work /tmp/eval_uhcs3 --out /tmp/eval_uhcs3.json
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


def measure_set(images: np.ndarray, um_per_px: float) -> dict[str, float]:
    """Area fraction and mean radius of a set of images (means over the images, as the checker
    takes them) and the hardness they imply through the simulator's strength model."""
    from shapekit.synth import measure_structure
    from shapekit.synth import physics

    ms = [measure_structure(im, um_per_px) for im in images]
    f = float(np.mean([m["area_fraction"] for m in ms]))
    r = float(np.nanmean([m.get("mean_radius_nm", np.nan) for m in ms]))
    hv = float(3.0 * physics.strength_from_structure(f, r) / physics.G_ACC)
    return {"area_fraction": f, "mean_radius_nm": r, "hardness_HV": hv}


def checker_conditions(seed: int, n_test: int) -> list[tuple[float, float, dict]]:
    """The ``sim`` evaluation's held-out process conditions at ``seed``: ``(T, t, truth)`` each
    (:func:`shapekit.synth.sample_process` with ``rng = seed + 1000``, tempers balanced; the
    truth is :func:`shapekit.synth.process_model`'s). Its simulator fields of condition ``i``
    use render seeds ``REAL_SEED + 100 i + k``."""
    from shapekit.synth import process_model, sample_process

    test = sample_process(n_test, rng=seed + 1000, balanced=True)
    return [(float(T), float(t), process_model(T, t))
            for T, t in zip(test["aging_temperature_C"], test["aging_time_h"])]


REAL_SEED = 10_000


def _spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _whole_image_checks(fake: np.ndarray, real: list[np.ndarray], period: int) -> dict:
    from shapekit.generate.checks import border_profile_ratio, lattice_contrast, lattice_peak_ratio

    # real images differ in size: crop them to one common square for the spectrum
    s = min(min(im.shape) for im in real)
    rc = np.stack([im[:s, :s] for im in real])
    return {"lattice_peak_ratio_generated": lattice_peak_ratio(fake, period),
            "lattice_peak_ratio_real": lattice_peak_ratio(rc, period),
            "lattice_contrast_generated": lattice_contrast(fake, period),
            "lattice_contrast_real": float(np.median([lattice_contrast(im, period) for im in real])),
            "border_ratio_generated": border_profile_ratio(fake),
            "border_ratio_real": border_profile_ratio(rc)}


def _hardware(torch) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores_visible": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "load_avg_at_end": os.getloadavg()}


def _sweeps(gen, a: argparse.Namespace, mode: str, ump: float) -> list[dict]:
    """Aging-time (parameters) or hardness (properties) sweeps, same latents per sweep."""
    from shapekit.synth import DOMAIN, process_model, render_micrograph

    sweeps = []
    if mode == "parameters":
        times = list(np.geomspace(0.3, 60.0, a.sweep_k))
        for T in (140.0, 180.0, 210.0):
            meas = []
            for t in times:
                temper = str(process_model(T, t)["temper"])
                imgs = gen.sample(a.per_combo, label=temper, seed=a.seed,
                                  conditions={"aging_temperature_C": T, "aging_time_h": t},
                                  size=a.size)
                meas.append(measure_set(imgs, ump)["mean_radius_nm"])
            truth = [float(process_model(T, t)["mean_radius_nm"]) for t in times]
            # the same measurement on simulator fields (the same render seeds at every step):
            # where the truth barely moves, it steps back too; a generated wrong step counts as
            # resolved only where the simulator's own measured sweep rises
            sim = [measure_set(np.stack([render_micrograph(T, t, size=a.size, um_per_px=ump,
                                                        seed=20_000 + 100 * a.seed + k)[0]
                                      for k in range(a.per_combo)]), ump)["mean_radius_nm"]
                   for t in times]
            dg, ds = np.diff(meas), np.diff(sim)
            sweeps.append({"sweep": f"aging_time_h at {T:.0f} C", "values": times,
                           "measured": "mean_radius_nm", "requested_truth": truth,
                           "generated": meas, "simulator": sim,
                           "spearman": _spearman(times, meas),
                           "wrong_steps": int(np.sum(dg < 0)),
                           "simulator_wrong_steps": int(np.sum(ds < 0)),
                           "wrong_steps_resolved": int(np.sum((dg < 0) & (ds > 0)))})
    else:
        grid_T, grid_t = np.meshgrid(np.linspace(*DOMAIN["aging_temperature_C"], 41),
                                     np.geomspace(*DOMAIN["aging_time_h"], 61))
        pm = process_model(grid_T.ravel(), grid_t.ravel())
        for temper in ("under_aged", "over_aged"):
            hv = np.asarray(pm["hardness_HV"])[np.asarray(pm["temper"]) == temper]
            values = list(np.linspace(np.percentile(hv, 5), np.percentile(hv, 95), a.sweep_k))
            meas = [measure_set(gen.sample(a.per_combo, label=temper, seed=a.seed,
                                        conditions={"hardness_HV": v}, size=a.size),
                             ump)["hardness_HV"] for v in values]
            sweeps.append({"sweep": f"hardness_HV, {temper}", "values": values,
                           "measured": "hardness_HV (from measured structure)",
                           "generated": meas, "spearman": _spearman(values, meas),
                           "wrong_steps": int(np.sum(np.diff(meas) < 0))})
    return sweeps


def _print_sweeps(sweeps: list[dict]) -> None:
    for s in sweeps:
        extra = (f" ({s['wrong_steps_resolved']} where the simulator's own sweep rises; it steps "
                 f"back {s['simulator_wrong_steps']} times)" if "simulator" in s else "")
        print(f"sweep {s['sweep']}: Spearman {s['spearman']:.3f}, {s['wrong_steps']} wrong steps "
              f"of {len(s['values']) - 1}{extra}", file=sys.stderr)


def eval_sim(a: argparse.Namespace) -> dict:
    import torch

    from shapekit.generate import load_generator
    from shapekit.registry import resolve
    from shapekit.synth import render_micrograph

    gen = load_generator(resolve(a.model, "generator"), device="cpu", checkpoint=a.checkpoint)
    if a.raw:  # the network alone, without the model's imaging stage
        gen.imaging = None
    mode, ump = gen.mode, float(gen.um_per_px)
    if mode not in ("parameters", "properties"):
        raise SystemExit(f"{a.model} is a {mode}-mode model; the sim evaluation needs parameters "
                         "or properties mode")
    t0 = time.perf_counter()
    if a.sweeps_only:
        sweeps = _sweeps(gen, a, mode, ump)
        _print_sweeps(sweeps)
        return {"evaluation": "sim sweeps", "model": a.model, "raw": a.raw, "mode": mode, "um_per_px": ump,
                "iterations": gen.config.get("iterations"), "size": a.size, "seed": a.seed,
                "sweeps": sweeps, "seconds": round(time.perf_counter() - t0, 1),
                "hardware": _hardware(torch)}
    rows = []
    sets: dict[str, tuple[list, list]] = {}
    for i, (T, t, truth) in enumerate(checker_conditions(a.seed, a.n_test)):
        temper = str(truth["temper"])
        conds = ({"aging_temperature_C": float(T), "aging_time_h": float(t)}
                 if mode == "parameters" else {"hardness_HV": float(truth["hardness_HV"])})
        fake = gen.sample(a.per_combo, label=temper, conditions=conds, seed=a.seed + i,
                          size=a.size)
        real = np.stack([render_micrograph(float(T), float(t), size=a.size, um_per_px=ump,
                                           seed=REAL_SEED + 100 * i + k)[0]
                         for k in range(a.per_combo)])
        mf, mr = measure_set(fake, ump), measure_set(real, ump)
        sets.setdefault(temper, ([], []))[0].extend(real)
        sets[temper][1].extend(fake)
        row = {"aging_temperature_C": float(T), "aging_time_h": float(t), "temper": temper}
        for q in ("area_fraction", "mean_radius_nm", "hardness_HV"):
            row[f"req_{q}"] = float(truth[q])
            row[f"gen_{q}"], row[f"sim_{q}"] = mf[q], mr[q]
        rows.append(row)
        print(f"[{i + 1}/{a.n_test}] T={T:.0f}C t={t:.2f}h {temper}: r {row['req_mean_radius_nm']:.2f}"
              f" gen {mf['mean_radius_nm']:.2f} sim {mr['mean_radius_nm']:.2f} nm; f "
              f"{row['req_area_fraction']:.3f} gen {mf['area_fraction']:.3f} sim "
              f"{mr['area_fraction']:.3f}; HV {row['req_hardness_HV']:.0f} gen "
              f"{mf['hardness_HV']:.0f}", file=sys.stderr)

    def col(k: str) -> np.ndarray:
        return np.array([r[k] for r in rows])

    metrics = {q: {"r2_generated": r2(col(f"req_{q}"), col(f"gen_{q}")),
                   "r2_simulator_ceiling": r2(col(f"req_{q}"), col(f"sim_{q}")),
                   "pearson_generated": float(np.corrcoef(col(f"req_{q}"), col(f"gen_{q}"))[0, 1])}
               for q in ("area_fraction", "mean_radius_nm", "hardness_HV")}

    if a.fidelity_only:  # conditioning fidelity alone (e.g. at a larger --size)
        for q, m in metrics.items():
            print(f"R^2 {q}: generated {m['r2_generated']:.3f}, simulator fields "
                  f"{m['r2_simulator_ceiling']:.3f}", file=sys.stderr)
        return {"evaluation": "sim fidelity", "model": a.model, "raw": a.raw, "mode": mode,
                "um_per_px": ump, "iterations": gen.config.get("iterations"), "size": a.size,
                "seed": a.seed, "metrics": metrics, "seconds": round(time.perf_counter() - t0, 1),
                "hardware": _hardware(torch), "rows": rows}

    sweeps = _sweeps(gen, a, mode, ump)
    _print_sweeps(sweeps)

    # realism per temper: the generated images of the held-out conditions against simulator
    # fields of the same conditions (the morphology, which the requested numbers do not judge)
    from shapekit.generate.checks import orientation_bias
    from shapekit.realism import score

    realism = {}
    for temper, (real, fake) in sorted(sets.items()):
        res = score(real, fake, n_boot=a.n_boot, n_perm=a.n_boot, seed=a.seed, n_jobs=1,
                    real_um_per_px=ump, fake_um_per_px=ump)
        realism[temper] = {"relative_to_baseline": res["relative_to_baseline"],
                           "topological_distance": res["topological_distance"],
                           "coverage": res["coverage"]["coverage"],
                           "collapsed": res["coverage"]["collapsed"],
                           "two_point_distance": res["two_point"]["distance"],
                           "n_images": len(fake),
                           # simulator fields have no direction: a shared one is the generator's
                           "orientation": {"generated": orientation_bias(fake),
                                           "simulator": orientation_bias(real)}}
        print(f"realism {temper}: {res['relative_to_baseline']:.2f}x baseline, coverage "
              f"{res['coverage']['coverage']:.2f}, collapsed {res['coverage']['collapsed']}, "
              f"shared direction R {realism[temper]['orientation']['generated']['shared']:.2f} "
              f"(simulator {realism[temper]['orientation']['simulator']['shared']:.2f})",
              file=sys.stderr)

    big = gen.sample(8, label="peak_aged", seed=a.seed, size=a.big,
                     conditions=({"aging_temperature_C": 180.0, "aging_time_h": 20.0}
                                 if mode == "parameters" else {"hardness_HV": 160.0}))
    real_big = [render_micrograph(180.0, 20.0, size=a.big, um_per_px=ump, seed=77 + k)[0]
                for k in range(8)]
    checks = _whole_image_checks(big, real_big, gen.generator.period)
    result = {"evaluation": "sim", "model": a.model, "raw": a.raw, "mode": mode, "um_per_px": ump,
              "iterations": gen.config.get("iterations"), "size": a.size,
              "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
              "metrics": metrics, "sweeps": sweeps, "realism": realism,
              "whole_image_checks": checks,
              "seconds": round(time.perf_counter() - t0, 1), "hardware": _hardware(torch),
              "rows": rows}
    return result


def eval_uhcs3(a: argparse.Namespace) -> dict:
    import torch

    from shapekit.generate import load_generator
    from shapekit.generate.checks import orientation_bias
    from shapekit.generate.data import holdout_split, load_training_table, to_common_scale
    from shapekit.realism import score
    from shapekit.registry import resolve
    from shapekit.temper.train import train_on_images

    gen = load_generator(resolve(a.model, "generator"), device="cpu", checkpoint=a.checkpoint)
    if a.raw:  # the network alone, without the model's imaging stage
        gen.imaging = None
    cfg = gen.config
    downscale = float(cfg.get("downscale", 1.0))
    # the model's own split (fraction and seed of its training), whatever --seed draws: another
    # seed's split would put the generator's (and the cached checkers') training images among
    # the "held-out" ones
    holdout = float(cfg["holdout"]) if cfg.get("holdout") is not None else float(a.holdout)
    split_seed = int(cfg["seed"]) if cfg.get("seed") is not None else a.seed
    t0 = time.perf_counter()
    images, labels, _, codec, ump, names = load_training_table(a.manifest, "class")
    scaled, _ = to_common_scale(images, ump, downscale)
    train, test = holdout_split(labels, holdout, split_seed)
    lab = [codec.label_names[k] for k in labels]
    a.work.mkdir(parents=True, exist_ok=True)
    split = {"manifest": str(a.manifest), "holdout": holdout, "seed": split_seed,
             "held_out": sorted(Path(names[i]).name for i in test)}
    split_file = a.work / "split.json"
    if split_file.is_file() and json.loads(split_file.read_text()) != split:
        raise SystemExit(f"{a.work} holds checkers trained on another split than this model's "
                         f"(holdout {holdout:g}, seed {split_seed}): give another --work")
    split_file.write_text(json.dumps(split))
    clf_dir = a.work / f"toptemp_{a.preset}_{a.tile_size}"
    if (clf_dir / "config.json").is_file():  # the checker does not depend on the generator
        from shapekit.temper import load_model

        clf = load_model(clf_dir)
    else:
        clf = train_on_images([scaled[i] for i in train], [lab[i] for i in train],
                              tile_size=a.tile_size, seed=split_seed, cv_folds=5, preset=a.preset,
                              source=f"{a.manifest} at 1/{downscale:g}, training split")
        clf.save(clf_dir)
    cv = clf.config.get("cv")
    real_pred = [r["temper"] for r in clf.classify([scaled[i] for i in test])]
    real_acc = float(np.mean([p == lab[i] for p, i in zip(real_pred, test)]))
    print(f"TopTemp on held-out real images at 1/{downscale:g}: {real_acc:.3f}", file=sys.stderr)
    kid_extractor = None
    if a.kid == "train":  # a temper CNN trained on the real training images, as KID features
        from shapekit.realism import load_extractor

        if (a.work / "cnn" / "config.json").is_file():
            from shapekit.temper import load_model

            cnn = load_model(a.work / "cnn")
        else:
            cnn = train_on_images([scaled[i] for i in train], [lab[i] for i in train],
                                  model="cnn", tile_size=64, seed=split_seed,
                                  cnn_options={"width": 8, "input_scale": 1, "epochs": 10})
            cnn.save(a.work / "cnn")
        kid_extractor = load_extractor(cnn.feature_extractor(), size=128)
    elif a.kid:
        from shapekit.realism import load_extractor

        kid_extractor = load_extractor(a.kid)
    from shapekit.realism import materials_statistics, offline_kid
    from shapekit.realism.materials import compare_materials

    per_class = {}
    for k, name in enumerate(gen.label_names):
        fake = gen.sample(a.per_class, label=name, seed=a.seed + k, size=a.size)
        pred = [r["temper"] for r in clf.classify(list(fake))]
        real_test = [scaled[i] for i in test if labels[i] == k]
        real_train = [scaled[i] for i in train if labels[i] == k]
        # the reference set of the realism score: held-out images (the report), or the training
        # images (for choices made before the held-out ones are looked at)
        real_ref = real_train if a.against == "train" else real_test
        # the real spread: the same comparisons between real training and held-out images
        s2_rr = compare_materials(materials_statistics(real_train), materials_statistics(
            real_test))["two_point"]["distance"]
        kid_rr = (offline_kid(real_test, real_train, kid_extractor, seed=a.seed)
                  if kid_extractor is not None else None)
        res = score(real_ref, list(fake), n_boot=a.n_boot, n_perm=a.n_boot, seed=a.seed,
                    kid_extractor=kid_extractor, n_jobs=1)
        big = gen.sample(8, label=name, seed=a.seed + 100 + k, size=a.big)
        per_class[name] = {
            "agreement": float(np.mean([p == name for p in pred])),
            "predicted_counts": {n: pred.count(n) for n in gen.label_names},
            "topological_distance": res["topological_distance"],
            "real_vs_real_baseline": res["real_vs_real"]["mean"],
            "relative_to_baseline": res["relative_to_baseline"],
            "p_value": res["p_value"], "coverage": res["coverage"]["coverage"],
            "coverage_expected_if_same": res["coverage"]["expected_if_same"],
            "diversity_ratio": res["coverage"]["diversity_ratio"],
            "collapsed": res["coverage"]["collapsed"],
            "two_point_distance": res["two_point"]["distance"],
            "two_point_distance_real_train_vs_heldout": s2_rr, "two_point": res["two_point"],
            "kid": res.get("kid"), "kid_real_train_vs_heldout": kid_rr,
            "n_real_heldout": len(real_test), "n_generated": len(fake), "against": a.against,
            "whole_image_checks": _whole_image_checks(big, real_ref, gen.generator.period),
            # a direction shared by the generated images, which the rotation-invariant checks
            # above cannot see (training crops are flipped and turned by 90 degrees, so a
            # generator has no reason to prefer one); the real sets' own for comparison
            "orientation": {"generated": orientation_bias(list(fake)),
                            "real_heldout": orientation_bias(real_test),
                            "real_training": orientation_bias(real_train)}}
        c = per_class[name]
        kid_txt = (f", KID {c['kid']['kid_mean']:.3g} (real {kid_rr['kid_mean']:.3g})"
                   if kid_rr and c["kid"] else "")
        print(f"{name}: agreement {c['agreement']:.3f}, realism {c['topological_distance']:.3f} "
              f"= {c['relative_to_baseline']:.2f}x baseline, coverage {c['coverage']:.2f}, "
              f"collapsed {c['collapsed']}, S2 {c['two_point_distance']:.3f} (real "
              f"{s2_rr:.3f}){kid_txt}, shared direction R {c['orientation']['generated']['shared']:.2f} "
              f"(real {c['orientation']['real_training']['shared']:.2f})", file=sys.stderr)
    return {"evaluation": "uhcs3", "model": a.model, "raw": a.raw, "manifest": str(a.manifest),
            "downscale": downscale, "holdout": holdout, "split_seed": split_seed, "size": a.size,
            "iterations": cfg.get("iterations"), "tile_size": a.tile_size,
            "n_train_real": int(len(train)), "n_heldout_real": int(len(test)),
            "toptemp_cv": cv, "toptemp_accuracy_real_heldout": real_acc,
            "agreement_generated": float(np.mean([c["agreement"] for c in per_class.values()])),
            "per_class": per_class, "seconds": round(time.perf_counter() - t0, 1),
            "hardware": _hardware(torch)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("evaluation", choices=["sim", "uhcs3"])
    p.add_argument("--model", required=True, help="Shipped generator name or run directory.")
    p.add_argument("--checkpoint", default=None,
                   help="Evaluate this training checkpoint of a run (e.g. iter-0002000).")
    p.add_argument("--raw", action="store_true",
                   help="Evaluate the network alone, without the model's imaging stage.")
    p.add_argument("--size", type=int, default=256, help="Side of the evaluated whole images.")
    p.add_argument("--big", type=int, default=512, help="Side of the images of the checks.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--n-test", type=int, default=24, help="sim: held-out process conditions.")
    p.add_argument("--per-combo", type=int, default=8, help="sim: images per condition.")
    p.add_argument("--sweep-k", type=int, default=7, help="sim: values per sweep.")
    p.add_argument("--sweeps-only", action="store_true", help="sim: measure the sweeps alone.")
    p.add_argument("--fidelity-only", action="store_true",
                   help="sim: R^2 of the held-out conditions alone (no sweeps, realism, checks).")
    p.add_argument("--manifest", type=Path, default=Path("data_manifests/uhcs3.yaml"))
    p.add_argument("--holdout", type=float, default=0.2,
                   help="uhcs3: the training hold-out, for a model that does not record its own.")
    p.add_argument("--against", default="heldout", choices=["heldout", "train"],
                   help="uhcs3: real images the realism score compares with (train: for choices "
                        "made before the held-out images are scored).")
    p.add_argument("--per-class", type=int, default=48, help="uhcs3: generated images per class.")
    p.add_argument("--tile-size", type=int, default=128, help="uhcs3: TopTemp tile side.")
    p.add_argument("--preset", default="accurate", choices=["accurate", "robust"],
                   help="uhcs3: TopTemp preset of the checker (chosen by its CV on real images "
                        "at the training scale: accurate 0.958, robust 0.900).")
    p.add_argument("--n-boot", type=int, default=100, help="Realism bootstrap rounds.")
    p.add_argument("--kid", default=None,
                   help="uhcs3: local KID extractor: a CNN model dir, or 'train' to train a small "
                        "temper CNN on the real training images (64-px tiles) first.")
    p.add_argument("--work", type=Path, default=Path("/tmp/gan_whole_images"))
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    result = eval_sim(a) if a.evaluation == "sim" else eval_uhcs3(a)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2, default=str))
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
