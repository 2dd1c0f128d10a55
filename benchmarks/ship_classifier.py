"""Ship a trained temper model as package data (``shapekit/pretrained/<name>/``) with its model cards.

Three stages, run from the repository root (the CPU is shared, so be nice)::

    # 1. train (the command the card records), then copy the model files into the package;
    #    the SVM's support vectors are stored as float32 (half the size; probabilities change by
    #    < 1e-6, checked here on 48 scans)
    shapekit train-classifier data_manifests/uhcs3.yaml --out /tmp/uhcs3-model --seed 0 --jobs 2
    python benchmarks/ship_classifier.py copy /tmp/uhcs3-model --name uhcs3
    #    (copy also runs the stage `scale-range`: the pixel-size range the outside check compares
    #    a scan's with, from the UHCS database's metadata, since the uhcs3 files carry none; and
    #    `noise-range`: the least structured training scan's structure share, for the noise part;
    #    and, for a run trained before training stored them, `fingerprints`: the digests of the
    #    training scans' pixels, by which evaluate/robustness count a manifest's training scans)
    # 2. measure on the shipped files: verdicts on the 5 UHCS originals, the outside check on
    #    foreign and perturbed scans, speed, size (~10 min on 2 busy cores)
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ship_classifier.py measure --name uhcs3 --json /tmp/uhcs3-figures.json
    # 3. write card.json (validated by shapekit.registry.check_card) and README.md, with the
    #    out-of-fold false alarms of benchmarks/ood_uhcs.py evaluate
    python benchmarks/ship_classifier.py card --name uhcs3 --figures /tmp/uhcs3-figures.json --cv-ood /tmp/ood.json
    #    (without --cv-ood: the existing card's out-of-fold false alarms and speed are kept)
    # (speed alone, on an idle CPU: re-time the originals on the shipped files and update the
    #  card's seconds_per_original, the rest unchanged)
    OMP_NUM_THREADS=1 python benchmarks/ship_classifier.py speed --name uhcs3

The robustness table and the out-of-fold false-alarm rates are those of the same recipe under
cross-validation (RESULTS.md section 1, ``benchmarks/toptemp_uhcs.py`` and
``benchmarks/ood_uhcs.py``): a model cannot be tested on the scans it was trained on.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PRETRAINED = ROOT / "shapekit" / "pretrained"
DATA = ROOT.parent / "shared" / "data"
MODEL_FILES = ("config.json", "classifier.safetensors", "outside.safetensors")

#: what RESULTS.md section 1 measured for this recipe under 5-fold CV (robust preset, SVM on tile
#: probabilities, seed 0): accuracy drop in points per perturbation, and the outside check's
#: false alarms on held-out folds (benchmarks/ood_uhcs.py evaluate)
CV_ROBUSTNESS = {"noise_0.02": 0.0, "noise_0.05": -0.4, "noise_0.1": 0.9, "blur_1": 1.3, "blur_2": 3.8,
                 "contrast_x0.8": 0.0, "contrast_x1.2": 1.1, "brightness_+0.1": 0.7,
                 "brightness_-0.1": 0.0, "rot90": -0.2, "jpeg_q30": -0.2}
UHCS = {
    "summary": "Temper (primary microconstituent) of ultrahigh-carbon steel SEM scans: carbide "
               "network, pearlite or spheroidite; robust TopTemp features + calibrated RBF SVM, "
               "with an outside-the-training-data check and 95 % prediction sets",
    "data": "uhcs3: 450 SEM micrographs of ultrahigh-carbon steel (150 per class), 645x475 8-bit, "
            "info bar cropped; pixel sizes not given (magnifications ~50x-25000x, chosen per "
            "class by the original authors)",
    "licence": "CC BY 3.0 US (the UHCS micrographs, NIST hdl 11256/940): the weights are derived "
               "from them; credit the data as cited",
    "citation": "Hecht, DeCost, Holm et al., Ultrahigh Carbon Steel Micrographs, NIST materials "
                "data repository, hdl 11256/940; DeCost, Francis, Holm, Integr. Mater. Manuf. "
                "Innov. 6:197 (2017); 3-class subset: M. White et al., "
                "microstructural-fingerprinting-tools (BSD-3)",
}


#: uhcs3's class names -> the UHCS database's ``primary_microconstituent``
DATABASE_CLASSES = {"carbide_network": "network", "pearlite": "pearlite", "spheroidite": "spheroidite"}
RANGE_SOURCE = ("UHCS database metadata (uhcs_public961.csv): the smallest and largest pixel size of "
                "its micrographs of the model's three classes; uhcs3 was drawn from them, so every "
                "training scan lies inside (its own files carry no pixel size)")


def database_range(labels: list[str]) -> list[float]:
    """``[lo, hi]`` um/px of the UHCS database's micrographs of these classes.

    The uhcs3 files cannot be joined to the database one by one (their numbers do not match its
    ids), but every uhcs3 scan is one of its micrographs of that class, so its pixel size lies
    in this range: a scan beyond it is beyond every training scan.
    """
    import csv

    want = {DATABASE_CLASSES[str(k)] for k in labels}
    ump = [float(r["um_per_px"]) for r in csv.DictReader(open(DATA / "uhcs_metadata" / "uhcs_public961.csv"))
           if r["primary_microconstituent"] in want and r["um_per_px"]]
    return [min(ump), max(ump)]


def scale_range(name: str) -> None:
    """Store :func:`database_range` in the shipped model's config.json (``training_um_per_px``)."""
    from shapekit import _atomic

    path = PRETRAINED / name / "config.json"
    cfg = json.loads(path.read_text())
    cfg["training_um_per_px"] = database_range(cfg["label_names"])
    cfg["training_um_per_px_source"] = RANGE_SOURCE
    _atomic.write_json(path, cfg)
    lo, hi = cfg["training_um_per_px"]
    print(f"{path}: training_um_per_px [{lo:.4g}, {hi:.4g}] from the UHCS database")


