"""Speed of the conditional GAN: training images/s in three configurations, TFLOP/s, generation.

In one run, the same model and data are trained (Lightning ``Trainer``, manual optimisation) as

1. ``fp32-eager``      : precision ``32-true``, NCHW, eager (PyTorch defaults; cuDNN's TF32
                          convolutions are left as they are, so the baseline is not slowed down);
2. ``bf16-cl``         : ``bf16-mixed`` autocast + channels_last;
3. ``bf16-cl-compile`` : the same + ``torch.compile`` of generator and discriminator
                          (CUDA by default; ``--compile`` forces it on CPU).

and the ratio of images/s against the fp32 anchor of the same run is reported (goal >= 2x on a
GPU). FLOPs of one training iteration (D step with R1 averaged over its lazy interval, then G
step) are counted with ``torch.utils.flop_counter`` and turned into TFLOP/s, reported against
the H200's ~790 TFLOP/s dense bf16 peak. Finally the time to generate 16 whole images of 512x512
with a shipped generator (``--model``, default ``uhcs3-class``; fp32 on the CPU, bf16 autocast on
CUDA), on the threads torch is given.

CPU (what CI runs; tiny settings; the generation figure of RESULTS.md uses 2 threads)::

    OMP_NUM_THREADS=2 python benchmarks/bench_gan.py --tiny

GPU (defaults: 128-px crops, batch 64, width 32, 60 timed iterations)::

    python benchmarks/bench_gan.py --out bench_gan.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

H200_BF16_PEAK_TFLOPS = 790.0


def _datamodule(crop: int, batch: int, steps: int, n_classes: int = 3):
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.data import GANDataModule

    rng = np.random.default_rng(0)
    n = 8
    side = crop * 2
    imgs = [rng.random((side, side)).astype(np.float32) for _ in range(n)]
    values = rng.normal(size=(n, 2))
    codec = ConditionCodec.fit([f"c{i}" for i in range(n_classes)], ["p0", "p1"], values,
                               mode="parameters")
    return GANDataModule(imgs, np.arange(n) % n_classes, values, codec, crop_size=crop,
                         batch_size=batch, steps=steps)


def _timer_callback(warmup: int, count_flops: bool):
    import pytorch_lightning as pl
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    class Timer(pl.Callback):
        def __init__(self) -> None:
            self.t0: float | None = None
            self.n = 0
            self.flops: list[int] = []
            self._fc = None

        def _sync(self, pl_module) -> None:  # noqa: ANN001
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
            if count_flops and 1 <= batch_idx <= pl_module.hparams.r1_every:
                self._fc = FlopCounterMode(display=False)
                self._fc.__enter__()
            if batch_idx == warmup:
                self._sync(pl_module)
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
            if self._fc is not None:
                self._fc.__exit__(None, None, None)
                self.flops.append(int(self._fc.get_total_flops()))
                self._fc = None
            if batch_idx >= warmup:
                self.n += 1

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            self._sync(pl_module)
            self.t1 = time.perf_counter()

    return Timer()


def bench_training(name: str, *, crop: int, batch: int, steps: int, warmup: int,
                   channels: int, precision: str, channels_last: bool, compile: bool,
                   accelerator: str, count_flops: bool) -> dict:
    import pytorch_lightning as pl

    from shapekit.generate.module import ConditionalGAN

    dm = _datamodule(crop, batch, steps + warmup)
    module = ConditionalGAN(crop_size=crop, n_classes=3, n_cond=2, g_channels=channels,
                            d_channels=channels, channels_last=channels_last, compile=compile)
    timer = _timer_callback(warmup, count_flops)
    with tempfile.TemporaryDirectory() as d:
        trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=precision,
                             max_steps=2 * (steps + warmup), logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=d,
                             benchmark=accelerator == "gpu", callbacks=[timer])
        pl.seed_everything(0, verbose=False)
        trainer.fit(module, datamodule=dm)
    seconds = timer.t1 - timer.t0
    ips = timer.n * batch / seconds
    out = {"config": name, "precision": precision, "channels_last": channels_last,
           "compile": compile, "images_per_s": round(ips, 2),
           "iterations_timed": timer.n, "seconds": round(seconds, 3)}
    if timer.flops:
        out["flops_per_iteration"] = float(np.mean(timer.flops))
    return out


def bench_generation(model: str, size: int, n: int, device: str, repeats: int = 3) -> dict:
    """Seconds to generate ``n`` images of ``size``^2 with a shipped model or run directory."""
    import torch

    from shapekit.generate import load_generator
    from shapekit.registry import resolve

    sampler = load_generator(resolve(model, "generator"), device=device)
    label = sampler.label_names[0]
    sampler.sample(2, label=label, seed=0, size=size)  # warm-up (cuDNN autotune, allocator)
    times = []
    for r in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        imgs = sampler.sample(n, label=label, seed=r, size=size)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return {"generation_model": model, "generation_images": n, "generation_size": size,
            "generation_seconds_median": round(float(np.median(times)), 4),
            "generation_seconds_all": [round(t, 4) for t in times],
            "generation_shape": list(imgs.shape)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="CPU-sized settings (32-px crops, batch 4).")
    p.add_argument("--crop-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="Timed iterations per config.")
    p.add_argument("--channels", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="Also run torch.compile on CPU.")
    p.add_argument("--model", default="uhcs3-class",
                   help="Generator (shipped name or run directory) for the generation timing.")
    p.add_argument("--gen-size", type=int, default=512)
    p.add_argument("--gen-n", type=int, default=16)
    p.add_argument("--out", type=Path, default=None, help="Write the results JSON here.")
    a = p.parse_args(argv)

    from shapekit._device import passive_omp_threads

    passive_omp_threads()  # as the CLI does (see RESULTS.md section 6)
    import torch

    cuda = torch.cuda.is_available()
    tiny = a.tiny or not cuda
    size = a.crop_size or (32 if tiny else 128)
    batch = a.batch_size or (4 if tiny else 64)
    steps = a.steps or (4 if tiny else 60)
    channels = a.channels or (4 if tiny else 32)
    warmup = 6 if tiny else 10  # FLOPs are counted on iterations 1..4, before timing starts
    accel = "gpu" if cuda else "cpu"
    if not cuda:
        torch.set_num_threads(max(1, torch.get_num_threads()))
    configs = [("fp32-eager", "32-true", False, False),
               ("bf16-cl", "bf16-mixed", True, False)]
    if cuda or a.compile:
        configs.append(("bf16-cl-compile", "bf16-mixed", True, True))
    results = []
    for name, prec, cl, comp in configs:
        r = bench_training(name, crop=size, batch=batch, steps=steps, warmup=warmup,
                           channels=channels, precision=prec, channels_last=cl, compile=comp,
                           accelerator=accel, count_flops=(name == "fp32-eager"))
        results.append(r)
        print(f"{name:>16}: {r['images_per_s']:9.1f} images/s", file=sys.stderr)
    flops = results[0].get("flops_per_iteration", float("nan"))
    base = results[0]["images_per_s"]
    for r in results:
        r["speedup_vs_fp32"] = round(r["images_per_s"] / base, 3)
        tflops = flops * r["images_per_s"] / batch / 1e12
        r["tflops"] = float(f"{tflops:.4g}")
        r["fraction_of_h200_bf16_peak"] = float(f"{tflops / H200_BF16_PEAK_TFLOPS:.4g}")
    gen = bench_generation(a.model, a.gen_size, a.gen_n, "cuda" if cuda else "cpu")
    summary = {"device": torch.cuda.get_device_name(0) if cuda else "cpu",
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "crop_size": size, "batch_size": batch, "channels": channels,
               "flops_per_iteration": flops, "training": results, **gen,
               "peak_reference_tflops": H200_BF16_PEAK_TFLOPS}
    print(json.dumps(summary, indent=2))
    print(f"generation of {a.gen_n} images at {a.gen_size}^2 ({a.model}): "
          f"{gen['generation_seconds_median']:.3f} s ({summary['device']}, "
          f"{summary['threads']} threads)", file=sys.stderr)
    if a.out:
        from shapekit._atomic import write_json

        write_json(a.out, summary)
    return summary


if __name__ == "__main__":
    main()
