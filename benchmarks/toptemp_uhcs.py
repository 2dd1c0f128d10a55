"""Real-data cross-validation of TopTemp (and the CNN baseline) on a manifest, e.g. uhcs3.

Produces the figures reported in RESULTS.md section 1: stratified (or grouped, when the manifest
has a group column) k-fold CV accuracy and macro-F1 of TopTemp + SVM / logreg / XGBoost for both
tile -> scan aggregations (pooled out-of-fold predictions, ``cross_val_predict``), the model
``GridSearchCV`` selects over the same candidates and folds (``shapekit.temper.selection``, as
training does), the CNN baseline on the same folds, TopTemp+CNN (probability average), and
optionally the robustness table (train clean, test perturbed; per fold).  Everything runs through
the shipped pieces: the preset feature pipeline, ``ScanTiles`` + ``ScanClassifier``.

Usage (from the repository root; the CPU is shared, so be nice)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/toptemp_uhcs.py data_manifests/uhcs3.yaml \
        --tile-size 256 --scales 1,2,4 --models svm,logreg,xgboost [--cnn] [--robustness]
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/toptemp_uhcs.py \
        data_manifests/superalloy_aging.yaml --tile-size 256 --scales 1,2,4 --folds 7 \
        [--brightness-normalise]

The robust preset is ``--smooth 1.0 --min-persistence 0.25 --restandardize --augment 2
--aug-max-blur 3``.  Features are cached under ``--cache`` (default
/tmp/shapekit_toptemp_cache), keyed by the parameters and the image list.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapekit.io import load_manifest  # noqa: E402
from shapekit.temper.classifier import TopTempClassifier  # noqa: E402
from shapekit.temper.pooling import ScanClassifier, ScanTiles  # noqa: E402
from shapekit.temper.presets import feature_params, toptemp_features  # noqa: E402
from shapekit.temper.scans import read_manifest_images, scan_features  # noqa: E402
from shapekit.temper.selection import cv_table, scan_splitter, scores, select_model  # noqa: E402


def _features(images, names, tile, params, cache: Path, tag: str) -> list[np.ndarray]:
    key = hashlib.sha1(json.dumps([tile, params, [str(n) for n in names], tag, 2]).encode()).hexdigest()[:16]
    f = cache / f"feat_{key}.npz"
    if f.exists():
        z = np.load(f)
        return np.split(z["X"], np.cumsum(z["n"])[:-1])
    t = time.time()
    X = scan_features(images, tile, toptemp_features(params))
    print(f"# featurized {len(images)} scans ({sum(map(len, X))} tiles) in {time.time() - t:.1f} s",
          file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, X=np.concatenate(X), n=np.array([len(x) for x in X]))
    return X


def brightness_normalise(img: np.ndarray) -> np.ndarray:
    """Match mean and std of an image to 0.5 / 0.15 (removes the global brightness cue)."""
    sd = float(img.std()) or 1.0
    return np.clip((img - img.mean()) / sd * 0.15 + 0.5, 0, 1).astype(np.float32)


def _oof(est, scans, y, folds, test_scans=None) -> np.ndarray:
    """Out-of-fold scan probabilities; ``test_scans`` (same order) replace the held-out scans."""
    from sklearn.base import clone

    test_scans = scans if test_scans is None else test_scans
    out = None
    for tr, te in folds:
        m = clone(est).fit([scans[i] for i in tr], y[tr])
        p = m.predict_proba([test_scans[i] for i in te])
        out = np.full((len(y), p.shape[1]), np.nan) if out is None else out
        out[te] = p
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("--tile-size", type=int, default=256, help="0: whole image as one tile")
    ap.add_argument("--scales", default="1,2,4")
    ap.add_argument("--smooth", type=float, default=0.0)
    ap.add_argument("--min-persistence", type=float, default=0.0)
    ap.add_argument("--restandardize", action="store_true", help="z-score again at every scale")
    ap.add_argument("--models", default="svm,logreg,xgboost")
    ap.add_argument("--aggregations", default="features,proba")
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cnn", action="store_true", help="also the CNN baseline and TopTemp+CNN")
    ap.add_argument("--cnn-epochs", type=int, default=15)
    ap.add_argument("--cnn-width", type=int, default=8)
    ap.add_argument("--cnn-input-scale", type=int, default=4, help="tile downsampling for the CNN")
    ap.add_argument("--brightness-normalise", action="store_true")
    ap.add_argument("--robustness", action="store_true", help="perturbed test folds (best model)")
    ap.add_argument("--augment", type=int, default=0,
                    help="degraded training copies per scan (blur/noise/JPEG at random strengths)")
    ap.add_argument("--aug-max-blur", type=float, default=2.0)
    ap.add_argument("--aug-max-noise", type=float, default=0.1)
    ap.add_argument("--perturbations", default="", help="comma list (default: all)")
    ap.add_argument("--subset", type=int, default=0, help="use only the first N scans per class")
    ap.add_argument("--cache", default="/tmp/shapekit_toptemp_cache")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()

    man = load_manifest(a.manifest)
    names = man.label_names
    y = np.asarray([str(v) for v in man.labels])
    keep = np.arange(len(y))
    if a.subset:
        keep = np.concatenate([np.flatnonzero(y == k)[:a.subset] for k in names])
    man = man.subset(keep)
    y = y[keep]
    groups = None if man.groups is None else np.asarray([str(g) for g in man.groups])
    images = read_manifest_images(man)
    if a.brightness_normalise:
        images = [brightness_normalise(im) for im in images]
    tile = a.tile_size or None
    params = feature_params("accurate", scales=[int(s) for s in a.scales.split(",")],
                            smooth=a.smooth, min_persistence=a.min_persistence,
                            restandardize=a.restandardize)
    cache = Path(a.cache)
    X = _features(images, man.paths, tile, params, cache, f"bn={a.brightness_normalise}")
    copies: list[list[np.ndarray]] = [[] for _ in images]
    if a.augment:
        from shapekit.temper.robustness import augmented_copies

        imgs_a, aug_scan, aug_copy = augmented_copies(images, a.augment, seed=a.seed + 1,
                                                      max_blur=a.aug_max_blur, max_noise=a.aug_max_noise)
        Xa = _features(imgs_a, [f"{p}#{c}" for p, c in zip(np.asarray(man.paths)[aug_scan], aug_copy)],
                       tile, params, cache,
                       f"bn={a.brightness_normalise}/aug/{a.aug_max_blur}/{a.aug_max_noise}")
        for i, xa in zip(aug_scan, Xa):
            copies[i].append(xa)
    scans = [ScanTiles(x, tuple(c), None if groups is None else groups[i])
             for i, (x, c) in enumerate(zip(X, copies))]
    splitter = scan_splitter(y, groups, a.folds, a.seed)
    folds = list(splitter.split(y, y, groups))
    print(f"# {man.name}: {len(y)} scans, {sum(map(len, X))} tiles, {X[0].shape[1]} features, "
          f"{len(folds)} folds ({type(splitter).__name__}), tile={tile}, params={params}, "
          f"brightness_normalised={a.brightness_normalise}, augment={a.augment}")
    results: dict = {"manifest": a.manifest, "tile_size": tile, "params": params, "augment": a.augment,
                     "aug_max_blur": a.aug_max_blur, "aug_max_noise": a.aug_max_noise,
                     "splitter": type(splitter).__name__, "cv": {}}
    probas = {}
    models, aggs = a.models.split(","), a.aggregations.split(",")
    for model in models:
        for agg in aggs:
            t = time.time()
            est = ScanClassifier(TopTempClassifier(model, C=a.C, random_state=a.seed), agg)
            p = _oof(est, scans, y, folds)
            s = scores(y, p, names)
            probas[(model, agg)] = p
            results["cv"][f"toptemp+{model}/{agg}"] = s
            print(f"toptemp+{model:8s} {agg:9s} acc={s['accuracy']:.4f} macroF1={s['macro_f1']:.4f} "
                  f"({time.time() - t:.1f} s) confusion={s['confusion']}", flush=True)
    t = time.time()
    gs = select_model(scans, y, {"estimator__model": models, "aggregation": aggs},
                      ScanClassifier(TopTempClassifier(C=a.C, random_state=a.seed)), groups, folds)
    best_params = {k: v for k, v in gs.best_params_.items()}
    results["grid_search"] = {"best_params": best_params, "table": cv_table(gs)}
    print(f"GridSearchCV ({time.time() - t:.1f} s) picks {best_params}: mean fold accuracy "
          f"{gs.cv_results_['mean_test_accuracy'][gs.best_index_]:.4f}", flush=True)
    best = max(probas, key=lambda k: scores(y, probas[k], names)["accuracy"])
    if a.cnn:
        from shapekit.temper.cnn_cv import cv_cnn

        t = time.time()
        yi = np.array([names.index(v) for v in y])
        pc = cv_cnn(images, yi, folds, tile_size=tile or 256, input_scale=a.cnn_input_scale,
                    epochs=a.cnn_epochs, width=a.cnn_width, seed=a.seed)
        np.save(cache / f"cnn_oof_{len(y)}_{a.cnn_width}_{a.cnn_input_scale}_{a.cnn_epochs}.npy", pc)
        s = scores(y, pc, names)
        results["cv"]["cnn"] = s
        print(f"cnn                        acc={s['accuracy']:.4f} macroF1={s['macro_f1']:.4f} "
              f"({time.time() - t:.1f} s) confusion={s['confusion']}", flush=True)
        s = scores(y, 0.5 * (probas[best] + pc), names)
        results["cv"][f"toptemp+{best[0]}/{best[1]}+cnn"] = s
        print(f"toptemp+{best[0]}+cnn (mean proba) acc={s['accuracy']:.4f} macroF1={s['macro_f1']:.4f}")
    if a.robustness:
        from shapekit.temper.robustness import PERTURBATIONS, perturb

        est = ScanClassifier(TopTempClassifier(best[0], C=a.C, random_state=a.seed), best[1])
        rob = {"clean": scores(y, probas[best], names)["accuracy"]}
        for name in (a.perturbations.split(",") if a.perturbations else PERTURBATIONS):
            pimgs = [perturb(im, name, seed=i) for i, im in enumerate(images)]
            Xp = _features(pimgs, man.paths, tile, params, cache, f"bn={a.brightness_normalise}/{name}")
            p = _oof(est, scans, y, folds, [ScanTiles(x) for x in Xp])
            rob[name] = scores(y, p, names)["accuracy"]
            print(f"robustness {best[0]}/{best[1]} {name:16s} acc={rob[name]:.4f} "
                  f"drop={rob['clean'] - rob[name]:+.4f}", flush=True)
        results["robustness"] = rob
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
