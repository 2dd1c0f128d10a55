"""Where one CPU training iteration of the conditional GAN spends its time (issue 4, item 1).

Trains :func:`shapekit.generate.fit_gan` (the real Lightning path: data module, manual
optimisation, EMA, logging, checkpoints off the timed window) for ``--steps`` iterations on
simulator micrographs and reports seconds per iteration (wall clock and this process's CPU time, which a busy
machine disturbs less); with ``--profile`` it runs under cProfile
and splits the time into convolution math (``conv2d`` forward + the autograd engine, which on
these networks is almost all convolution backward), the other tensor ops it lists, and the rest
(Lightning, logging, data loading, Python), and separately times the pieces of one iteration
(generator forward, discriminator step, R1 pass, generator step) with plain torch calls.

Example (what RESULTS.md reports; one thread, niced)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_step_profile.py --image-size 64 \\
        --steps 40 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time


def _datamodule(image_size: int, steps: int, batch: int, seed: int):
    import numpy as np

    from shapekit.generate.data import ConditionCodec, GANDataModule
    from shapekit.synth import synthesize

    s = synthesize(48, size=max(128, 2 * image_size), seed=seed)
    names = ["aging_temperature_C", "aging_time_h"]
    vals = s.table[names].to_numpy()
    tempers = ["under_aged", "peak_aged", "over_aged"]
    labels = np.array([tempers.index(t) for t in s.table["temper"]])
    codec = ConditionCodec.fit(tempers, names, vals, mode="parameters")
    return GANDataModule(s.images, labels, vals, codec, image_size=image_size, batch_size=batch,
                         steps=steps, seed=seed, target_um_per_px=0.002)


def _parts(image_size: int, batch: int, channels: int, repeats: int = 5) -> dict[str, float]:
    """Milliseconds of the pieces of one iteration, with plain torch calls (no Lightning)."""
    import torch

    from shapekit.generate.diffaug import diff_augment
    from shapekit.generate.nets import Discriminator, Generator

    torch.manual_seed(0)
    g = Generator(image_size, 3, 2, 64, channels, 256)
    d = Discriminator(image_size, 3, 2, channels, 256)
    x = torch.randn(batch, 1, image_size, image_size)
    y, c = torch.randint(0, 3, (batch,)), torch.randn(batch, 2)

    def g_fwd() -> None:
        with torch.no_grad():
            g(torch.randn(batch, 64), y, c)

    def d_step() -> None:
        fake = torch.randn_like(x)
        (d(diff_augment(x), y, c).mean() + d(diff_augment(fake), y, c).mean()).backward()

    def r1() -> None:
        xr = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(d(diff_augment(xr), y, c).sum(), xr, create_graph=True)
        grad.pow(2).sum().backward()

    def g_step() -> None:
        d(diff_augment(g(torch.randn(batch, 64), y, c)), y, c).mean().backward()

    out = {}
    for name, f in [("generator_forward", g_fwd), ("discriminator_step", d_step),
                    ("r1_double_backward", r1), ("generator_step", g_step)]:
        f()
        t0 = time.perf_counter()
        for _ in range(repeats):
            f()
        out[name + "_ms"] = round(1000 * (time.perf_counter() - t0) / repeats, 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--r1-gamma", type=float, default=1.0)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import torch

    from shapekit.generate.train import fit_gan

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dm = _datamodule(a.image_size, a.steps, a.batch_size, a.seed)
    prof = cProfile.Profile() if a.profile else None
    with tempfile.TemporaryDirectory() as d:
        if prof:
            prof.enable()
        cpu0 = time.process_time()
        info = fit_gan(dm, d, max_steps=a.steps, seed=a.seed, g_channels=a.channels,
                       d_channels=a.channels, z_dim=64, r1_gamma=a.r1_gamma,
                       checkpoint_every=10 ** 6, sample_every=0, progress=False)
        cpu = time.process_time() - cpu0
        if prof:
            prof.disable()
    result = {"image_size": a.image_size, "batch_size": a.batch_size, "channels": a.channels,
              "iterations": a.steps, "r1_gamma": a.r1_gamma,
              "seconds_per_iteration": round(info["seconds"] / a.steps, 4),
              # CPU time of this process (incl. Trainer set-up): less sensitive to other load
              "cpu_seconds_per_iteration": round(cpu / a.steps, 4),
              "images_per_s": info["images_per_s"], "torch_threads": torch.get_num_threads(),
              "load_avg": os.getloadavg()}
    if prof:
        st = pstats.Stats(prof)
        total = st.total_tt
        buckets = {"conv2d_forward": 0.0, "autograd_backward": 0.0, "other_torch_ops": 0.0}
        for (fn, _line, name), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
            if name == "<built-in method torch.conv2d>":
                buckets["conv2d_forward"] += tt
            elif name in ("<method 'run_backward' of 'torch._C._EngineBase' objects>",):
                buckets["autograd_backward"] += tt
            elif name.startswith("<built-in method torch.") or "torch._C" in name:
                buckets["other_torch_ops"] += tt
        buckets["python_lightning_data_logging"] = total - sum(buckets.values())
        result["profile_seconds"] = {k: round(v, 3) for k, v in buckets.items()}
        result["profile_fraction"] = {k: round(v / total, 3) for k, v in buckets.items()}
        result["parts"] = _parts(a.image_size, a.batch_size, a.channels)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
