"""Scale-bar reading (shapekit.io.read_scale_bar) on the UHCS originals and on synthetic bars.

* the 5 UHCS originals from their pixels (the Olympus SIS tag is not used), as the TIFFs and as
  JPEG copies at q90 and q75, per engine, against ``micron_bar / micron_bar_px`` of labels.csv;
* synthetic info bars: styles (filled, end ticks, bracket) x polarity x label position (right,
  above, below) x label font (DejaVu Sans, the template font; Computer Modern Sans and DejaVu Serif,
  which are not templates) x zoom (0.9, 1, 1.15) x JPEG q85, with random lengths and labels;
  counted as read correctly (within 2 %), refused (null with a note), or misread;
* the simulator's info bars (OpenCV Hershey font);
* with ``--resized``: the 5 originals resized 0.5-3x in steps of 0.05 with 4 filters (Pillow's
  Lanczos, bilinear, nearest, bicubic), as PNG-like pixels and as JPEG q85 (2040 copies), per
  engine, counted as above against the catalogue pixel size scaled by the resize.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/scalebar_uhcs.py [--engines matcher,tesseract,auto] [--resized]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from shapekit.io import read_image, read_scale_bar  # noqa: E402
from shapekit.io.ocr import parse_label, tesseract_available  # noqa: E402

LABELS = ["100 nm", "200 nm", "500 nm", "1 µm", "2 µm", "5 µm", "10 µm", "20 µm", "50 µm", "0.5 µm", "1 mm",
          "2.5 um", "300 nm", "40 µm"]


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def originals(engines: list[str]) -> None:
    d = ROOT.parent / "shared" / "data" / "uhcs_originals"
    with open(d / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    print("| file | catalogue um/px | copy | " + " | ".join(engines) + " |")
    print("|---|---|---|" + "---|" * len(engines))
    times = []
    for row in rows:
        img, _ = read_image(d / row["file"])
        ref = float(row["micron_bar"]) / float(row["micron_bar_px"])
        for q in (None, 90, 75):
            im = img if q is None else _jpeg(img, q)
            cells = []
            for e in engines:
                t = time.perf_counter()
                r = read_scale_bar(im, engine=e)
                times.append((e, time.perf_counter() - t))
                cells.append(f"{r.label}, {r.length_px} px, {100 * (r.um_per_px / ref - 1):+.2f} %"
                              if r.um_per_px else f"null ({r.note})")
            print(f"| {row['file']} | {ref:.5f} | {'TIFF pixels' if q is None else f'JPEG q{q}'} | "
                  + " | ".join(cells) + " |")
    for e in engines:
        ts = [t for k, t in times if k == e]
        print(f"# {e}: median {1000 * np.median(ts):.1f} ms per image")


def synthetic(engines: list[str], seed: int) -> None:
    from test_io_scalebar import bar_image

    rng = np.random.default_rng(seed)
    fonts = ("DejaVuSans.ttf", "cmss10.ttf", "DejaVuSerif.ttf")
    counts = {(e, f): Counter() for e in engines for f in fonts}
    for style in ("filled", "ticks", "bracket"):
        for wob in (True, False):
            for pos in ("right", "above", "below"):
                for font in fonts:
                    for zoom in (0.9, 1.0, 1.15):
                        label = str(rng.choice(LABELS))
                        if font == "cmss10.ttf":  # no micro sign in that font
                            label = label.replace("µ", "u")
                        length = int(rng.integers(60, 260))
                        img = bar_image(label, length, style=style, white_on_black=wob, position=pos, font=font,
                                        font_px=int(rng.integers(14, 22)), seed=int(rng.integers(1 << 30)))
                        if zoom != 1.0:
                            img = np.clip(cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA
                                                     if zoom < 1 else cv2.INTER_CUBIC), 0, 1)
                        img = _jpeg(img, 85)
                        want = parse_label(label)[0] / (length * zoom)
                        for e in engines:
                            r = read_scale_bar(img, engine=e)
                            k = ("refused" if r.um_per_px is None else
                                 "correct" if abs(r.um_per_px / want - 1) <= 0.02 else "MISREAD")
                            counts[(e, font)][k] += 1
    print("| engine | label font | correct (within 2 %) | refused (null + note) | misread |")
    print("|---|---|---|---|---|")
    for (e, f), c in counts.items():
        print(f"| {e} | {f} | {c['correct']} | {c['refused']} | {c['MISREAD']} |")


def simulator(engines: list[str]) -> None:
    from shapekit.synth import add_info_bar

    rng = np.random.default_rng(1)
    c = {e: Counter() for e in engines}
    for size in (256, 384, 512, 768, 1024):
        for um in (0.002, 0.005, 0.01, 0.02, 0.05):
            img, _ = add_info_bar((0.2 + 0.6 * rng.random((size, size))).astype(np.float32), um,
                                  np.random.default_rng(size))
            for e in engines:
                r = read_scale_bar(img, engine=e)
                c[e]["refused" if r.um_per_px is None else "correct" if abs(r.um_per_px / um - 1) <= 0.02
                     else "MISREAD"] += 1
    for e in engines:
        print(f"# simulator bars (Hershey font), {e}: {dict(c[e])} of 25")


def resized(engines: list[str]) -> None:
    from PIL import Image

    d = ROOT.parent / "shared" / "data" / "uhcs_originals"
    with open(d / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    filters = {"lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST,
               "bicubic": Image.BICUBIC}
    counts = {e: Counter() for e in engines}
    for row in rows:
        im = Image.open(d / row["file"]).convert("L")
        ref = float(row["micron_bar"]) / float(row["micron_bar_px"])
        w, h = im.size
        for factor in np.round(np.arange(0.5, 3.001, 0.05), 3):
            size = (round(w * factor), round(h * factor))
            for name, flt in filters.items():
                x = np.asarray(im.resize(size, flt)).astype(np.float32) / 255
                for q in (None, 85):
                    a = x if q is None else _jpeg(x, q)
                    expect = ref * w / size[0]
                    for e in engines:
                        r = read_scale_bar(a, engine=e)
                        if r.um_per_px is None:
                            counts[e]["refused"] += 1
                        elif abs(r.um_per_px / expect - 1) <= 0.02:
                            counts[e]["correct"] += 1
                        else:
                            counts[e]["misread"] += 1
                            print(f"# misread ({e}): {row['file']} x{factor} {name} "
                                  f"{'JPEG q85' if q else 'pixels'}: {r.label}, {r.length_px} px, "
                                  f"{100 * (r.um_per_px / expect - 1):+.1f} %")
    print("| engine | resized copies | correct (within 2 %) | refused | misread |")
    print("|---|---|---|---|---|")
    for e in engines:
        c = counts[e]
        print(f"| {e} | {sum(c.values())} | {c['correct']} | {c['refused']} | {c['misread']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="matcher,tesseract,auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resized", action="store_true", help="also the resize sweep of the originals")
    args = ap.parse_args()
    engines = [e for e in args.engines.split(",") if e != "tesseract" or tesseract_available()]
    originals(engines)
    synthetic(engines, args.seed)
    simulator(engines)
    if args.resized:
        resized(engines)


if __name__ == "__main__":
    main()
