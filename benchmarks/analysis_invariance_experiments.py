"""shapekit experiments for analysis part 2 (invariance, frequency, fibres, DNA) on UHCS + simulator.

Usage (the CPU is shared: run it niced, one thread)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analysis_invariance_experiments.py \
        --out /tmp/ana2 --parts cnn,toptemp,frequency,dna,fibres

Data: ``../shared/data/uhcs3`` (450 SEM micrographs, 3 microconstituent classes; Hecht, DeCost,
Holm et al., NIST hdl 11256/940, CC BY 3.0 US). Images are area-downsampled by 4 (645x475 ->
161x118) and cut into two 96x96 crops (left/right). One stratified split by *image* (2/3 train):
images of one physical sample can fall on both sides, so accuracies are optimistic (see the data
README). Writes ``results.json`` and PNG figures into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "uhcs3"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_uhcs(scale: int = 4, crop: int = 96, max_images: int | None = None):
    import cv2
    import pandas as pd

    from shapekit.io.readers import read_image

    table = pd.read_csv(DATA / "labels.csv")
    if max_images:
        table = table.groupby("label_name").head(max_images // 3)
    imgs, crops, labels = [], [], []
    for _, row in table.iterrows():
        img = read_image(DATA / "images" / row["file"])[0]
        small = cv2.resize(img, (img.shape[1] // scale, img.shape[0] // scale), interpolation=cv2.INTER_AREA)
        h, w = small.shape
        r0 = (h - crop) // 2
        imgs.append(small)
        crops.append(np.stack([small[r0:r0 + crop, :crop], small[r0:r0 + crop, w - crop:]]))
        labels.append(int(row["label_id"]))
    names = sorted(table["label_name"].unique())
    return imgs, np.stack(crops), np.asarray(labels), names


def split(labels: np.ndarray, seed: int = 0):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    return train_test_split(idx, test_size=1 / 3, stratify=labels, random_state=seed)


def tiles_of(crops: np.ndarray, labels: np.ndarray, idx: np.ndarray):
    x = crops[idx].reshape(-1, crops.shape[-2], crops.shape[-1])
    return x, np.repeat(labels[idx], crops.shape[1])


def part_cnn(ctx: dict, out: Path, res: dict) -> None:
    from shapekit.analysis.invariance import equivariance_deviation, prediction_flip_rate
    from shapekit.analysis.plots import plot_eed_layers
    from shapekit.temper.cnn_train import fit_tile_cnn

    xtr, ytr = tiles_of(ctx["crops"], ctx["labels"], ctx["train"])
    xte, yte = tiles_of(ctx["crops"], ctx["labels"], ctx["test"])
    t = time.time()
    net = fit_tile_cnn(xtr, ytr, 3, width=8, max_epochs=ctx["epochs"], batch_size=32, seed=0)
    acc = float((net(torch.from_numpy(xte[:, None])).argmax(1).numpy() == yte).mean())
    log(f"CNN baseline (SmallResNet w8, dihedral augmentation) test tile acc {acc:.3f} "
        f"({time.time() - t:.0f} s)")
    ctx["cnn"] = net
    x = torch.from_numpy(xte[:64, None])
    layers = ["stem", "stages.0", "stages.1", "stages.2"]
    scores, equi = {}, {}
    for g in ("rot90", "flips", "rotation"):
        r = equivariance_deviation(net, x, g, layers=layers)
        scores[g] = {k: round(v.score, 4) for k, v in r.items()}
        scores[g]["flip_rate"] = prediction_flip_rate(net, x, g)
        # hidden feature maps: equivariance (rho = the same transform of the map) is the fair test
        r = equivariance_deviation(net, x, g, layers=layers, equivariant=True)
        equi[g] = {k: round(v.score, 4) for k, v in r.items()}
    res["cnn"] = {"test_tile_accuracy": acc, "eed_invariance": scores, "eed_equivariance": equi}
    plot_eed_layers({"cnn": {g: {k: v for k, v in s.items() if k != "flip_rate"}
                             for g, s in scores.items()}}, out / "eed_cnn_layers.png",
                    "SmallResNet on UHCS: EED per layer")


def part_toptemp(ctx: dict, out: Path, res: dict) -> None:
    from shapekit.analysis.invariance import eed_from_features, group_transforms
    from shapekit.temper import train_on_images

    imgs, labels, names = ctx["imgs"], ctx["labels"], ctx["names"]
    t = time.time()
    model = train_on_images([imgs[i] for i in ctx["train"]], [names[labels[i]] for i in ctx["train"]],
                            model="logreg", tile_size=None, cv_folds=2, seed=0)
    model.save(out / "toptemp_model")
    test = ctx["test"][:ctx["n_toptemp"]]
    scans = [torch.from_numpy(np.ascontiguousarray(imgs[i]))[None, None] for i in test]

    def proba(s: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(model.predict_proba([s[0, 0].numpy()]), dtype=torch.float32)

    base = torch.cat([proba(s) for s in scans])
    acc = float((base.argmax(1).numpy() == np.asarray([model.label_names.index(names[labels[i]])
                                                      for i in test])).mean())
    log(f"TopTemp (logreg, whole downsampled scans) trained+scored in {time.time() - t:.0f} s, "
        f"test acc {acc:.3f} on {len(test)} scans")
    scores = {}
    for g in ("rot90", "flips", "rotation"):
        ts = group_transforms(g)
        moved = [torch.cat([proba(tr(s)) for s in scans]) for tr in ts]
        r = eed_from_features(base, moved, [None] * len(ts), [tr.name for tr in ts])
        flips = float(np.mean([float((m.argmax(1) != base.argmax(1)).float().mean()) for m in moved]))
        scores[g] = {"output": round(r.score, 4), "flip_rate": flips}
    res["toptemp"] = {"test_scan_accuracy": acc, "n_test_scans": len(test), "eed": scores}
    # the CNN at the same level (class probabilities of whole-scan crops) for a like-for-like row
    if "cnn" in ctx:
        from shapekit.analysis.invariance import equivariance_deviation

        x = torch.from_numpy(np.stack([ctx["crops"][i, 0] for i in test])[:, None])
        prob = lambda z: ctx["cnn"](z).softmax(1)  # noqa: E731
        res["cnn_proba_eed"] = {g: round(equivariance_deviation(prob, x, g)["output"].score, 4)
                                for g in ("rot90", "flips", "rotation")}


def part_frequency(ctx: dict, out: Path, res: dict) -> None:
    from shapekit.analysis.frequency import frequency_report
    from shapekit.analysis.plots import plot_frequency

    xte, _ = tiles_of(ctx["crops"], ctx["labels"], ctx["test"])
    x = torch.from_numpy(xte[:48, None])
    rep = frequency_report(ctx["cnn"], x)
    plot_frequency(rep, out / "frequency_cnn_uhcs.png")
    f, s, p = rep["freqs"], rep["sensitivity"], rep["power"]
    bands = {"low (<0.1)": f < 0.1, "mid (0.1-0.3)": (f >= 0.1) & (f < 0.3), "high (>=0.3)": f >= 0.3}
    res["frequency"] = {"spearman_sensitivity_power": rep["spearman"],
                        "power_exponent": rep["power_exponent"],
                        "sensitivity_share": {k: float(s[m].sum() / s.sum()) for k, m in bands.items()},
                        "power_share": {k: float(p[m].sum() / p.sum()) for k, m in bands.items()}}
    log(f"frequency: {res['frequency']}")


def part_dna(ctx: dict, out: Path, res: dict) -> None:
    from shapekit.analysis.dna import (AugmentationPolicy, DynamicAugmentation, GlobalAugmentation,
                                       fit_dna, ranges_by_class)
    from shapekit.temper.cnn import SmallResNet

    xtr, ytr = tiles_of(ctx["crops"], ctx["labels"], ctx["train"])
    xte, yte = tiles_of(ctx["crops"], ctx["labels"], ctx["test"])
    xtr_t, xte_t = torch.from_numpy(xtr[:, None]), torch.from_numpy(xte[:, None])
    out_d = {}
    for name, policy in (("none", None), ("dna", AugmentationPolicy(1, init=0.25)),
                         ("global", GlobalAugmentation(0.25))):
        torch.manual_seed(0)
        t = time.time()
        m = DynamicAugmentation(SmallResNet(1, 3, width=8), policy, max_rotation=180.0,
                                max_scale=0.3, max_translation=0.2, padding_mode="reflection")
        m = fit_dna(m, xtr_t, ytr, epochs=ctx["epochs"], batch_size=32, width_weight=0.1,
                    policy_warmup=2, policy_lr=1e-2, seed=0)
        with torch.no_grad():
            acc = float((m(xte_t).argmax(1).numpy() == yte).mean())
        rng = {ctx["names"][k]: v for k, v in ranges_by_class(m, xte_t, yte).items()}
        out_d[name] = {"test_tile_accuracy": acc, "ranges": rng}
        log(f"DNA {name}: acc {acc:.3f} ranges {rng} ({time.time() - t:.0f} s)")
    res["dna_uhcs"] = out_d


def part_fibres(ctx: dict, out: Path, res: dict) -> None:
    from shapekit.analysis.fibres_design import (inverse_design, plot_inverse_design,
                                                 simulator_hardness)

    f = simulator_hardness()
    t = time.time()
    r = inverse_design(150.0, f, tolerance=5.0, n_samples=200, steps=ctx["fibre_steps"], seed=0)
    plot_inverse_design(r, f, out / "inverse_design_150HV.png")
    res["fibres"] = {k: r[k] for k in ("target", "tolerance", "n_under", "n_over", "acceptance")}
    res["fibres"]["n_accepted"] = len(r["branch"])
    res["fibres"]["seconds"] = round(time.time() - t, 1)
    log(f"inverse design: {res['fibres']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/ana2"))
    ap.add_argument("--parts", default="cnn,toptemp,frequency,dna,fibres")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--n-toptemp", type=int, default=30)
    ap.add_argument("--fibre-steps", type=int, default=2000)
    ap.add_argument("--max-images", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    res: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    ctx: dict = {"epochs": args.epochs, "n_toptemp": args.n_toptemp, "fibre_steps": args.fibre_steps}
    if set(parts) - {"fibres"}:
        ctx["imgs"], ctx["crops"], ctx["labels"], ctx["names"] = load_uhcs(max_images=args.max_images)
        ctx["train"], ctx["test"] = split(ctx["labels"])
        log(f"UHCS: {len(ctx['labels'])} images, crops {ctx['crops'].shape}")
    if {"frequency", "toptemp"} & set(parts) and "cnn" not in parts:
        parts.insert(0, "cnn")
    for p in parts:
        {"cnn": part_cnn, "toptemp": part_toptemp, "frequency": part_frequency, "dna": part_dna,
         "fibres": part_fibres}[p](ctx, args.out, res)
        (args.out / "results.json").write_text(json.dumps(res, indent=2, default=float))
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
