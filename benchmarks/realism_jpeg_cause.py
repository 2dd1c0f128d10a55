"""Why JPEG re-encoding of uhcs3 is not a monotone degradation: double compression on the source grid.

The uhcs3 micrographs are already JPEGs (IJG quality 75: their luminance table is the IJG table scaled
by 1/2). Re-encoding a decoded image on the *same* 8x8 block grid requantises DCT coefficients that
are already multiples of the source step ``s``. With a new step ``r s``:

* ``1 < r <= 2`` (quality 50-74): a coefficient of one source step, ``+-s``, is rounded to ``+-r s``,
  i.e. *amplified* by ``r`` (at quality 50, r = 2 for the even table entries is a tie, which the IJG
  quantiser rounds away from zero, and just under 2 for the odd ones). Most high-frequency
  coefficients of these grainy SEM images are +-1 step, so the grain gets up to twice its contrast:
  the image is *sharpened*, with more and longer-lived extrema;
* ``r > 2`` (quality below 50): the same coefficients are rounded to 0: the grain is removed.

So quality 50 is the sharpest point of the ladder, and quality 30 a mild smoothing. Re-encoding on a
grid offset by 4 pixels (what any crop does) is an ordinary single compression, and the change grows
monotonically as quality drops. This script measures, per quality, for both grids: the mean absolute
pixel change, the median per-image ratio of high-frequency power (radial frequency > 0.3 cycles/px)
to the source's, and the ratio of the number of sublevel H1 pairs with persistence > 12 grey levels
to the source's. For scale, the same power ratio is printed for the additive-noise degradations of
``realism_validity.py`` (sigma 0.02, 0.05, 0.1), which the score must rank by the grain they add.
Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/realism_jpeg_cause.py [--data ../shared/data] [--n 16]

References
----------
.. [1] Wallace, G. K. "The JPEG still picture compression standard", IEEE Trans. Consum. Electron. 38
   (1992) (quantisation tables and their quality scaling, IJG).
.. [2] Lukas, J., Fridrich, J. "Estimation of primary quantization matrix in double compressed JPEG
   images", DFRWS (2003) (double-compression artefacts of requantisation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IJG_LUMA_ROW0 = np.array([16, 11, 10, 16, 24, 40, 51, 61])


def ijg_quality(row0: np.ndarray) -> int:
    """The IJG quality whose scaled luminance table has this first row (closest match)."""
    best, err = 0, np.inf
    for q in range(1, 101):
        s = 5000 / q if q < 50 else 200 - 2 * q
        t = np.clip((IJG_LUMA_ROW0 * s + 50) // 100, 1, 255)
        e = np.abs(t - row0).sum()
        if e < err:
            best, err = q, e
    return best


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Re-encode a [0, 1] grey image as JPEG at ``quality`` and decode it."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def high_freq_power(img: np.ndarray, f0: float = 0.3) -> float:
    """Mean power of the spectrum above radial frequency ``f0`` cycles/px."""
    x = img.astype(np.float64) - img.mean()
    F = np.abs(np.fft.fft2(x)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(x.shape[0]), np.fft.fftfreq(x.shape[1]), indexing="ij")
    return float(F[np.hypot(fy, fx) > f0].mean())


def h1_count(imgs: list[np.ndarray], min_levels: float = 12.0) -> float:
    """Mean number of sublevel H1 pairs with persistence above ``min_levels`` grey levels."""
    from shapekit.topology import cubical_persistence_batch

    dg = cubical_persistence_batch([a.astype(np.float64) for a in imgs], filtration="sublevel", dims=(1,),
                                   min_persistence=min_levels / 255, n_jobs=2)
    return float(np.mean([len(d[1]) for d in dg]))


def main() -> None:
    import pandas as pd
    from PIL import Image

    from shapekit.io import read_image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--n", type=int, default=16, help="spheroidite images used")
    ap.add_argument("--qualities", default="95,90,80,75,70,60,55,52,50,48,45,40,35,30,20,10")
    args = ap.parse_args()
    lab = pd.read_csv(args.data / "uhcs3" / "labels.csv")
    files = lab.loc[lab.label_name == "spheroidite", "file"].tolist()[: args.n]
    paths = [args.data / "uhcs3" / "images" / f for f in files]
    rows = {tuple(Image.open(p).quantization[0][:8]) for p in paths}
    print("source luminance tables (first row):", sorted(rows),
          "-> IJG quality", sorted({ijg_quality(np.array(r)) for r in rows}))
    src = [read_image(p)[0] for p in paths]
    grids = {"aligned": src, "offset 4 px": [a[4:, 4:] for a in src]}
    base = {g: (h1_count(ims), np.array([high_freq_power(a) for a in ims])) for g, ims in grids.items()}
    for sigma in (0.02, 0.05, 0.1):
        noisy = [np.clip(a + np.random.default_rng(1).normal(0, sigma, a.shape), 0, 1) for a in src]
        ratio = np.median(np.array([high_freq_power(a) for a in noisy]) / base["aligned"][1])
        print(f"noise sigma {sigma}: HF power x{ratio:.2f}, H1>12 x{h1_count(noisy) / base['aligned'][0]:.2f}")
    print(f"{'quality':>7s} | " + " | ".join(f"{g:^32s}" for g in grids))
    print(f"{'':>7s} | " + " | ".join(f"{'|dpx| (lvl)':>11s} {'HF power':>9s} {'H1>12':>8s}" for _ in grids))
    for q in (int(v) for v in args.qualities.split(",")):
        cells = []
        for g, ims in grids.items():
            out = [jpeg(a, q) for a in ims]
            dpx = np.mean([np.abs(o - a).mean() * 255 for o, a in zip(out, ims)])
            hf = float(np.median(np.array([high_freq_power(o) for o in out]) / base[g][1]))
            cells.append(f"{dpx:11.2f} {hf:9.2f} {h1_count(out) / base[g][0]:8.2f}")
        print(f"{q:7d} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
