"""Can the fraction term alone move a generator's measured area fraction? (issue 14 diagnostic)

Takes a parameters-mode run's EMA generator at a checkpoint, optimises it on the phase-fraction
term alone (optionally with the two-point term), with no discriminator, on the run's own training
crops (the training data module: random crops, the same conditions), and prints, per temper, the
generated-minus-requested area fraction (:func:`shapekit.synth.measure_structure` on whole
generated images) on the held-out conditions of ``gan_whole_images.py sim --seed S`` before and
after. If the gaps close here but not in training, what holds the fraction is the adversarial
game, not the term's map or the generator's capacity.

Usage::

    python benchmarks/gan_fraction_only.py --run RUN --checkpoint iter-0012000 \\
        --manifest sim240/manifest.yaml --map measure --steps 200 --lr 1e-4 --out fo.json

About 4 min on one thread (200 steps of batch 8 at 128 px, 24 conditions x 4 images of 256 px
twice).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True,
                   help="Parameters-mode run directory or shipped generator name.")
    p.add_argument("--checkpoint", default=None,
                   help="Checkpoint name (EMA weights; default: the run's export).")
    p.add_argument("--manifest", required=True, type=Path, help="The run's training manifest.")
    p.add_argument("--map", choices=["measure", "half_max"], default="measure")
    p.add_argument("--two-point", type=float, default=0.0,
                   help="Weight of the two-point term relative to the fraction term (lag 24).")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0,
                   help="Held-out condition set, as gan_whole_images.py.")
    p.add_argument("--n-test", type=int, default=24)
    p.add_argument("--per-combo", type=int, default=4)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)

    import torch
    from torch.nn import functional as F

    from shapekit.generate import load_generator
    from shapekit.generate.data import GANDataModule
    from shapekit.generate.nets import generate_field
    from shapekit.generate.terms import particle_map, two_point_profile
    from shapekit.registry import resolve
    from shapekit.synth import measure_structure, process_model, sample_process

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(0)
    gen = load_generator(resolve(a.run, "generator"), device="cpu", checkpoint=a.checkpoint)
    if gen.mode != "parameters":
        raise SystemExit(f"{a.run} is a {gen.mode}-mode model; this needs parameters mode")
    ump = float(gen.um_per_px)
    test = sample_process(a.n_test, rng=a.seed + 1000, balanced=True)  # as gan_whole_images.py

    def gaps() -> dict[str, float]:
        net.eval()
        out: dict[str, list[float]] = {}
        for i, (temp, hours) in enumerate(zip(test["aging_temperature_C"], test["aging_time_h"])):
            truth = process_model(float(temp), float(hours))
            fake = gen.sample(a.per_combo, label=str(truth["temper"]), seed=a.seed + i, size=256,
                              conditions={"aging_temperature_C": float(temp),
                                          "aging_time_h": float(hours)})
            f = np.mean([measure_structure(im, ump)["area_fraction"] for im in fake])
            out.setdefault(str(truth["temper"]), []).append(f - float(truth["area_fraction"]))
        net.train()
        return {k: round(float(np.mean(v)), 4) for k, v in sorted(out.items())}

    net = gen.generator
    before = gaps()
    print("before:", before, flush=True)
    dm = GANDataModule.from_manifest(a.manifest, "parameters", None, crop_size=128, batch_size=8,
                                     steps=a.steps, seed=0)
    dm.setup("fit")
    net.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(0.0, 0.99))
    losses = []
    for step, (x, label, cond) in enumerate(dm.train_dataloader()):
        if step >= a.steps:
            break
        zl, zg = net.latents(len(x), net.field_cells((128, 128)))
        fake = generate_field(net, zl, zg, label, cond, (128, 128))
        uf, ur = particle_map(fake, a.map, 7), particle_map(x, a.map, 7)
        loss = F.mse_loss(uf.flatten(1).mean(1), ur.flatten(1).mean(1))
        if a.two_point > 0:
            loss = loss + a.two_point * F.mse_loss(two_point_profile(uf, 24),
                                                   two_point_profile(ur, 24))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss (mean of the last 50) {np.mean(losses[-50:]):.2e}",
                  flush=True)
    net.requires_grad_(False)
    after = gaps()
    print("after:", after, flush=True)
    result = {"run": str(a.run), "checkpoint": a.checkpoint, "map": a.map,
              "two_point": a.two_point, "steps": a.steps, "lr": a.lr, "seed": a.seed,
              "gap_before": before, "gap_after": after, "losses": losses}
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
