"""Where a generator's realism ratio comes from: grains, structure or imaging.

Two measurements on the held-out conditions of ``benchmarks/gan_whole_images.py sim`` (its
``--seed``: :func:`shapekit.synth.sample_process` with ``rng = seed + 1000``, 8 images of 256^2
per condition, pooled per temper, against simulator fields of the same conditions with the
checker's render seeds 10 000 + 100 i + k):

``grains``
    Simulator fields drawn with another grain density (``--densities``, grains per um^2; the
    simulator's is 12, and 0.001 leaves one grain, no boundary, no precipitate-free zone)
    scored by :func:`shapekit.realism.score` against the simulator's own fields: how far the
    realism score moves when only the grains change (render seeds 20 000 + 100 i + k; density 12
    is the real-vs-real control).
``split``
    A generator's images (``--model``, a shipped name or run directory) scored against the same
    simulator fields, with the score's two answers beside the combined one: structure and
    imaging (:mod:`shapekit.realism.structure`, :mod:`shapekit.realism.imaging`) and the imaging
    attributes the verdict names. With ``--sim-imaging`` the generated images first pass through
    the simulator's last imaging steps (:mod:`shapekit.synth.render`: beam blur U(0.5, 0.8) px,
    Poisson-Gaussian noise at a dose of U(40, 150) electrons per full-scale pixel and read noise
    U(0.01, 0.02); a diagnostic of how much of the score is imaging, not a product step).
``split-uhcs3``
    The same split for a class-mode uhcs3 generator (``--model``, default ``uhcs3-class``) as
    ``gan_whole_images.py uhcs3`` scores it: per class, 48 generated 256^2 images (seed ``--seed
    + k``) against that class's held-out real images at the model's training scale (the
    training run's split, hold-out 0.2).

Example (RESULTS.md section 6, session 21; one thread each)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_sources.py grains --seed 84
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_sources.py split \
        --model sim-parameters --seed 84
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_sources.py split \
        --model sim-parameters --seed 84 --sim-imaging
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/realism_sources.py split-uhcs3 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan_whole_images import REAL_SEED, checker_conditions  # noqa: E402

UM_PER_PX = 0.002


def _conditions(seed: int, n_test: int) -> list[tuple[float, float, str]]:
    return [(T, t, str(truth["temper"])) for T, t, truth in checker_conditions(seed, n_test)]


def _fields(conds, per_combo: int, base: int, density: float = 12.0) -> dict[str, list]:
    from shapekit.synth import render_micrograph

    out: dict[str, list] = {}
    for i, (T, t, temper) in enumerate(conds):
        out.setdefault(temper, []).extend(
            render_micrograph(T, t, size=256, um_per_px=UM_PER_PX, seed=base + 100 * i + k,
                              grain_density_per_um2=density)[0] for k in range(per_combo))
    return out


def _score(real: list, fake: list, seed: int, n_boot: int, um_per_px: float | None = UM_PER_PX) -> dict:
    from shapekit.realism import score

    res = score(real, fake, n_boot=n_boot, n_perm=n_boot, seed=seed, n_jobs=1,
                real_um_per_px=um_per_px, fake_um_per_px=um_per_px)
    attrs = res["imaging"].get("attributes", {})
    return {"combined": res["relative_to_baseline"],
            "structure": res["structure"]["relative_to_baseline"],
            "imaging": res["imaging"]["relative_to_baseline"],
            "coverage": res["coverage"]["coverage"],
            "imaging_ratios": {k: v.get("ratio") for k, v in attrs.items()},
            "verdict": res["verdict"]["lines"]}


def sim_imaging(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The simulator's beam blur and Poisson-Gaussian noise, drawn per image, on ``x`` in [0, 1]."""
    import cv2

    from shapekit.synth.render import shot_noise

    blur, dose, read = rng.uniform(0.5, 0.8), rng.uniform(40, 150), rng.uniform(0.01, 0.02)
    return shot_noise(cv2.GaussianBlur(np.asarray(x, np.float32), (0, 0), blur), dose, read, rng)


