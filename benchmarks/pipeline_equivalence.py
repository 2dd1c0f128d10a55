"""The featurisation pipeline against the code it replaced: features, model directories, realism.

Exports shapekit as it was before the scikit-learn pipeline refactor (``--rev``, default the last
commit before issue 13) with ``git archive``, runs it in a subprocess on uhcs3 scans, tiles and
random images, and compares what the current code gives for the same inputs:

* the tile features of both shipped presets (``robust``, ``accurate``): tiles of real scans,
  random tiles (incl. a constant and an 8-level one), every covering tile of 42 uhcs3 scans plus
  3 random scans, and one whole scan;
* format-1 model directories the old code trains (SVM on both presets, logreg, XGBoost): the
  current loader's probabilities on held-out scans;
* the realism evaluator's per-image features (old names mapped onto the new scheme) and one
  ``score`` (20 bootstrap / permutation rounds).

Usage (from the repository root; minutes on a busy machine)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/pipeline_equivalence.py [--rev f157b88]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OLD = textwrap.dedent('''
    import json, sys, warnings
    from pathlib import Path
    import numpy as np
    from scipy.ndimage import gaussian_filter
    from shapekit.io import load_manifest
    from shapekit.temper.ingest import features_for_images, read_manifest_images
    from shapekit.temper.features import tiles_features
    from shapekit.temper.train import PRESETS, train_on_images
    from shapekit.temper.modeldir import load_model
    from shapekit.realism.summaries import image_features
    from shapekit.realism import score
    out = Path(sys.argv[1]); manifest = sys.argv[2]
    man = load_manifest(manifest)
    y = np.array([man.label_names.index(v) for v in man.labels])
    idx = np.concatenate([np.flatnonzero(y == k)[:14] for k in range(3)])
    man, y = man.subset(idx), y[idx]
    images = read_manifest_images(man)
    rng = np.random.default_rng(123)
    tiles = [rng.random((256, 256)).astype(np.float32),
             gaussian_filter(rng.random((256, 256)), 1.5).astype(np.float32),
             np.full((256, 256), 0.4, np.float32),
             (np.round(rng.random((256, 256)) * 8) / 8).astype(np.float32),
             rng.random((64, 96)).astype(np.float32)]
    tiles += [np.ascontiguousarray(im[100:356, 200:456]) for im in images[::4]]
    scans = [rng.random((300, 700)).astype(np.float32),
             gaussian_filter(rng.random((512, 512)), 1.0).astype(np.float32)]
    rimgs = [im[:200, :240] for im in images[:12]] + [rng.random((64, 80)).astype(np.float32)]
    np.savez(out / "inputs.npz", n=np.array([len(tiles), len(scans)]), idx=idx,
             **{f"im{i}": x for i, x in enumerate(tiles + scans + rimgs)})
    res = {}
    for preset in ("robust", "accurate"):
        p = PRESETS[preset]["feature_params"]
        res[preset + "_tiles"] = np.stack([tiles_features([t], **p)[0] for t in tiles])
        res[preset + "_scans"] = features_for_images(images + scans, 256, p)[0]
        res[preset + "_whole"] = features_for_images(scans[:1], None, p)[0]
    train = np.concatenate([np.flatnonzero(y == k)[:10] for k in range(3)])
    test = [images[i] for i in range(len(y)) if i not in set(train)] + scans
    labels = [man.label_names[k] for k in y]
    for preset, model in (("robust", "svm"), ("accurate", "svm"), ("accurate", "logreg"),
                          ("robust", "xgboost")):
        d = out / f"model_{preset}_{model}"
        train_on_images([images[i] for i in train], [labels[i] for i in train], d, model=model,
                        preset=preset, seed=0)
        res[f"proba_{preset}_{model}"] = load_model(d).predict_proba(test)
    fs = image_features(rimgs)
    res["realism_summaries"] = fs.summaries
    res["realism_betti"] = fs.betti
    json.dump(fs.names, open(out / "realism_names.json", "w"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = score(rimgs[:6], rimgs[6:12], n_boot=20, n_perm=20, seed=0)
    res["realism_score"] = np.array([r["topological_distance"], r["p_value"]])
    np.savez(out / "old.npz", **res)
''')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", default="f157b88", help="commit of the code before the refactor")
    ap.add_argument("--manifest", default=str(REPO / "data_manifests" / "uhcs3.yaml"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import warnings

    from shapekit.io import load_manifest
    from shapekit.realism import score
    from shapekit.realism.summaries import image_features
    from shapekit.temper.modeldir import load_model
    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.temper.scans import read_manifest_images, scan_features

    work = Path(tempfile.mkdtemp(prefix="pipeline_equivalence_"))
    old_tree = work / "old"
    old_tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", a.rev, "shapekit"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
    (work / "old.py").write_text(OLD)
    subprocess.run([sys.executable, str(work / "old.py"), str(work), a.manifest], check=True,
                   env={**__import__("os").environ, "PYTHONPATH": str(old_tree),
                        "SHAPEKIT_PROGRESS": "0"}, cwd=str(REPO))
    old = np.load(work / "old.npz")
    inp = np.load(work / "inputs.npz")
    allin = [inp[f"im{i}"] for i in range(len(inp.files) - 2)]
    nt, ns = (int(v) for v in inp["n"])
    tiles, scans, rimgs = allin[:nt], allin[nt:nt + ns], allin[nt + ns:]
    man = load_manifest(a.manifest).subset(inp["idx"])
    images = read_manifest_images(man)
    rows = {}
    for preset in ("robust", "accurate"):
        pipe = toptemp_features(feature_params(preset))
        new = {"tiles": np.stack([pipe.fit_transform([t])[0] for t in tiles]),
               "scans": np.concatenate(scan_features(images + scans, 256, pipe)),
               "whole": np.concatenate(scan_features(scans[:1], None, pipe))}
        for k, v in new.items():
            rows[f"features {preset} {k} {v.shape}"] = float(np.abs(v - old[f"{preset}_{k}"]).max())
    y = np.array([man.label_names.index(v) for v in man.labels])
    train = set(np.concatenate([np.flatnonzero(y == k)[:10] for k in range(3)]).tolist())
    test = [images[i] for i in range(len(y)) if i not in train] + scans
    for name in ("robust_svm", "accurate_svm", "accurate_logreg", "robust_xgboost"):
        p = load_model(work / f"model_{name}").predict_proba(test)
        rows[f"format-1 model {name} probabilities ({len(test)} scans)"] = \
            float(np.abs(p - old[f"proba_{name}"]).max())
    fs = image_features(rimgs)
    names_old = json.loads((work / "realism_names.json").read_text())
    m = {"sub": "sublevel", "sup": "superlevel"}
    assert [f"s1_{m[n[:3]]}_h{n[5]}_{n.split('.', 1)[1]}" for n in names_old] == fs.names
    s_old = old["realism_summaries"]
    rows["realism summaries (max relative)"] = float(np.max(np.abs(fs.summaries - s_old)
                                                           / (np.abs(s_old) + 1e-12)))
    rows["realism Betti curves"] = float(np.abs(fs.betti - old["realism_betti"]).max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = score(rimgs[:6], rimgs[6:12], n_boot=20, n_perm=20, seed=0)
    rows["realism score: topological distance, p-value"] = float(np.abs(
        np.array([r["topological_distance"], r["p_value"]]) - old["realism_score"]).max())
    for k, v in rows.items():
        print(f"{k:60s} max |difference| {v:.3g}")
    if a.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
