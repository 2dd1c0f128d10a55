"""One 2048x1536 scan from file to temper with the default TopTemp model. Goal: < 1 s on 2 cores.

Writes a 2048x1536 8-bit TIFF (a real uhcs3 micrograph mirrored to size when ../shared/data is
present, else a toy micrograph), trains a default-configuration model on a small set (or uses
``--model DIR``), then times ``TemperModel.classify([path])`` -- read, info-bar check, tiling,
multi-scale PH features of every tile, classifier, aggregation -- over ``--repeat`` runs. The
anchor, measured in the same run, is raw GUDHI fast-path PH of the full-resolution scan (sublevel
and superlevel), so the ratio says how many "plain PH passes" the whole pipeline costs.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_scan.py [--model DIR] [--n-jobs 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # toy micrographs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "uhcs3"


def make_scan(path: Path, h: int = 1536, w: int = 2048) -> str:
    import tifffile

    if (DATA / "labels.csv").is_file():
        from shapekit.io import read_image

        img, _ = read_image(DATA / "images" / "micrograph1.jpg")
        src = "uhcs3/micrograph1.jpg mirrored"
    else:
        from toy import toy_micrograph

        img = toy_micrograph("network", 512, np.random.default_rng(0))
        src = "toy network"
    reps = (-(-h // img.shape[0]) + 1, -(-w // img.shape[1]) + 1)
    tiled = np.block([[img if (i + j) % 2 == 0 else img[::-1, ::-1] for j in range(reps[1])]
                      for i in range(reps[0])])[:h, :w]
    tifffile.imwrite(path, np.round(tiled * 255).astype(np.uint8))
    return src


def default_model():
    from toy import toy_dataset

    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(4, 256, seed=0)
    return train_on_images(images, labels, tile_size=256, cv_folds=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: train a default-config one)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from shapekit.temper.modeldir import load_model
    from shapekit.topology import cubical_persistence

    tmp = Path(tempfile.mkdtemp(prefix="bench_scan_"))
    scan = tmp / "scan_2048x1536.tif"
    src = make_scan(scan)
    model = load_model(a.model) if a.model else default_model()
    model.features.set_params(diagrams__n_jobs=a.n_jobs)
    model.classify([scan])  # warm-up (imports, thread pool)
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        res = model.classify([scan])[0]
        times.append(time.perf_counter() - t)
    from shapekit.io import read_image

    img, _ = read_image(scan)
    anchor = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        cubical_persistence(img, "sublevel")
        cubical_persistence(img, "superlevel")
        anchor.append(time.perf_counter() - t)
    out = {"scan": "2048x1536 uint8 TIFF (" + src + ")", "model": repr(model), "n_jobs": a.n_jobs,
           "tiles": res["tiles"], "file_to_temper_s_median": round(float(np.median(times)), 3),
           "file_to_temper_s_min": round(float(np.min(times)), 3),
           "anchor_raw_ph_both_filtrations_s_median": round(float(np.median(anchor)), 3),
           "ratio_pipeline_over_raw_ph": round(float(np.median(times) / np.median(anchor)), 2),
           "goal_s": 1.0, "meets_goal": bool(np.median(times) < 1.0)}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:40s} {v}")


if __name__ == "__main__":
    main()