def split_uhcs3(model: str, seed: int, per_class: int, n_boot: int) -> dict:
    """Structure and imaging of each class's generated set against its held-out real images."""
    import torch

    from shapekit.generate import load_generator
    from shapekit.generate.data import holdout_split, load_training_table, to_common_scale
    from shapekit.registry import resolve

    torch.set_num_threads(1)
    gen = load_generator(resolve(model, "generator"), device="cpu")
    root = Path(__file__).resolve().parents[1]
    images, labels, _, _, ump, _ = load_training_table(root / "data_manifests" / "uhcs3.yaml",
                                                       "class")
    scaled, _ = to_common_scale(images, ump, float(gen.config.get("downscale", 1.0)))
    _, test = holdout_split(labels, float(gen.config.get("holdout", 0.2)) or 0.2, seed)
    out = {}
    for k, name in enumerate(gen.label_names):
        fake = list(gen.sample(per_class, label=name, seed=seed + k, size=256))
        real = [scaled[i] for i in test if labels[i] == k]
        out[name] = _score(real, fake, seed, n_boot, um_per_px=None)  # uhcs3: no pixel size
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["grains", "split", "split-uhcs3"])
    p.add_argument("--seed", type=int, default=84)
    p.add_argument("--n-test", type=int, default=24)
    p.add_argument("--per-combo", type=int, default=8)
    p.add_argument("--densities", type=float, nargs="+", default=[0.001, 12.0, 48.0])
    p.add_argument("--model", default=None,
                   help="Generator (default sim-parameters, or uhcs3-class for split-uhcs3).")
    p.add_argument("--per-class", type=int, default=48, help="split-uhcs3: images per class.")
    p.add_argument("--n-boot", type=int, default=100)
    p.add_argument("--sim-imaging", action="store_true",
                   help="split: the simulator's blur and noise on the generated images first.")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    if a.what == "split-uhcs3":
        a.model = a.model or "uhcs3-class"
        result = {"what": a.what, "seed": a.seed, "model": a.model,
                  "classes": split_uhcs3(a.model, a.seed, a.per_class, a.n_boot)}
        for name, r in result["classes"].items():
            print(f"{name}: combined {r['combined']:.2f}x, structure {r['structure']:.2f}x, "
                  f"imaging {r['imaging']:.2f}x, coverage {r['coverage']:.2f}", file=sys.stderr)
        if a.out:
            a.out.write_text(json.dumps(result, indent=1, default=float))
        return result
    a.model = a.model or "sim-parameters"
    conds = _conditions(a.seed, a.n_test)
    real = _fields(conds, a.per_combo, REAL_SEED)
    result: dict = {"what": a.what, "seed": a.seed}
    if a.what == "grains":
        for dens in a.densities:
            alt = _fields(conds, a.per_combo, 20_000, dens)
            result[f"density {dens:g}"] = {temper: _score(real[temper], alt[temper], a.seed, a.n_boot)
                                           for temper in sorted(real)}
    else:
        import torch

        from shapekit.generate import load_generator
        from shapekit.registry import resolve

        torch.set_num_threads(1)
        gen = load_generator(resolve(a.model, "generator"), device="cpu")
        fake: dict[str, list] = {}
        for i, (T, t, temper) in enumerate(conds):
            fake.setdefault(temper, []).extend(gen.sample(
                a.per_combo, label=temper, seed=a.seed + i, size=256,
                conditions={"aging_temperature_C": T, "aging_time_h": t}))
        if a.sim_imaging:
            rng = np.random.default_rng(a.seed)
            fake = {k: [sim_imaging(x, rng) for x in v] for k, v in fake.items()}
        result["model"], result["sim_imaging"] = a.model, bool(a.sim_imaging)
        result["tempers"] = {temper: _score(real[temper], fake[temper], a.seed, a.n_boot)
                             for temper in sorted(real)}
    for key, block in result.items():
        if isinstance(block, dict):
            for temper, r in block.items():
                print(f"{key} {temper}: combined {r['combined']:.2f}x, structure "
                      f"{r['structure']:.2f}x, imaging {r['imaging']:.2f}x", file=sys.stderr)
    if a.out:
        a.out.write_text(json.dumps(result, indent=1, default=float))
    return result


if __name__ == "__main__":
    main()
