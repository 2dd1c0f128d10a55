"""Where one CPU training iteration of the conditional GAN spends its time (issue 4, item 1).

Trains :func:`shapekit.generate.fit_gan` (the real Lightning path: data module, manual
optimisation, EMA, logging, checkpoints off the timed window) for ``--steps`` iterations on
simulator micrographs and reports seconds per iteration (wall clock and this process's CPU time, which a busy
machine disturbs less); with ``--profile`` it runs under cProfile
and splits the time into convolution math (``conv2d`` forward + the autograd engine, which on
these networks is almost all convolution backward), the other tensor ops it lists, and the rest
(Lightning, logging, data loading, Python), and separately times the pieces of one iteration
(generator forward, discriminator step, R1 pass, generator step) with plain torch calls.

``--threads-study`` instead runs the plain step (no Lightning) in child processes with torch's
default threads and OpenMP spin-waiting, with ``OMP_WAIT_POLICY=PASSIVE`` (what ``shapekit
train-gan`` sets), and with one thread, and reports CPU and wall seconds per iteration of each:
on a machine whose cores are busy with other work, spinning OpenMP threads burn CPU time while
they wait for each other.

Example (what RESULTS.md reports; one thread, niced)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_step_profile.py --crop-size 64 \\
        --batch-size 8 --steps 40 --profile
    nice -n 5 python benchmarks/gan_step_profile.py --threads-study --steps 6
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/gan_step_profile.py --margin-study \\
        --crop-size 64 --batch-size 16 --steps 4 --rounds 3

``--margin-study`` times the plain step at the first models' margin (1 cell, the anchor), a plain
4-cell margin and the default (the generator's reach, feature maps cut down stage by stage).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time


def _datamodule(crop: int, steps: int, batch: int, seed: int):
    import numpy as np

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.data import GANDataModule
    from shapekit.synth import synthesize

    s = synthesize(48, size=max(128, 2 * crop), seed=seed)
    names = ["aging_temperature_C", "aging_time_h"]
    vals = s.table[names].to_numpy()
    tempers = ["under_aged", "peak_aged", "over_aged"]
    labels = np.array([tempers.index(t) for t in s.table["temper"]])
    codec = ConditionCodec.fit(tempers, names, vals, mode="parameters")
    return GANDataModule(s.images, labels, vals, codec, [0.002] * len(s.images), crop_size=crop,
                         batch_size=batch, steps=steps, seed=seed)


def _parts(crop: int, batch: int, channels: int, repeats: int = 5) -> dict[str, float]:
    """Milliseconds of the pieces of one iteration, with plain torch calls (no Lightning)."""
    import torch

    from shapekit.generate.diffaug import diff_augment
    from shapekit.generate.discriminator import Discriminator, discriminator_channels
    from shapekit.generate.nets import Generator, generator_channels

    torch.manual_seed(0)
    g = Generator(3, 2, channels=generator_channels(channels))
    d = Discriminator(3, 2, discriminator_channels(channels))
    x = torch.randn(batch, 1, crop, crop)
    y, c = torch.randint(0, 3, (batch,)), torch.randn(batch, 2)
    cells = (crop // g.period + 1,) * 2

    def fake() -> torch.Tensor:
        return g(*g.latents(batch, cells), y, c)[:, :, :crop, :crop]

    def g_fwd() -> None:
        with torch.no_grad():
            fake()

    def d_step() -> None:
        f = torch.randn_like(x)
        (d(diff_augment(x), y, c, aux=True)[0].mean() + d(diff_augment(f), y, c).mean()).backward()

    def r1() -> None:
        xr = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(d(diff_augment(xr), y, c).mean(dim=(1, 2)).sum(), xr,
                                      create_graph=True)
        grad.pow(2).sum().backward()

    def g_step() -> None:
        d(diff_augment(fake()), y, c, aux=True)[0].mean().backward()

    out = {}
    for name, f in [("generator_forward", g_fwd), ("discriminator_step", d_step),
                    ("r1_double_backward", r1), ("generator_step", g_step)]:
        f()
        t0 = time.perf_counter()
        for _ in range(repeats):
            f()
        out[name + "_ms"] = round(1000 * (time.perf_counter() - t0) / repeats, 1)
    return out


def _plain_steps(crop: int, batch: int, channels: int, steps: int,
                 margin_cells: int | None = None) -> dict[str, float]:
    """CPU and wall seconds per iteration of the module's own step, without Lightning."""
    import torch

    from shapekit.generate.module import ConditionalGAN

    m = ConditionalGAN(crop_size=crop, n_classes=3, n_cond=2, g_channels=channels,
                       d_channels=channels, margin_cells=margin_cells)
    opts = m.configure_optimizers()
    m.optimizers = lambda: opts
    m.manual_backward = lambda loss: loss.backward()
    m.toggle_optimizer = m.untoggle_optimizer = lambda o: None
    m.log_dict = m.log = lambda *a, **k: None
    batch_t = (torch.rand(batch, 1, crop, crop) * 2 - 1, torch.randint(0, 3, (batch,)),
               torch.randn(batch, 2))
    m.training_step(batch_t, 0)
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        m.training_step(batch_t, i)
    return {"wall_s_per_iteration": round((time.perf_counter() - w0) / steps, 3),
            "cpu_s_per_iteration": round((time.process_time() - c0) / steps, 3),
            "torch_threads": torch.get_num_threads()}