def noise_range(name: str) -> None:
    """Store the least structured training scan's structure share in the shipped model's outside
    check (``structure_share_min``, :func:`shapekit.temper.outside.structure_share`), as training
    stores it since the noise part was added: the scans as the classifier was trained on them."""
    from shapekit import _atomic
    from shapekit.io import load_manifest
    from shapekit.temper.outside import structure_share
    from shapekit.temper.scans import read_manifest_images

    path = PRETRAINED / name / "config.json"
    cfg = json.loads(path.read_text())
    man = load_manifest(ROOT / "data_manifests" / "uhcs3.yaml")
    shares = [structure_share(im) for im in read_manifest_images(man, cfg.get("target_um_per_px"))]
    cfg["outside"]["structure_share_min"] = float(np.nanmin(shares))
    _atomic.write_json(path, cfg)
    print(f"{path}: structure_share_min {np.nanmin(shares):.4f} over {len(shares)} training scans "
          f"(median {np.nanmedian(shares):.3f})")


def fingerprints(name: str) -> None:
    """Store the digests of the training scans' pixels in the shipped model's config.json
    (``training_fingerprints``, :func:`shapekit.io.image_digests`), as training
    stores them since they were added: ``evaluate`` and ``robustness`` then count a manifest's
    training scans whatever their names."""
    from shapekit import _atomic
    from shapekit.io import image_digests, load_manifest
    from shapekit.temper.scans import read_manifest_images

    path = PRETRAINED / name / "config.json"
    cfg = json.loads(path.read_text())
    man = load_manifest(ROOT / "data_manifests" / "uhcs3.yaml")
    fps = sorted(set(image_digests(read_manifest_images(man, cfg.get("target_um_per_px")))))
    if len(fps) != cfg["n_train"]:
        raise SystemExit(f"{len(fps)} distinct digests for {cfg['n_train']} training scans")
    cfg["training_fingerprints"] = fps
    _atomic.write_json(path, cfg)
    print(f"{path}: training_fingerprints of {len(fps)} training scans")
    card_path = path.parent / "card.json"
    if card_path.is_file():  # the card states the files' sizes: config.json's changed
        c = json.loads(card_path.read_text())
        c["figures"]["files"] = {f: (path.parent / f).stat().st_size for f in MODEL_FILES}
        _atomic.write_json(card_path, c)
        _atomic.write_text(path.parent / "README.md", _readme(c, cfg))
        print(f"{card_path}: file sizes updated")


