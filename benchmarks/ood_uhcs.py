"""Out-of-distribution verdicts of a uhcs3 temper model: false alarms, foreign images, coverage.

Validates :mod:`shapekit.temper.ood` on real data with today's public feature API (the robust
preset's TopTemp tile features, tiles cut as the classifier cuts them):

* in-distribution: 5-fold stratified hold-out of uhcs3 -- the OOD scorer is fitted (threshold
  calibrated by inner cross-fitting at ``--level``) on 4 folds and its false-alarm rate measured on
  the 5th, clean and under the robustness study's perturbations (noise 0.1, blur 2, JPEG q30);
* foreign images presented to the uhcs3 scorer: the 23 superalloy SEM images, simulator images
  (``shapekit.synth``), blank (flat grey + sensor noise) and saturated scans; constant scans are
  refused at ingestion (``InputError``) and counted as such;
* uhcs3 scans at 4x lower magnification (4x4 mosaics of same-class scans area-downsampled 4x: a
  field of view 16x larger in the same pixel count) and 4x higher magnification (the central
  quarter of a scan upsampled 4x, bicubic);
* conformal prediction sets (LAC and APS) from the out-of-fold class probabilities of the
  robust-preset SVM: empirical coverage on held-out folds vs the stated level;
* ``clipped``: how saturated the saturated test scans are against uhcs3's own scans (the share of
  pixels at the extreme grey levels, :func:`shapekit.temper.descriptors.grey_levels`): a test
  scan no more clipped than real training scans cannot be told from them by that share;
* ``scale``: whether a characteristic feature size (the lag where the two-point correlation of
  the grey levels falls to half) follows a 4x change of magnification on uhcs3 (it does not:
  RESULTS.md); ``spacing``: the same for the realism evaluator's feature spacing, and whether
  scans 4x beyond the ends of uhcs3's own spacing range fall outside it (session 21).

Which descriptors the shipped check scores (grey levels + the 8-64 px octave shares,
:mod:`shapekit.temper.descriptors`) was chosen on the in-distribution folds, the perturbed scans,
the simulator, blank/saturated scans and the 5 "other alloy" superalloy images only; the 18
images of the superalloy spot series were scored once, at the end, as the held-out test.

Usage (from the repository root; the CPU is shared, so be nice)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_uhcs.py features   # ~10 min, cached
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_uhcs.py evaluate [--json out.json]
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_uhcs.py scale
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_uhcs.py spacing
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ood_uhcs.py clipped

Features are cached under ``--cache`` (default /tmp/h15a-scalebar-ood/ood).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TILE = 256


def _featurize(images, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Tile features of scans, tiles cut as the classifier cuts them; (X, scan id per tile)."""
    from shapekit.temper.presets import feature_params
    from shapekit.temper.scans import scan_features

    feats = scan_features(images, TILE, feature_params("robust"), desc=desc)
    return np.concatenate(feats), np.repeat(np.arange(len(feats)), [len(f) for f in feats])


def _save(cache: Path, name: str, images, **extra) -> None:
    """Cache TopTemp tile features (X, scan) and scan descriptors (D) of a set of scans."""
    from shapekit.temper.descriptors import grey_levels, octave_shares

    f = cache / f"{name}.npz"
    old = dict(np.load(f)) if f.exists() else {}
    if "X" in old and "D" in old:
        print(f"# {name}: cached", file=sys.stderr)
        return
    t = time.time()
    if "X" not in old:
        old["X"], old["scan"] = _featurize(images, name)
    old["D"] = np.stack([np.r_[grey_levels(im), octave_shares(im, 6)] for im in images])  # grey + spectrum
    np.savez(f, **{**old, **extra})
    print(f"# {name}: {len(images)} scans, {len(old['X'])} tiles, {time.time() - t:.1f} s", file=sys.stderr)


def _read(paths) -> list[np.ndarray]:
    from shapekit.temper.scans import load_scan_image

    return [load_scan_image(p) for p in paths]


