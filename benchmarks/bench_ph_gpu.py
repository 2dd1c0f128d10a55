"""Throughput of ``backend="torch"`` cubical persistence against GUDHI, with ratios in one run.

What it measures (H0 + H1, T-construction, sublevel; the anchor is GUDHI's own batched
``gudhi.sklearn.cubical_persistence.CubicalPersistence`` on the same tiles, in the same run):

1. **Exactness first.**  Before any timing, the torch backend on ``--device`` is checked against
   GUDHI (on the CPU) on every kind of tile, both filtrations: multisets of (birth, death) after
   removing zero-persistence pairs must be equal.  Any mismatch exits with status 1.
2. **CPU, one thread** (always): tiles/s of the torch backend on the CPU against GUDHI, 64^2 and
   256^2 tiles, best CPU time of ``--repeats`` interleaved runs (CPU time: on a shared machine
   waiting for a core is not work).
3. **GPU** (when ``--device`` is CUDA): batched 256^2 tiles/s, *device* (tensor on the GPU in,
   pairs on the GPU out) and *end-to-end* (numpy tiles in, per-tile numpy diagrams out, as
   :func:`shapekit.topology.cubical_persistence_batch` returns them for a ``(B, H, W)`` array),
   against GUDHI on all the
   machine's cores (``CubicalPersistence(n_jobs=cores)``, threads); goal >= 50,000 tiles/s.
   4096^2 images/s; peak CUDA memory per padded pixel (to check ``BYTES_PER_PIXEL``); time per
   stage of one batch.

Tiles: ``smooth`` (uniform noise, Gaussian sigma 4: the 'smooth 256^2' anchor of issue 17),
``noisy`` (the same plus 5 % white noise: SEM grain), ``sim`` (shapekit.synth micrographs) and
``real`` (uhcs3 crops, when ``../shared/data`` or ``$SHAPEKIT_SHARED_DATA`` is there).  Batches
larger than the pool repeat its tiles.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_ph_gpu.py --device cpu          # CPU part only
    python benchmarks/bench_ph_gpu.py --device cuda --json out.json          # see device_ph_gpu.sh
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def pool(kind: str, size: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` float32 tiles of ``size``^2 of one kind (or [] when the kind is unavailable);
    the simulator's pool is capped at 64 tiles of 256^2 (rendering is slow), repeated beyond."""
    key = (kind, size, seed)
    if key not in _POOLS or len(_POOLS[key]) < n:
        cap = 64 if kind == "sim" and size >= 256 else n
        _POOLS[key] = _make_pool(kind, size, min(n, cap), seed)
    got = _POOLS[key]
    return [got[i % len(got)] for i in range(n)] if got else []


_POOLS: dict[tuple[str, int, int], list[np.ndarray]] = {}


def _make_pool(kind: str, size: int, n: int, seed: int) -> list[np.ndarray]:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    if kind in ("smooth", "noisy"):
        out = []
        for _ in range(n):
            t = gaussian_filter(rng.random((size, size), dtype=np.float32), 4.0)
            t = (t - t.min()) / (t.max() - t.min())
            if kind == "noisy":
                t = t + 0.05 * rng.standard_normal(t.shape).astype(np.float32)
            out.append(t.astype(np.float32))
        return out
    if kind == "sim":
        from shapekit.synth import render_micrograph

        out, i = [], 0
        side = max(size, 512)
        while len(out) < n:
            img, _ = render_micrograph(150 + 25 * (i % 5), 10.0 ** (i % 3), size=side, seed=i)
            out += [img[y:y + size, x:x + size] for y in range(0, side - size + 1, size)
                    for x in range(0, side - size + 1, size)]
            i += 1
        return out[:n]
    data = Path(os.environ.get("SHAPEKIT_SHARED_DATA", REPO.parent / "shared" / "data")) / "uhcs3"
    files = sorted((data / "images").glob("*.jpg"))
    if not files:
        return []
    from shapekit.io import read_image

    out = []
    for f in rng.permutation(files):
        img = read_image(f)[0]
        out += [img[y:y + size, x:x + size] for y in range(0, img.shape[0] - size + 1, size)
                for x in range(0, img.shape[1] - size + 1, size)]
        if len(out) >= n:
            break
    return [np.ascontiguousarray(t, dtype=np.float32) for t in out[:n]]