def white_noise(n: int, shape: tuple[int, int] = (484, 645)) -> tuple[list, list]:
    """``n`` uniform and ``n`` Gaussian (sd 0.15 around 0.5) white-noise scans, 8-bit grey levels,
    seeds 0..n-1: scans of nothing that the noise part must flag."""
    uni, gau = [], []
    for s in range(n):
        r = np.random.default_rng(s)
        uni.append((np.round(r.random(shape) * 255) / 255).astype(np.float32))
        gau.append((np.round(np.clip(0.5 + 0.15 * r.standard_normal(shape), 0, 1) * 255) / 255).astype(np.float32))
    return uni, gau


def copy(run: Path, name: str) -> None:
    """Copy the model files into the package, SVM support vectors as float32 (checked)."""
    from shapekit.temper.modeldir import load_arrays, load_model, save_arrays

    dest = PRETRAINED / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        shutil.copyfile(run / f, dest / f)
    arrays = load_arrays(dest / "classifier.safetensors")
    if "core.sv" in arrays:
        arrays["core.sv"] = arrays["core.sv"].astype(np.float32)
        save_arrays(dest / "classifier.safetensors", arrays)
    from shapekit.io import load_manifest
    from shapekit.temper.scans import read_manifest_images

    man = load_manifest(ROOT / "data_manifests" / "uhcs3.yaml")
    images = read_manifest_images(man.subset(np.arange(0, len(man), len(man) // 48)[:48]))
    a, b = load_model(run).predict_proba(images), load_model(dest).predict_proba(images)
    diff = float(np.abs(a - b).max())
    print(f"copied {run} -> {dest}; float32 support vectors change probabilities by <= {diff:.1e}")
    if diff > 1e-5:
        raise SystemExit("float32 support vectors changed the probabilities by more than 1e-5")
    scale_range(name)
    noise_range(name)
    if "training_fingerprints" not in json.loads((dest / "config.json").read_text()):
        fingerprints(name)   # a run trained before training stored them


def _verdicts(model, images) -> list[dict]:
    return [model.assess(np.asarray(im, np.float32)) for im in images]


def _share(res: list[dict]) -> dict:
    flagged = sum(not r["in_distribution"] for r in res)
    return {"flagged": flagged, "n": len(res), "share": round(flagged / max(len(res), 1), 3)}


def measure(name: str, speed_only: bool = False) -> dict:
    """Figures of the shipped files (see the module docstring)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import ood_uhcs as B

    from shapekit.io import load_manifest
    from shapekit.temper.modeldir import load_model
    from shapekit.temper.robustness import PERTURBATIONS, apply_perturbation
    from shapekit.temper.scans import read_manifest_images

    d = PRETRAINED / name          # the shipped files (no card yet on the first pass)
    model = load_model(d)
    # the model files only: the cards are rewritten after this (their sizes would be stale)
    out: dict = {"files": {f: (d / f).stat().st_size for f in MODEL_FILES}}
    originals = sorted((DATA / "uhcs_originals").glob("*.tif"))
    t = time.perf_counter()
    res = model.classify([str(p) for p in originals])
    out["seconds_per_original"] = round((time.perf_counter() - t) / len(originals), 3)
    if speed_only:
        return out
    import csv

    truth = {r["file"]: r["primary_microconstituent"]
             for r in csv.DictReader(open(DATA / "uhcs_originals" / "labels.csv"))}
    out["uhcs_originals"] = [{"image": Path(r["image"]).name, "catalogued": truth[Path(r["image"]).name],
                              "temper": r["temper"],
                              "probabilities": {k: round(v, 3) for k, v in r["probabilities"].items()},
                              "prediction_set": r["prediction_set"], "ood_score": round(r["ood_score"], 3),
                              "um_per_px": r["scan"]["um_per_px"], "um_per_px_source": r["scan"]["um_per_px_source"]}
                             for r in res]
    man = load_manifest(ROOT / "data_manifests" / "uhcs3.yaml")
    images = read_manifest_images(man)
    labels = np.asarray([str(x) for x in man.labels])
    sub = np.random.default_rng(5).choice(len(images), 150, replace=False)
    foreign: dict = {}
    alloy = sorted((DATA / "superalloy_aging" / "images").glob("*.tif"))
    res = model.classify([str(p) for p in alloy])
    foreign["superalloy_all"] = _share(res)
    foreign["superalloy_other_alloys_design"] = _share(res[:5])
    foreign["superalloy_spot_series_heldout"] = _share(res[5:])
    from shapekit.synth.dataset import synthesize

    sim = synthesize(60, seed=1, size=512, keep_images=True)
    foreign["simulator_seed1"] = _share(_verdicts(model, sim.images))
    blank, sat = B.blank_and_saturated(images, 20, 1)
    foreign["blank_seed1"] = _share(_verdicts(model, blank))
    foreign["saturated_seed1"] = _share(_verdicts(model, sat))
    uni, gau = white_noise(20)
    foreign["white_noise_uniform"] = _share(_verdicts(model, uni))
    foreign["white_noise_gaussian"] = _share(_verdicts(model, gau))
    mos, _ = B.mosaics(images, labels, 4, 1)
    foreign["uhcs3_mag_down4"] = _share(_verdicts(model, mos))
    foreign["uhcs3_mag_up4"] = _share(_verdicts(model, [B.zoomed(images[i], 4) for i in sub]))
    out["outside_check_foreign"] = foreign
    # the magnification part: the same scans, stated 4x beyond the pixel-size range (a range
    # check: right by construction when the stated sizes are right), and inside it
    lo, hi = model.config["training_um_per_px"]
    scale = {}
    for key, ump in (("stated_4x_coarser_than_range", 4 * hi), ("stated_4x_finer_than_range", lo / 4),
                     ("stated_inside_range", float(np.sqrt(lo * hi)))):
        scale[key] = _share(model.classify([images[i] for i in sub[:50]], um_per_px=ump))
    out["outside_check_magnification"] = {"training_um_per_px": [lo, hi], **scale}
    # perturbed training scans (in-sample: the check was fitted on their clean versions)
    pert = {}
    for pname in ("noise_0.1", "blur_2", "jpeg_q30"):
        kind, value = PERTURBATIONS[pname]
        pert[pname] = _share(_verdicts(model, [apply_perturbation(images[i], kind, value, int(i)) for i in sub]))
    pert["clean"] = _share(_verdicts(model, [images[i] for i in sub]))
    out["outside_check_training_scans_in_sample"] = pert
    return out


def _readme(card: dict, cfg: dict) -> str:
    f = card["figures"]
    cv = f["cv"]
    rob = " | ".join(f"{k} {v:+.1f}" for k, v in f["cv_robustness_drop_points"].items())
    orig = "\n".join(f"| {r['image']} | {r['catalogued']} | **{r['temper']}** | "
                     + ", ".join(f"{k} {v:.2f}" for k, v in r["probabilities"].items())
                     + f" | {{{', '.join(r['prediction_set'])}}} | {r['ood_score']:.2f} |"
                     for r in f["uhcs_originals"])
    fo = f["outside_check_foreign"]
    foreign = "\n".join(f"| {k} | {v['flagged']}/{v['n']} ({100 * v['share']:.0f} %) |" for k, v in fo.items())
    mag = "\n".join(f"| uhcs3 scans, pixel size {k.replace('stated_', 'given as ').replace('_', ' ')} | "
                    f"{v['flagged']}/{v['n']} ({100 * v['share']:.0f} %) |"
                    for k, v in f["outside_check_magnification"].items() if k != "training_um_per_px")
    return f"""# {card['name']}

{card['summary']}.

`shapekit classify {card['name']} scan.tif` (also `evaluate`, `robustness`, `explain`, `serve`, and
`shapekit.temper.load_model("{card['name']}")`): nothing to train, nothing downloaded.

- **Data:** {card['data']}
- **Licence:** {card['licence']}
- **Cite:** {card['citation']}
- **Recipe:** preset `{cfg['preset']}` (TopTemp cubical persistence at scales {cfg['feature_params']['scales']},
  1 px Gaussian per scale, re-z-scored, pairs of persistence <= {cfg['feature_params']['min_persistence']}
  dropped, {cfg['augment']} degraded copies of every training scan), RBF SVM (C = 10) with
  temperature-scaled probabilities, tile -> scan aggregation `{cfg['aggregation']}` chosen by
  5-fold CV; the support vectors are stored as float32.
- **Scale and tiles:** the training scans have no pixel size, so scans are classified at their own
  pixel scale, in covering tiles of {cfg['tile_size']} px (the last row and column of tiles
  overlap); give scans of a magnification like the training data's (about 0.04-0.2 um/px for
  spheroidite and pearlite, 2-4 um/px for carbide networks in the source database).
- **Magnification check:** the UHCS database's micrographs of these three classes span
  {cfg['training_um_per_px'][0]:.2g}-{cfg['training_um_per_px'][1]:.2g} um/px, and every uhcs3 scan is one
  of them; a scan whose pixel size (file metadata, scale bar or `--um-per-px`) lies more than
  2x beyond that range is `"unknown"` with a magnification note. The range is wide (the database
  mixes ~50x-25000x), so this catches only gross mismatches; a scan without a known pixel size is
  not checked, and its verdict says so.
- **Outside the training data:** a Mahalanobis check of the scan's mean TopTemp features and of 9
  grey-level and spectrum descriptors (threshold: 99 % of held-out training scans pass), and APS
  prediction sets at 95 % coverage calibrated on out-of-fold probabilities; `temper` is `"unknown"`
  when the scan fails the check. A third part flags scans that are mostly pixel noise: under half
  the least structured training scan's share ({100 * cfg['outside']['structure_share_min']:.0f} %) of
  grey-level variance above the 2-px scale (white noise: 6 %).
- **Trained:** seed {card['seed']}, {f['training']['wall_s']:.0f} s wall / {f['training']['cpu_s']:.0f} s CPU on {card['hardware']}
- **Reproduce:** `{card['training_command']}` (from the repository root; `copy` stores the
  support vectors as float32, the magnification check's pixel-size range and the noise part's minimum)
- **Created:** {card['created']}

## Cross-validated figures (this recipe, 5-fold, seed 0)

Accuracy {cv['accuracy']:.4f}, macro-F1 {cv['macro_f1']:.4f} (mean over folds; uhcs3 has no
sample ids, so folds cannot be grouped by physical sample and these are optimistic).
Accuracy drop under perturbation (points): {rob}.
Outside check, scans flagged on held-out folds (5-fold, two fold seeds; clean, then the held-out
scans perturbed): {"; ".join(", ".join(f"{k} {v}" for k, v in r.items()) for r in f["cv_false_alarms"].values())}.

## Measured on these files

Verdicts on the 5 UHCS originals (raw microscope TIFFs with their info bars; the catalogue
gives the primary microconstituent, sometimes a mix):

| scan | catalogued | verdict | probabilities | 95 % set | ood score |
|---|---|---|---|---|---|
{orig}

Scans flagged "outside the training data" (none of these scans has a pixel size, except in the last three
rows; `mag_down4`/`mag_up4` are uhcs3 scans 4x demagnified/magnified, which only a pixel size
can reveal):

| set | flagged |
|---|---|
{foreign}
{mag}

Files: {', '.join(f"{k} {v / 1e6:.2f} MB" for k, v in f['files'].items() if k in MODEL_FILES)}; classify
{f['seconds_per_original']:.2f} s per 645x522 original on 1 thread. Commands and the full tables:
RESULTS.md, section 1.
"""


def _cv_false_alarms(path: Path) -> dict:
    """The shipped check's out-of-fold false alarms (``ood_uhcs.py evaluate``, descriptors "mid")."""
    rows = [r for r in json.loads(path.read_text())["ood"] if r["descriptors"] == "mid"]
    if not rows:
        raise SystemExit(f"{path}: no rows of the shipped check (descriptors 'mid')")
    return {f"cv_seed_{i}": {k: f"{v[0]}/{v[1]}" for k, v in r["false_alarm"].items()}
            for i, r in enumerate(rows)}


def card(name: str, figures: Path, cv_ood: Path | None, hardware: str) -> None:
    """Write card.json and README.md from the measured figures. ``cv_ood`` None: keep the
    existing card's out-of-fold false alarms and its idle-CPU ``seconds_per_original`` (for a
    change that cannot move them, e.g. a part of the check that no held-out uhcs3 scan reaches)."""
    from shapekit import _atomic
    from shapekit.registry import check_card

    dest = PRETRAINED / name
    cfg = json.loads((dest / "config.json").read_text())
    meas = json.loads(figures.read_text())
    best = max(cfg["cv"]["table"], key=lambda r: r["accuracy"])
    if cv_ood is None:
        old = json.loads((dest / "card.json").read_text())["figures"]
        cv_fa, meas["seconds_per_original"] = old["cv_false_alarms"], old["seconds_per_original"]
    else:
        cv_fa = _cv_false_alarms(cv_ood)
    figs = {"cv": {"accuracy": best["accuracy"], "macro_f1": best["macro_f1"], "folds": cfg["cv"]["folds"],
                   "table": cfg["cv"]["table"]},
            "cv_robustness_drop_points": CV_ROBUSTNESS,
            "cv_false_alarms": cv_fa,
            "training": cfg["training"], **meas}
    c = {"name": name, "kind": "classifier", "summary": UHCS["summary"], "data": UHCS["data"],
         "licence": UHCS["licence"], "citation": UHCS["citation"],
         # both stages make the shipped files: copy adds float32 support vectors and the
         # magnification check's pixel-size range (training_um_per_px)
         "training_command": f"shapekit train-classifier data_manifests/uhcs3.yaml --out MODEL_DIR "
                             f"--seed {cfg['seed']} --jobs {cfg['training']['n_jobs']} && python "
                             f"benchmarks/ship_classifier.py copy MODEL_DIR --name {name}",
         "seed": int(cfg["seed"]), "iterations": 0, "hardware": hardware, "figures": figs,
         "um_per_px": cfg.get("target_um_per_px"), "created": _dt.date.today().isoformat(),
         "note": "iterations: 0 (an SVM has no training iterations); tiles of "
                 f"{cfg['tile_size']} px at the scan's own pixel scale"}
    check_card(c, "new card")
    _atomic.write_json(dest / "card.json", c)
    _atomic.write_text(dest / "README.md", _readme(c, cfg))
    print(f"wrote {dest / 'card.json'} and README.md")


def speed(name: str) -> None:
    """Re-time the originals (best of 3 passes after a warm-up) and update the card's figure."""
    from shapekit import _atomic

    dest = PRETRAINED / name
    c = json.loads((dest / "card.json").read_text())
    measure(name, speed_only=True)  # warm-up: imports, first-call costs
    best = min(measure(name, speed_only=True)["seconds_per_original"] for _ in range(3))
    c["figures"]["seconds_per_original"] = best
    _atomic.write_json(dest / "card.json", c)
    _atomic.write_text(dest / "README.md", _readme(c, json.loads((dest / "config.json").read_text())))
    print(f"{name}: {best:.3f} s per original; card.json and README.md updated")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=("copy", "scale-range", "noise-range", "fingerprints", "measure", "card", "speed"))
    p.add_argument("run", type=Path, nargs="?")
    p.add_argument("--name", default="uhcs3")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--figures", type=Path, default=None)
    p.add_argument("--cv-ood", type=Path, default=None)
    p.add_argument("--hardware", default=f"2 shared CPU cores ({platform.machine()}, no GPU), "
                                          "OMP_NUM_THREADS=1")
    a = p.parse_args(argv)
    if a.stage == "copy":
        copy(a.run, a.name)
    elif a.stage == "scale-range":
        scale_range(a.name)
    elif a.stage == "noise-range":
        noise_range(a.name)
    elif a.stage == "fingerprints":
        fingerprints(a.name)
    elif a.stage == "measure":
        res = measure(a.name)
        text = json.dumps(res, indent=1)
        print(text)
        if a.json:
            a.json.write_text(text)
    elif a.stage == "speed":
        speed(a.name)
    else:
        card(a.name, a.figures, a.cv_ood, a.hardware)


if __name__ == "__main__":
    main()