def mosaics(images: list[np.ndarray], labels: np.ndarray, factor: int, seed: int) -> tuple[list, list]:
    """``factor x factor`` mosaics of same-class scans, area-downsampled by ``factor``."""
    import cv2

    rng = np.random.default_rng(seed)
    out, labs = [], []
    h, w = images[0].shape
    for lab in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == lab))
        for c in range(0, len(idx) - factor * factor + 1, factor * factor):
            tiles = [images[i][:h, :w] for i in idx[c:c + factor * factor]]
            rows = [np.concatenate(tiles[r * factor:(r + 1) * factor], axis=1) for r in range(factor)]
            big = np.concatenate(rows, axis=0)
            out.append(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA))
            labs.append(lab)
    return out, labs


def zoomed(image: np.ndarray, factor: int) -> np.ndarray:
    """The central ``1/factor`` of a scan upsampled ``factor`` times (bicubic): higher magnification."""
    import cv2

    h, w = image.shape
    ch, cw = h // factor, w // factor
    r, c = (h - ch) // 2, (w - cw) // 2
    return np.clip(cv2.resize(image[r:r + ch, c:c + cw], (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def blank_and_saturated(images: list[np.ndarray], n: int, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    h, w = images[0].shape
    blank = []
    for i in range(n):
        level, sigma = rng.uniform(0.1, 0.9), [0.004, 0.02][i % 2]
        img = level + sigma * rng.standard_normal((h, w))
        if i % 4 >= 2:  # uneven illumination
            img += 0.1 * np.linspace(-1, 1, w)[None, :]
        blank.append(np.clip(np.round(img * 255) / 255, 0, 1).astype(np.float32))
    sat = []
    for i in rng.choice(len(images), n, replace=False):
        img = images[i]
        gain = rng.uniform(6, 12)
        sat.append(np.clip((img - np.median(img)) * gain + 0.5, 0, 1).astype(np.float32))
    return blank, sat


def features(cache: Path, seed: int = 0) -> None:
    from shapekit.io import load_manifest
    from shapekit.temper.presets import PRESETS
    from shapekit.temper.robustness import PERTURBATIONS, apply_perturbation, augmented_copies
    from shapekit.temper.scans import read_manifest_images

    cache.mkdir(parents=True, exist_ok=True)
    man = load_manifest(ROOT / "data_manifests" / "uhcs3.yaml")
    images = read_manifest_images(man)
    labels = np.asarray([str(x) for x in man.labels])
    _save(cache, "uhcs3", images, labels=labels)
    pre = PRESETS["robust"]
    copies, a_scan, _ = augmented_copies(images, pre["augment"], seed=seed + 1, **pre["augment_options"])
    _save(cache, "uhcs3_augment", copies, source_scan=a_scan)
    for name in ("noise_0.1", "blur_2", "jpeg_q30"):
        kind, value = PERTURBATIONS[name]
        _save(cache, f"uhcs3_{name}", [apply_perturbation(im, kind, value, seed + i) for i, im in enumerate(images)])
    mos, mlab = mosaics(images, labels, 4, seed)
    _save(cache, "uhcs3_mag_down4", mos, labels=np.asarray(mlab))
    sub = np.random.default_rng(seed).choice(len(images), 150, replace=False)
    _save(cache, "uhcs3_mag_up4", [zoomed(images[i], 4) for i in sub], source_scan=sub)
    blank, sat = blank_and_saturated(images, 20, seed)
    _save(cache, "blank", blank)
    _save(cache, "saturated", sat)
    alloy = sorted((DATA / "superalloy_aging" / "images").glob("*.tif"))
    _save(cache, "superalloy", _read(alloy))
    from shapekit.synth.dataset import synthesize

    sim = synthesize(60, seed=seed, size=512, keep_images=True)
    _save(cache, "simulator", [np.asarray(im, np.float32) for im in sim.images])


def _load(cache: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(cache / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def _pool(X: np.ndarray, scan: np.ndarray) -> np.ndarray:
    """Mean tile features per scan (the classifier's "features" aggregation)."""
    n = int(scan.max()) + 1
    out = np.zeros((n, X.shape[1]))
    np.add.at(out, scan, X)
    return out / np.bincount(scan, minlength=n)[:, None]


def _descriptors(D: np.ndarray, desc: int | str) -> np.ndarray:
    """Descriptor columns: the first ``desc`` of the cache (6 grey, 12 grey + 6 octave shares) or
    ``"mid"``: the 6 grey levels + the octave shares of bands 1-3 (8-64 px) among themselves,
    as :func:`shapekit.temper.descriptors.scan_descriptors` computes them."""
    if desc == "mid":
        b = D[:, 6 + 1:6 + 4]
        return np.c_[D[:, :6], b - np.log(np.exp(b).sum(axis=1, keepdims=True))]
    return D[:, :int(desc)]


def _width(desc: int | str) -> int:
    return 9 if desc == "mid" else int(desc)


def _scan_rows(d: dict[str, np.ndarray], desc: int | str) -> np.ndarray:
    """One row per scan: mean TopTemp tile features, then the scan descriptors ``desc``."""
    X = _pool(d["X"], d["scan"])
    return np.c_[X, _descriptors(d["D"], desc)] if desc else X


def _scan_scores(scorer, d: dict[str, np.ndarray], rows: np.ndarray | None, level: str,
                 desc: int = 0) -> np.ndarray:
    """OOD score per scan: of the scan's row (mean features [+ descriptors]), or the median of its tiles'."""
    if level == "scan":
        R = _scan_rows(d, desc)
        return scorer.ood_score(R if rows is None else R[rows])
    X, scan = d["X"], d["scan"]
    if rows is not None:
        keep = np.isin(scan, rows)
        X, scan = X[keep], np.searchsorted(rows, scan[keep])
    t = scorer.ood_score(X)
    return np.array([np.median(t[scan == i]) for i in range(int(scan.max()) + 1)])


def _training(d: dict, aug: dict, rows: np.ndarray, level: str, with_aug: bool, desc: int = 0):
    """Training rows, labels and groups (scan ids) of the scans ``rows`` (+ their augmented copies)."""
    y = d["labels"]
    n = len(y)  # copies have scan ids n.. (copy c of scan i: n + c n + i), their D rows start at 0
    parts = [(d["X"], d["scan"], d["D"], 0)] + ([(aug["X"], aug["scan"], aug["D"], n)] if with_aug else [])
    Xs, ys, gs = [], [], []
    for X, sc, D, off in parts:
        src = sc % len(y)
        keep = np.isin(src, rows)
        X, sc, src = X[keep], sc[keep], src[keep]
        if level == "scan":
            keys, inv = np.unique(sc, return_inverse=True)
            X = _pool(X, inv)
            if desc:
                X = np.c_[X, _descriptors(D[keys - off], desc)]
            src = keys % len(y)
        Xs.append(X)
        ys.append(y[src])
        gs.append(src)
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs)


FOREIGN = ("superalloy", "simulator", "blank", "saturated", "uhcs3_mag_down4", "uhcs3_mag_up4")
PERTURBED = ("uhcs3_noise_0.1", "uhcs3_blur_2", "uhcs3_jpeg_q30")


def evaluate_ood(cache: Path, seed: int, method: str, level: str, with_aug: bool, alpha: float = 0.99,
                 desc: int = 0) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from shapekit.temper.ood import OODScorer

    d, aug = _load(cache, "uhcs3"), _load(cache, "uhcs3_augment")
    n = len(d["labels"])
    # copies are numbered copy-major (copy c of scan i is copy c * n + i): ids n.. keep i = id % n
    aug["scan"] = aug["scan"] + n
    pert = {k: _load(cache, k) for k in PERTURBED}
    res: dict = {"method": method, "level": level, "augment": with_aug, "descriptors": desc, "false_alarm": {}}
    blocks = [d["X"].shape[1], _width(desc)] if desc else None
    fa = {k: [] for k in ("clean", *PERTURBED)}
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(n), d["labels"]):
        X, y, g = _training(d, aug, tr, level, with_aug, desc)
        sc = OODScorer(method=method, level=alpha, seed=seed, blocks=blocks).fit(X, y, groups=g)
        fa["clean"].append(_scan_scores(sc, d, te, level, desc) > 1)
        for k in PERTURBED:
            fa[k].append(_scan_scores(sc, pert[k], te, level, desc) > 1)
    for k, v in fa.items():
        v = np.concatenate(v)
        res["false_alarm"][k] = [int(v.sum()), int(len(v)), round(float(v.mean()), 4)]
    X, y, g = _training(d, aug, np.arange(n), level, with_aug, desc)
    sc = OODScorer(method=method, level=alpha, seed=seed, blocks=blocks).fit(X, y, groups=g)
    res["flagged"] = {}
    for k in FOREIGN:
        f = _scan_scores(sc, _load(cache, k), None, level, desc)
        parts = {k: f}
        if k == "superalloy":  # sorted names: 5 other alloys (design set), then the spot series
            parts = {"superalloy_other5_design": f[:5], "superalloy_spots18_heldout": f[5:], k: f}
        for name, v in parts.items():
            res["flagged"][name] = [int((v > 1).sum()), int(len(v)), round(float((v > 1).mean()), 4),
                                    round(float(np.median(v)), 2)]
    return res


def evaluate_conformal(cache: Path, seed: int, coverages=(0.9, 0.95)) -> dict:
    """Coverage of conformal sets on outer held-out folds, calibrated on inner out-of-fold probabilities."""
    from sklearn.model_selection import StratifiedKFold

    from shapekit.temper.classifier import TopTempClassifier
    from shapekit.temper.conformal import ConformalSets

    d, aug = _load(cache, "uhcs3"), _load(cache, "uhcs3_augment")
    n = len(d["labels"])
    aug["scan"] = aug["scan"] + n
    names, y_all = np.unique(d["labels"], return_inverse=True)

    def fit(rows):
        X, y, g = _training({**d, "labels": y_all}, aug, rows, "scan", True)
        return TopTempClassifier("svm", C=10.0, random_state=seed).fit(X, y, g)

    Xscan = _pool(d["X"], d["scan"])
    out = {f"{s}@{c}": {"covered": 0, "n": 0, "size": 0} for s in ("lac", "aps") for c in coverages}
    acc = 0
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(n), y_all):
        oof = np.zeros((len(tr), len(names)))
        for itr, ite in StratifiedKFold(5, shuffle=True, random_state=seed + 1).split(np.zeros(len(tr)), y_all[tr]):
            oof[ite] = fit(tr[itr]).predict_proba(Xscan[tr[ite]])
        P = fit(tr).predict_proba(Xscan[te])
        acc += int((P.argmax(1) == y_all[te]).sum())
        for s in ("lac", "aps"):
            for c in coverages:
                m = ConformalSets(coverage=c, score=s).fit(oof, y_all[tr]).predict(P)
                o = out[f"{s}@{c}"]
                o["covered"] += int(m[np.arange(len(te)), y_all[te]].sum())
                o["n"] += len(te)
                o["size"] += int(m.sum())
    for o in out.values():
        o["coverage"] = round(o["covered"] / o["n"], 4)
        o["mean_set_size"] = round(o["size"] / o["n"], 3)
    return {"accuracy": round(acc / n, 4), "sets": out}


def evaluate(cache: Path, seed: int, out: Path | None) -> None:
    t = time.time()
    rows = [evaluate_ood(cache, seed, m, lv, True) for m in ("mahalanobis", "knn") for lv in ("scan", "tile")]
    rows += [evaluate_ood(cache, seed, m, "scan", a, desc=k) for k in (6, 12) for m in ("mahalanobis", "knn")
             for a in (False, True)]
    # the shipped check: grey levels + mid-band octave shares, Mahalanobis, clean training scans
    rows += [evaluate_ood(cache, s, "mahalanobis", "scan", False, desc="mid") for s in (seed, seed + 1)]
    report = {"ood": rows, "conformal": evaluate_conformal(cache, seed), "seconds": round(time.time() - t, 1)}
    print(json.dumps(report, indent=1))
    if out is not None:
        out.write_text(json.dumps(report, indent=1))


def two_point_length(image: np.ndarray, level: float = 0.5, smooth: float = 2.0) -> float:
    """Lag (px) where the radially averaged two-point correlation of the grey levels (Gaussian-
    smoothed by ``smooth`` px, shading of more than an eighth of the scan removed) falls to
    ``level`` of its value at lag 0 (zero-padded FFTs: no wrap-around)."""
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(np.asarray(image, np.float64), smooth)
    z = img - gaussian_filter(img, min(img.shape) / 8)
    z -= z.mean()
    h, w = z.shape
    F = np.fft.rfft2(z, s=(2 * h, 2 * w))
    ac = np.fft.irfft2(np.abs(F) ** 2, s=(2 * h, 2 * w))
    cnt = np.fft.irfft2(np.abs(np.fft.rfft2(np.ones_like(z), s=(2 * h, 2 * w))) ** 2, s=(2 * h, 2 * w))
    ac /= np.maximum(np.round(cnt), 1)
    r = np.rint(np.hypot(np.fft.fftfreq(2 * h)[:, None] * 2 * h, np.fft.fftfreq(2 * w)[None, :] * 2 * w))
    r = r.astype(int)
    keep = r <= 200
    c = np.bincount(r[keep], ac[keep], minlength=201) / np.maximum(np.bincount(r[keep], minlength=201), 1)
    a = c / c[0]
    i = int(np.flatnonzero(a < level)[0]) if (a < level).any() else 200
    return float(i - 1 + (a[i - 1] - level) / (a[i - 1] - a[i])) if 0 < i < 200 else float(i)


def scale_study(n_per_class: int = 8) -> dict:
    """Does a two-point-correlation feature size follow a 4x change of magnification on uhcs3?

    For scans of each class: the length of the scan, of the scan perturbed (noise, blur, JPEG),
    of the central quarter upsampled 4x, and of the scan area-downsampled 4x and tiled back to
    its size (the same structure 4x smaller); the median ratio to the clean scan's length should
    be 4 and 1/4 for the two magnifications, 1 for the perturbations.
    """
    import cv2
    import pandas as pd

    from shapekit.temper.robustness import apply_perturbation
    from shapekit.temper.scans import load_scan_image

    lab = pd.read_csv(DATA / "uhcs3" / "labels.csv")
    files = list(lab.groupby("label_name").head(n_per_class).file)
    ratios: dict[str, list[float]] = {k: [] for k in ("noise_0.1", "blur_2", "jpeg_q30", "zoom_x4", "down_4")}
    base = []
    for f in files:
        im = load_scan_image(DATA / "uhcs3" / "images" / f)
        h, w = im.shape
        down = np.tile(cv2.resize(im, (w // 4, h // 4), interpolation=cv2.INTER_AREA), (4, 4))[:h, :w]
        variants = {"noise_0.1": apply_perturbation(im, "noise", 0.1, 1), "blur_2": apply_perturbation(im, "blur", 2),
                    "jpeg_q30": apply_perturbation(im, "jpeg", 30), "zoom_x4": zoomed(im, 4), "down_4": down}
        L = two_point_length(im)
        base.append(L)
        for k, v in variants.items():
            ratios[k].append(two_point_length(v) / L)
    return {"scans": len(files), "length_px_median": round(float(np.median(base)), 2),
            "length_px_range": [round(float(min(base)), 2), round(float(max(base)), 2)],
            "ratio_median": {k: round(float(np.median(v)), 2) for k, v in ratios.items()},
            "ratio_10_90": {k: [round(float(q), 2) for q in np.quantile(v, [0.1, 0.9])] for k, v in ratios.items()},
            "expected": {"noise_0.1": 1, "blur_2": 1, "jpeg_q30": 1, "zoom_x4": 4, "down_4": 0.25}}


def feature_spacing_px(images: list[np.ndarray]) -> np.ndarray:
    """The realism evaluator's feature spacing of each image (px): ``sqrt(area / components)`` of
    the structure image at the least smoothing (1.5 px; :func:`shapekit.realism.structure.
    feature_spacing`), built to scale with magnification and hardly with blur."""
    from shapekit.realism.structure import image_spacing

    return image_spacing(images)


def spacing_study(n: int = 30, n_extreme: int = 20, seed: int = 0) -> dict:
    """Session 21: the same question with the feature spacing, and the training range it gives.

    The spacing of all 450 uhcs3 scans (the range a scan without a pixel size could be checked
    against); the ratio for ``n`` random scans zoomed 4x, downsampled 4x (tiled back), blurred,
    noised and re-encoded; and the ``n_extreme`` scans of finest spacing downsampled 4x and of
    coarsest spacing zoomed 4x: a magnification 4x beyond the training range's ends.
    """
    import cv2
    import pandas as pd

    from shapekit.temper.robustness import apply_perturbation

    lab = pd.read_csv(DATA / "uhcs3" / "labels.csv")
    ims = _read([DATA / "uhcs3" / "images" / f for f in lab.file])
    S = feature_spacing_px(ims)

    def down(im: np.ndarray) -> np.ndarray:
        h, w = im.shape
        return np.tile(cv2.resize(im, (w // 4, h // 4), interpolation=cv2.INTER_AREA), (4, 4))[:h, :w]

    pick = np.random.default_rng(seed).choice(len(ims), n, replace=False)
    variants = {"zoom_x4": [zoomed(ims[i], 4) for i in pick], "down_4": [down(ims[i]) for i in pick],
                "blur_2": [apply_perturbation(ims[i], "blur", 2) for i in pick],
                "noise_0.1": [apply_perturbation(ims[i], "noise", 0.1, 1) for i in pick],
                "jpeg_q30": [apply_perturbation(ims[i], "jpeg", 30) for i in pick]}
    ratios = {k: feature_spacing_px(v) / S[pick] for k, v in variants.items()}
    order = np.argsort(S)
    s_lo = feature_spacing_px([down(ims[i]) for i in order[:n_extreme]])
    s_hi = feature_spacing_px([zoomed(ims[i], 4) for i in order[-n_extreme:]])
    return {"spacing_px_all": {"min": float(S.min()), "p1": float(np.percentile(S, 1)),
                               "median": float(np.median(S)), "p99": float(np.percentile(S, 99)),
                               "max": float(S.max())},
            "per_class_range_px": {c: [float(S[lab.label_name.values == c].min()),
                                       float(S[lab.label_name.values == c].max())]
                                   for c in sorted(lab.label_name.unique())},
            "ratio_median": {k: round(float(np.median(v)), 2) for k, v in ratios.items()},
            "ratio_10_90": {k: [round(float(q), 2) for q in np.quantile(v, [0.1, 0.9])]
                            for k, v in ratios.items()},
            "expected": {"zoom_x4": 4, "down_4": 0.25, "blur_2": 1, "noise_0.1": 1, "jpeg_q30": 1},
            "finest_down_4_below_training_min": int(np.sum(s_lo < S.min())),
            "coarsest_zoom_x4_above_training_max": int(np.sum(s_hi > S.max())),
            "n_extreme": n_extreme}


def clipped_study(seeds: tuple[int, ...] = (0, 1)) -> dict:
    """Share of clipped pixels: uhcs3's 450 scans against the saturated test scans of each seed."""
    from shapekit.io import load_manifest
    from shapekit.temper.descriptors import DESCRIPTOR_NAMES, grey_levels
    from shapekit.temper.scans import read_manifest_images

    col = DESCRIPTOR_NAMES.index("clipped")
    images = read_manifest_images(load_manifest(ROOT / "data_manifests" / "uhcs3.yaml"))
    real = np.asarray([grey_levels(im)[col] for im in images])
    out: dict = {"uhcs3": {"scans": len(real), "median": round(float(np.median(real)), 3),
                           "p99": round(float(np.quantile(real, 0.99)), 3),
                           "max": round(float(real.max()), 3)}}
    for seed in seeds:
        sat = np.sort([grey_levels(im)[col] for im in blank_and_saturated(images, 20, seed)[1]])
        out[f"saturated_seed{seed}"] = {
            "clipped": [round(float(v), 3) for v in sat],
            "within_uhcs3_range": int(np.sum(sat <= real.max())),
            "uhcs3_scans_more_clipped_than_the_least_clipped": int(np.sum(real > sat[0]))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("features", "evaluate", "scale", "spacing", "clipped"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/h15a-scalebar-ood/ood"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.stage == "features":
        features(args.cache, args.seed)
    elif args.stage == "scale":
        print(json.dumps(scale_study(), indent=1))
    elif args.stage == "spacing":
        print(json.dumps(spacing_study(), indent=1))
    elif args.stage == "clipped":
        print(json.dumps(clipped_study(), indent=1))
    else:
        evaluate(args.cache, args.seed, args.json)


if __name__ == "__main__":
    main()
