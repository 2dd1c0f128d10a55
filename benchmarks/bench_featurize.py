"""Featurisation throughput of the classifier's pipeline against raw GUDHI PH doing the same PH work.

Candidate: a *fresh* feature pipeline of the shipped ``robust`` preset
(``shapekit.temper.presets.toptemp_features``: z-score, 3-scale pyramid with 1 px smoothing and
re-z-scoring, sublevel + superlevel H0/H1 persistence with min persistence 0.25, statistics),
``fit_transform`` on tiles it has never seen, exactly as the classifier featurises a scan.
Anchor, measured in the same run: GUDHI's own ``CubicalPersistence`` (2-D top-cell fast path,
H0 + H1, the same ``min_persistence``) on the same pyramid images in both filtrations (prepared
beforehand, untimed), i.e. the same PH work and nothing else.  Goal: ratio >= 0.8, i.e.
preprocessing + vectorisation cost at most a quarter of the PH.

Two more lines: the ``accurate`` preset (no smoothing, no minimum persistence) against its own PH,
and every vectoriser (statistics, Betti curves, persistence images, landscapes; fitted ranges) on
the accurate pyramid.  Both sides are timed interleaved, ``--repeats`` times, on one thread; the
ratio uses the best wall time of each (as ``timeit``: on a shared machine other processes only
ever add time); the best-CPU-time ratio is printed beside it.  Tiles come from
``../shared/data/uhcs3`` (or ``$SHAPEKIT_SHARED_DATA``) when present, else smoothed noise.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_featurize.py [--tiles 64] [--size 256] [--repeats 5]
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


def load_tiles(n: int, size: int, seed: int = 0) -> tuple[list[np.ndarray], str]:
    """``n`` tiles of ``size``^2 from uhcs3 when available, else Gaussian-smoothed noise."""
    data = Path(os.environ.get("SHAPEKIT_SHARED_DATA", REPO.parent / "shared" / "data")) / "uhcs3"
    files = sorted((data / "images").glob("*.jpg"))
    tiles: list[np.ndarray] = []
    if files:
        from shapekit.io import read_image, tile_image

        rng = np.random.default_rng(seed)
        for f in rng.permutation(files):
            tiles.extend(tile_image(read_image(f)[0], size, pad="none").tiles)
            if len(tiles) >= n:
                return tiles[:n], f"uhcs3 ({size}x{size} tiles)"
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return ([gaussian_filter(rng.random((size, size), dtype=np.float32), 1.5) for _ in range(n)],
            f"smoothed noise ({size}x{size})")


def _timed(fn) -> tuple[float, float]:  # noqa: ANN001
    """(wall seconds, CPU seconds of this process)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiles", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    a = p.parse_args(argv)

    import cv2

    cv2.setNumThreads(1)        # one thread on both sides (OpenCV ignores OMP_NUM_THREADS)
    from gudhi.sklearn.cubical_persistence import CubicalPersistence
    from sklearn.base import clone
    from sklearn.pipeline import make_union

    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.topology import (BettiCurves, PersistenceImages, PersistenceLandscapes,
                                   PersistenceStatistics)

    tiles, source = load_tiles(a.tiles, a.size)
    fresh, _ = load_tiles(4, a.size, seed=99)
    mpx = len(tiles) * a.size * a.size / 1e6
    results: dict = {"source": source, "n_tiles": len(tiles), "megapixels": mpx, "rows": []}

    def bench(label: str, pipe, min_persistence: float) -> None:  # noqa: ANN001
        clone(pipe).fit_transform(fresh)          # warm-up: imports, compiled kernel, threads
        levels = pipe[:2].fit_transform(tiles)    # the pyramid images the PH runs on
        work = [lv[s] for lv in levels for s in lv]
        work += [-im for im in work]
        raw = CubicalPersistence(homology_dimensions=[0, 1], min_persistence=min_persistence,
                                 n_jobs=1).fit(None)
        ta, tf = [], []
        for _ in range(a.repeats):
            ta.append(_timed(lambda: raw.transform(work)))
            tf.append(_timed(lambda: clone(pipe).fit_transform(tiles)))
        wa, wf = min(t[0] for t in ta), min(t[0] for t in tf)
        ca, cf = min(t[1] for t in ta), min(t[1] for t in tf)
        row = {"config": label, "raw_ph_wall_s": wa, "pipeline_wall_s": wf, "ratio": wa / wf,
               "raw_ph_cpu_s": ca, "pipeline_cpu_s": cf, "ratio_cpu": ca / cf,
               "raw_ph_tiles_per_s": len(tiles) / wa, "pipeline_tiles_per_s": len(tiles) / wf,
               "n_features": int(clone(pipe).fit_transform(fresh).shape[1])}
        results["rows"].append(row)
        print(f"{label:<40} raw PH {row['raw_ph_tiles_per_s']:7.1f} tiles/s | pipeline "
              f"{row['pipeline_tiles_per_s']:7.1f} tiles/s | ratio {row['ratio']:.2f} "
              f"(CPU {row['ratio_cpu']:.2f}; {row['n_features']} features)", file=sys.stderr)

    print(f"{len(tiles)} tiles from {source}, {mpx:.2f} MP, best of {a.repeats}, wall time, "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    bench("robust preset (the classifier's)", toptemp_features(feature_params("robust")), 0.25)
    bench("accurate preset", toptemp_features(feature_params("accurate")), 0.0)
    every = toptemp_features(feature_params("accurate"))
    every.steps[-1] = ("features", make_union(PersistenceStatistics(), BettiCurves(16),
                                              PersistenceImages(8), PersistenceLandscapes(16)))
    bench("accurate pyramid, every vectoriser", every, 0.0)
    results["load_avg_at_end"] = os.getloadavg()
    if a.json:
        print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
