"""Validity experiments of the topological realism score (issue 5), on UHCS and on the simulator.

Run from the repository root (results printed, and written as JSON with --out)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/realism_validity.py --out /tmp/realism_validity.json

Each row prints the combined headline (topological_distance, raw images) and, since issue 16, the
structure and imaging parts relative to their baselines (``realism_decomposition.py`` tests those).

Experiments (uhcs3, ../shared/data; cite Hecht, DeCost, Holm et al., NIST hdl 11256/940, CC BY 3.0 US):

1. real-vs-real within each class: random halves A, B (75 vs 75) -> distance ~ baseline, p > 0.05;
2. degradations applied to the held-out half B of spheroidite: Gaussian blur sigma 1, 2, 4; additive
   Gaussian noise sigma 0.02, 0.05, 0.1 -> distance grows with severity; JPEG re-encoding at quality
   90, 70, 50, 30, 20, 10, on the source's own 8x8 grid and on a grid offset by 4 px (both halves
   cropped by 4 px at the top and left). uhcs3 files are already IJG quality-75 JPEGs, so the first is
   a double compression whose qualities 50-74 sharpen the grain (``realism_jpeg_cause.py``);
3. another class: spheroidite A vs pearlite -> far above real-vs-real;
4. mode collapse: the most typical image of B (closest to the mean summary vector), repeated with
   small noise (sigma 0.01) -> flagged (near-duplicates, :mod:`shapekit.realism.coverage`);
5. the simulator (shapekit.synth): sets differing only in aging time (180 C; 3, 6, 12, 30, 100 h)
   against a 3 h reference -> ranked by |log t - log 3 h|; and the JPEG ladder of never-compressed
   8-bit simulator images (3 h, a second set of seeds) -> grows with severity.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapekit._atomic import write_json  # noqa: E402
from shapekit.realism import score  # noqa: E402
from shapekit.realism.prepared import prepare_set  # noqa: E402


def _row(name: str, r: dict) -> dict:
    out = {"experiment": name, "topological_distance": r["topological_distance"],
           "ci": r["ci"]["topological_distance"], "real_vs_real": r["real_vs_real"]["mean"],
           "real_vs_real_ci": r["real_vs_real"]["ci"], "null_mean": r["permutation_null"]["mean"],
           "p_value": r["p_value"], "components": r["components"],
           "coverage": r["coverage"]["coverage"], "expected_coverage": r["coverage"]["expected_if_same"],
           "precision": r["coverage"]["precision"], "recall": r["coverage"]["recall"],
           "diversity_ratio": r["coverage"]["diversity_ratio"], "collapsed": r["coverage"]["collapsed"],
           "two_point": r["two_point"]["distance"], "seconds": r["timings_s"]["total"],
           "mean_shift_sd": _mean_shift(r), "duplicate_fraction": r["coverage"]["duplicate_fraction"],
           "structure": {k: r["structure"][k] for k in ("distance", "relative_to_baseline", "p_value")},
           "imaging": {k: r["imaging"][k] for k in ("distance", "relative_to_baseline", "p_value")},
           "verdict": r["verdict"]["lines"]}
    print(f"{name:28s} TD={out['topological_distance']:.3f} CI=[{out['ci'][0]:.3f},{out['ci'][1]:.3f}] "
          f"rvr={out['real_vs_real']:.3f} null={out['null_mean']:.3f} p={out['p_value']:.3f} "
          f"cov={out['coverage']:.2f}/{out['expected_coverage']:.2f} div={out['diversity_ratio']:.2f} "
          f"dup={out['duplicate_fraction']:.2f} collapsed={out['collapsed']} shift={out['mean_shift_sd']:.2f}sd "
          f"2pt={out['two_point']:.4f} | structure {out['structure']['relative_to_baseline']:.2f}x "
          f"p={out['structure']['p_value']:.3f} imaging {out['imaging']['relative_to_baseline']:.2f}x "
          f"p={out['imaging']['p_value']:.3f} ({out['seconds']:.0f}s)", flush=True)
    return out


def _mean_shift(r: dict) -> float:
    """Mean over summaries of |mean synthetic - mean real| in real standard deviations: how far the
    per-image statistics are off on average (small for a collapsed set of one typical image)."""
    out = []
    for v in r["summaries"].values():
        if v["w1"] > 0 and v["w1_std"] > 0:
            out.append(abs(v["fake_mean"] - v["real_mean"]) * v["w1_std"] / v["w1"])
    return float(np.mean(out)) if out else 0.0


JPEG_LADDER = (90, 70, 50, 30, 20, 10)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def uhcs(data: Path, kw: dict, rows: list, quick: bool) -> None:
    import pandas as pd
    from scipy import ndimage

    from shapekit.io import read_image

    lab = pd.read_csv(data / "uhcs3" / "labels.csv")
    rng = np.random.default_rng(0)

    def load(cls: str) -> list[np.ndarray]:
        files = lab.loc[lab.label_name == cls, "file"].tolist()
        return [read_image(data / "uhcs3" / "images" / f)[0] for f in files]

    classes = ["spheroidite", "pearlite", "carbide_network"]
    halves = {}
    for cls in classes[:1] if quick else classes:
        ims = load(cls)
        p = rng.permutation(len(ims))
        a, b = [ims[i] for i in p[: len(ims) // 2]], [ims[i] for i in p[len(ims) // 2:]]
        pa = prepare_set(a, n_jobs=kw["n_jobs"])      # per-image features computed once
        halves[cls] = (a, b, pa)
        rows.append(_row(f"real-vs-real {cls}", score(pa, b, **kw)))
    _, b, a = halves["spheroidite"]
    degr = {"blur 1": lambda x: ndimage.gaussian_filter(x, 1), "blur 2": lambda x: ndimage.gaussian_filter(x, 2),
            "blur 4": lambda x: ndimage.gaussian_filter(x, 4)}
    for s in (0.02, 0.05, 0.1):
        degr[f"noise {s}"] = (lambda s_: lambda x: np.clip(x + np.random.default_rng(1).normal(0, s_, x.shape),
                                                           0, 1).astype(np.float32))(s)
    for q in JPEG_LADDER:
        degr[f"jpeg q{q}"] = (lambda q_: lambda x: _jpeg(x, q_))(q)
    for name, f in degr.items():
        rows.append(_row(f"spheroidite vs {name}", score(a, [f(x) for x in b], **kw)))
    # the same ladder on a block grid offset from the source's by 4 px: a single compression
    a4 = prepare_set([x[4:, 4:] for x in halves["spheroidite"][0]], n_jobs=kw["n_jobs"])
    for q in JPEG_LADDER:
        rows.append(_row(f"spheroidite vs jpeg q{q} offset 4", score(a4, [_jpeg(x[4:, 4:], q) for x in b], **kw)))
    pea = load("pearlite")
    rows.append(_row("spheroidite vs pearlite", score(a, pea[: len(b)], **kw)))
    # mode collapse: the most typical held-out image, repeated with small noise
    from shapekit.realism.summaries import image_features

    fb = image_features(b, n_jobs=kw["n_jobs"])
    z = (fb.summaries - fb.summaries.mean(0)) / (fb.summaries.std(0) + 1e-12)
    typical = b[int(np.argmin((z ** 2).sum(1)))]
    nrng = np.random.default_rng(2)
    collapsed = [np.clip(typical + nrng.normal(0, 0.01, typical.shape), 0, 1).astype(np.float32) for _ in b]
    rows.append(_row("spheroidite vs collapsed", score(a, collapsed, **kw)))


def simulator(kw: dict, rows: list, n: int, size: int) -> None:
    from scipy.stats import spearmanr

    from shapekit.synth import render_micrograph

    def sims(t_h: float, seed0: int) -> list[np.ndarray]:
        return [render_micrograph(180.0, t_h, size=size, seed=seed0 + i)[0] for i in range(n)]

    ref = prepare_set(sims(3.0, 0), n_jobs=kw["n_jobs"])
    times = (3.0, 6.0, 12.0, 30.0, 100.0)
    tds = []
    for k, t in enumerate(times):
        r = score(ref, sims(t, 10_000 * (k + 1)), **kw)
        rows.append(_row(f"simulator 3 h vs {t:g} h", r))
        tds.append(r["topological_distance"])
    rho = spearmanr(np.abs(np.log(times) - np.log(3.0)), tds)[0]
    print(f"simulator: Spearman(|log t - log 3h|, distance) = {rho:.3f}")
    rows.append({"experiment": "simulator spearman", "spearman": float(rho)})
    # JPEG ladder of never-compressed 8-bit simulator images against an 8-bit reference
    ref8 = prepare_set([np.round(x * 255) / 255 for x in ref.images], n_jobs=kw["n_jobs"])
    held = sims(3.0, 90_000)
    for q in JPEG_LADDER:
        rows.append(_row(f"simulator 3 h vs jpeg q{q}", score(ref8, [_jpeg(x, q) for x in held], **kw)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--n-perm", type=int, default=200)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="one class, small simulator sets")
    ap.add_argument("--skip-uhcs", action="store_true")
    ap.add_argument("--skip-simulator", action="store_true")
    args = ap.parse_args()
    kw = dict(n_boot=args.n_boot, n_perm=args.n_perm, n_jobs=args.n_jobs, seed=0)
    rows: list = []
    t0 = time.perf_counter()
    if not args.skip_uhcs and (args.data / "uhcs3" / "labels.csv").is_file():
        uhcs(args.data, kw, rows, args.quick)
    else:
        print(f"uhcs3 not found under {args.data}: simulator only")
    if not args.skip_simulator:
        simulator(kw, rows, n=12 if args.quick else 40, size=96 if args.quick else 192)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.out:
        write_json(args.out, {"rows": rows, "settings": vars(args) | {"data": str(args.data),
                                                                      "out": str(args.out)}})


if __name__ == "__main__":
    main()