def canon(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).reshape(-1, 2)
    d = d[d[:, 0] != d[:, 1]]
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def check(tiles: list[np.ndarray], device: str) -> int:
    """Number of (tile, filtration, dim) mismatches of torch on ``device`` against GUDHI."""
    from shapekit.topology import cubical_persistence, cubical_persistence_batch

    bad = 0
    for f in ("sublevel", "superlevel"):
        got = cubical_persistence_batch(tiles, f, backend="torch", device=device)
        for t, g in zip(tiles, got):
            ref = cubical_persistence(t, f)
            for k in (0, 1):
                if not np.array_equal(canon(ref[k]), canon(g[k])):
                    bad += 1
    return bad


def best(fn, repeats: int, clock=time.perf_counter, sync=None) -> float:
    out = []
    for _ in range(repeats):
        t = clock()
        fn()
        if sync:
            sync()
        out.append(clock() - t)
    return min(out)


def gudhi_batch(n_jobs: int):
    from gudhi.sklearn.cubical_persistence import CubicalPersistence

    cp = CubicalPersistence(homology_dimensions=[0, 1], n_jobs=n_jobs)
    return lambda tiles: cp.fit_transform(tiles)


def cpu_part(repeats: int, res: dict) -> None:
    """One thread: torch on the CPU vs GUDHI per tile."""
    import torch

    from shapekit.topology import cubical_persistence_batch

    torch.set_num_threads(1)
    g1 = gudhi_batch(1)
    for size, n in ((64, 256), (256, 32)):
        for kind in ("smooth", "noisy", "sim", "real"):
            tiles = pool(kind, size, n, seed=1)
            if not tiles:
                continue
            run_t = lambda: cubical_persistence_batch(tiles, backend="torch", device="cpu")  # noqa: E731
            run_t()
            tt, tg = [], []
            for _ in range(repeats):        # interleaved
                tt.append(best(run_t, 1, time.process_time))
                tg.append(best(lambda: g1(tiles), 1, time.process_time))
            row = dict(torch_tiles_s=n / min(tt), gudhi_tiles_s=n / min(tg),
                       torch_over_gudhi=min(tg) / min(tt))
            res.setdefault("cpu_1thread", {})[f"{kind}_{size}"] = row
            print(f"cpu 1 thread {kind:6s} {size}^2: torch {row['torch_tiles_s']:8.1f} tiles/s, "
                  f"GUDHI {row['gudhi_tiles_s']:8.1f} tiles/s, ratio {row['torch_over_gudhi']:.3f}",
                  flush=True)


def stage_times(x, res: dict) -> None:
    """Seconds per stage of one batch on the GPU (synchronised wrappers)."""
    import torch

    import shapekit.topology.torch_ph as tp

    acc: dict[str, float] = {}
    saved = {}
    for name in ("order_keys", "_basin_graph", "_dedup", "_elder_rounds"):
        f = saved[name] = getattr(tp, name)

        def wrap(*a, _f=f, _n=name, **k):
            torch.cuda.synchronize()
            t = time.perf_counter()
            r = _f(*a, **k)
            torch.cuda.synchronize()
            acc[_n] = acc.get(_n, 0.0) + time.perf_counter() - t
            return r
        setattr(tp, name, wrap)
    try:
        torch.cuda.synchronize()
        t = time.perf_counter()
        tp.persistence_tensors(x)
        torch.cuda.synchronize()
        acc["total"] = time.perf_counter() - t
    finally:
        for name, f in saved.items():
            setattr(tp, name, f)
    acc["elder_rounds_excl_dedup"] = acc.get("_elder_rounds", 0) - acc.get("_dedup", 0)
    res["stages_s"] = acc
    print("stages (s):", {k: round(v, 4) for k, v in acc.items()}, flush=True)