def threads_study(a: argparse.Namespace) -> dict:
    """The plain step in child processes under three thread settings (see the module docstring)."""
    variants = {"default threads, OpenMP spin-waiting": {"OMP_WAIT_POLICY": None,
                                                         "OMP_NUM_THREADS": None},
                "default threads, OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE",
                                                             "OMP_NUM_THREADS": None},
                "one thread": {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": "1"}}
    out = {"load_avg_before": os.getloadavg(), "crop_size": a.crop_size,
           "batch_size": a.batch_size, "channels": a.channels, "steps": a.steps}
    for name, env_over in variants.items():
        env = dict(os.environ)
        for k, v in env_over.items():
            env.pop(k, None)
            if v is not None:
                env[k] = v
        code = (f"import json, sys; sys.path.insert(0, {os.getcwd()!r}); "
                f"from benchmarks.gan_step_profile import _plain_steps; "
                f"print(json.dumps(_plain_steps({a.crop_size}, {a.batch_size}, {a.channels}, "
                f"{a.steps})))")
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        out[name] = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"{name}: {out[name]}", file=sys.stderr)
    out["load_avg_after"] = os.getloadavg()
    return out


def margin_study(a: argparse.Namespace) -> dict:
    """CPU seconds per plain training step with the first models' unpadded field (margin 1, the
    anchor), a plain 4-cell margin, and the default margin (the generator's reach, with the
    feature maps cut down stage by stage); the variants alternate over ``--rounds`` rounds so that
    a changing load falls on all of them."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    variants = {"margin 1 (anchor)": 1, "margin 4, plain": 4, "margin = reach (6), cut": None}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(a.rounds):
        for name, m in variants.items():
            cpu[name].append(_plain_steps(a.crop_size, a.batch_size, a.channels, a.steps,
                                          m)["cpu_s_per_iteration"])
    anchor = min(cpu["margin 1 (anchor)"])
    out = {"crop_size": a.crop_size, "batch_size": a.batch_size, "steps": a.steps,
           "rounds": a.rounds, "load_avg": os.getloadavg(),
           "cpu_s_per_iteration_best": {k: min(v) for k, v in cpu.items()},
           "ratio_to_margin_1": {k: round(min(v) / anchor, 3) for k, v in cpu.items()}}
    print(json.dumps(out, indent=2))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crop-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--r1-gamma", type=float, default=1.0)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--threads-study", action="store_true")
    p.add_argument("--margin-study", action="store_true")
    p.add_argument("--rounds", type=int, default=3, help="--margin-study rounds.")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    if a.margin_study:
        return margin_study(a)
    if a.threads_study:
        result = threads_study(a)
        print(json.dumps(result, indent=2))
        return result
    import torch

    from shapekit.generate.train import fit_gan

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dm = _datamodule(a.crop_size, a.steps, a.batch_size, a.seed)
    prof = cProfile.Profile() if a.profile else None
    with tempfile.TemporaryDirectory() as d:
        if prof:
            prof.enable()
        cpu0 = time.process_time()
        info = fit_gan(dm, d, max_steps=a.steps, seed=a.seed, g_channels=a.channels,
                       d_channels=a.channels, r1_gamma=a.r1_gamma,
                       checkpoint_every=10 ** 6, sample_every=0, progress_every_s=1e9)
        cpu = time.process_time() - cpu0
        if prof:
            prof.disable()
    result = {"crop_size": a.crop_size, "batch_size": a.batch_size, "channels": a.channels,
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
        result["parts"] = _parts(a.crop_size, a.batch_size, a.channels)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
