"""TopTemp featurization throughput against raw GUDHI fast-path persistence on the same tiles.

For each filtration the anchor is GUDHI's own ``CubicalPersistence`` (2-D top-cell fast path,
H0 + H1) on the per-image z-scored tiles; the candidate is ``TopTempFeaturizer.transform`` at
scale 1 with that filtration and every vectoriser on (summaries, Betti curves, persistence images,
landscapes), including its preprocessing.  Goal: ratio >= 0.8 (vectorisation must not dominate).
Two more lines: summaries + Betti curves only (what the UHCS reference used), and the multi-scale
configuration (scales 1, 2, 4, both filtrations, all vectorisers) against raw PH of the same
image pyramid.

Both are timed in the same run, interleaved, ``--repeats`` times; the ratio uses the best CPU time
of each (as ``timeit``; CPU time because on a shared machine waiting for a core is not work), and
the best-wall-time ratio is printed beside it.  Throughputs are per CPU second (one thread).  Tiles come from ``../shared/data/uhcs3`` (or
``$SHAPEKIT_SHARED_DATA``) when present, else from smoothed noise.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_featurize.py [--tiles 64] [--size 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


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


def _zscore(t: np.ndarray) -> np.ndarray:
    t = t.astype(np.float32)
    return (t - t.mean()) / t.std()


def _timed(fn) -> tuple[float, float]:  # noqa: ANN001
    """(wall seconds, CPU seconds of this process); everything here runs on one thread."""
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

    from gudhi.sklearn.cubical_persistence import CubicalPersistence

    from shapekit.topology import TopTempFeaturizer
    from shapekit.topology.blocks import preprocess

    tiles, source = load_tiles(a.tiles, a.size)
    mpx = len(tiles) * a.size * a.size / 1e6
    raw = CubicalPersistence(homology_dimensions=[0, 1], n_jobs=1).fit(None)
    all_vec = dict(n_betti=16, persistence_images=True, pi_resolution=8, landscapes=True)
    results: dict = {"source": source, "n_tiles": len(tiles), "megapixels": mpx, "rows": []}

    def bench(label: str, anchor_imgs: list[np.ndarray], ft: TopTempFeaturizer) -> None:
        ft.fit(tiles[: max(4, len(tiles) // 4)])
        ta, tf = [], []
        for _ in range(a.repeats):
            ta.append(_timed(lambda: raw.transform(anchor_imgs)))
            tf.append(_timed(lambda: ft.transform(tiles)))
        # best of the repeats (as timeit: other processes only ever add time); CPU time is the
        # primary figure on a shared machine (waiting for a core is not counted), wall time too
        ma, mf = min(t[1] for t in ta), min(t[1] for t in tf)
        wa, wf = min(t[0] for t in ta), min(t[0] for t in tf)
        row = {"config": label, "raw_ph_cpu_s": ma, "toptemp_cpu_s": mf,
               "raw_ph_wall_s": wa, "toptemp_wall_s": wf, "ratio_wall": wa / wf,
               "ratio_of_median_wall": statistics.median(t[0] for t in ta)
               / statistics.median(t[0] for t in tf),
               "raw_ph_tiles_per_s": len(tiles) / ma, "toptemp_tiles_per_s": len(tiles) / mf,
               "raw_ph_mpx_per_s": mpx / ma, "toptemp_mpx_per_s": mpx / mf,
               "ratio": ma / mf, "n_features": ft.n_features_out_}
        results["rows"].append(row)
        print(f"{label:<34} raw PH {row['raw_ph_tiles_per_s']:8.1f} tiles/s "
              f"{row['raw_ph_mpx_per_s']:6.2f} MP/s | TopTemp {row['toptemp_tiles_per_s']:8.1f} "
              f"tiles/s {row['toptemp_mpx_per_s']:6.2f} MP/s | ratio {row['ratio']:.2f} "
              f"(wall {row['ratio_wall']:.2f}; {row['n_features']} features)",
              file=sys.stderr)

    print(f"{len(tiles)} tiles from {source}, {mpx:.2f} MP, best of {a.repeats}, CPU time", file=sys.stderr)
    z = [_zscore(t) for t in tiles]
    for f in ("sublevel", "superlevel"):
        imgs = z if f == "sublevel" else [-t for t in z]
        bench(f"{f}, scale 1, all vectorisers", imgs,
              TopTempFeaturizer(scales=(1,), filtrations=(f,), **all_vec))
    bench("sublevel, scale 1, summaries+Betti", z,
          TopTempFeaturizer(scales=(1,), filtrations=("sublevel",), persistence_images=False))
    pyramid = [im for t in tiles for im in preprocess(t, (1, 2, 4))]
    both = pyramid + [-im for im in pyramid]
    bench("default (scales 1,2,4; both)", both, TopTempFeaturizer(**all_vec))
    if a.json:
        print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