def gpu_part(device: str, batches: list[int], repeats: int, big: int, res: dict,
             tile: int = 256, big_size: int = 4096) -> None:
    import torch

    from shapekit.topology import cubical_persistence_batch
    from shapekit.topology.torch_ph import BYTES_PER_PIXEL, persistence_tensors

    dev = torch.device(device)
    cores = os.cpu_count() or 1
    gall = gudhi_batch(cores)
    sync = torch.cuda.synchronize
    res["gpu"] = {"name": torch.cuda.get_device_name(dev), "cores": cores}
    for kind in ("smooth", "noisy", "sim", "real"):
        base = pool(kind, tile, 256, seed=2)
        if not base:
            continue
        n_g = min(1024, max(batches))
        gtiles = [base[i % len(base)] for i in range(n_g)]
        tg = best(lambda: gall(gtiles), repeats)
        row = {"gudhi_all_cores_tiles_s": n_g / tg}
        for b in batches:
            tiles = np.stack([base[i % len(base)] for i in range(b)])
            x = torch.from_numpy(tiles).to(dev)
            persistence_tensors(x[:8])
            sync()
            torch.cuda.reset_peak_memory_stats(dev)
            m0 = torch.cuda.memory_allocated(dev)
            td = best(lambda: persistence_tensors(x), repeats, sync=sync)
            peak = (torch.cuda.max_memory_allocated(dev) - m0) / (b * (tile + 2) ** 2)
            te = best(lambda: cubical_persistence_batch(tiles, backend="torch", device=device),
                      repeats, sync=sync)
            row[f"b{b}"] = dict(device_tiles_s=b / td, end_to_end_tiles_s=b / te,
                                peak_bytes_per_px=peak,
                                device_over_gudhi_all=(b / td) / row["gudhi_all_cores_tiles_s"],
                                end_to_end_over_gudhi_all=(b / te) / row["gudhi_all_cores_tiles_s"])
            print(f"gpu {kind:6s} {tile}^2 batch {b:5d}: device {b / td:9.0f} tiles/s, end-to-end "
                  f"{b / te:9.0f} tiles/s; GUDHI {cores} cores {row['gudhi_all_cores_tiles_s']:7.0f}"
                  f" tiles/s; peak {peak:.0f} B/px (budgeted {BYTES_PER_PIXEL})", flush=True)
            del x
        res["gpu"][f"{kind}_{tile}"] = row
        if kind == "noisy":
            stage_times(torch.from_numpy(np.stack([base[i % len(base)]
                                                   for i in range(max(batches))])).to(dev), res)
    for kind in ("smooth", "noisy")[:big]:
        img = pool(kind, big_size, 1, seed=3)[0]
        x = torch.from_numpy(img[None]).to(dev)
        persistence_tensors(x)
        sync()
        td = best(lambda: persistence_tensors(x), repeats, sync=sync)
        te = best(lambda: cubical_persistence_batch([img], backend="torch", device=device),
                  repeats, sync=sync)
        t1 = best(lambda: gudhi_batch(1)([img]), 1)
        res["gpu"][f"{kind}_{big_size}"] = dict(device_images_s=1 / td, end_to_end_images_s=1 / te,
                                          gudhi_1core_images_s=1 / t1)
        print(f"gpu {kind:6s} {big_size}^2: device {1 / td:.2f} images/s, end-to-end {1 / te:.2f}, "
              f"GUDHI one core {1 / t1:.2f} images/s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", default="1024,4096", help="GPU batch sizes of 256^2 tiles")
    ap.add_argument("--big", type=int, default=2, help="big images to time (0-2)")
    ap.add_argument("--tile", type=int, default=256, help="tile side of the GPU batches")
    ap.add_argument("--big-size", type=int, default=4096, help="side of the big images")
    ap.add_argument("--no-cpu", action="store_true", help="skip the one-thread CPU comparison")
    ap.add_argument("--check-tiles", type=int, default=64, help="tiles per kind checked first")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    res: dict = {"device": device, "torch": torch.__version__}
    import gudhi

    res["gudhi"] = gudhi.__version__
    t0 = time.perf_counter()
    bad = 0
    for kind in ("smooth", "noisy", "sim", "real"):
        for size, n in ((32, 4 * a.check_tiles), (64, a.check_tiles), (256, a.check_tiles // 8)):
            tiles = pool(kind, size, n, seed=5)
            if tiles:
                q = [np.round(t * 7) for t in tiles[: n // 4]]     # 8 levels: ties everywhere
                nb = check(tiles + q, device)
                bad += nb
                print(f"check {kind:6s} {size:3d}^2 x {len(tiles) + len(q)}: "
                      f"{'exact' if nb == 0 else f'{nb} MISMATCHES'}", flush=True)
    res["check_mismatches"] = bad
    res["check_s"] = time.perf_counter() - t0
    if bad:
        print("torch backend disagrees with GUDHI: no timing", file=sys.stderr)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
        return 1
    if not a.no_cpu:
        cpu_part(a.repeats, res)
    if device.startswith("cuda"):
        gpu_part(device, [int(b) for b in a.batches.split(",")], a.repeats, a.big, res,
                 a.tile, a.big_size)
    res["total_s"] = time.perf_counter() - t0
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    print(f"done in {res['total_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
