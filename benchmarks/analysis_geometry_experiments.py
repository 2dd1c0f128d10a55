"""Representation-geometry experiments of shapekit.analysis on real UHCS micrographs.

1. ``topo``: the 2211.07697 question. The same small CNN (:class:`TinyCNN`) is trained on raw UHCS
   tiles and on the H0/H1 persistence images of the same tiles (two seeds each); the networks are
   compared layer by layer with debiased minibatch CKA and with trained 1x1-conv stitches.
2. ``gan-id``: the 2302.09301 question. Intrinsic dimension (TwoNN, MLE, lPCA) of the GAN
   generator's activations per layer, per temper class (``--gan RUN_DIR``).
3. ``frames``: neural frames (rotation, blur, translation vs noise) of a CNN layer by layer (the
   TinyCNN trained on raw tiles, or ``--cnn MODEL_DIR``, a temper CNN model directory).

Run (the CPU is shared: be nice)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analysis_geometry_experiments.py topo \
        --out /tmp/ag/topo.json
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analysis_geometry_experiments.py gan-id \
        --gan RUN_DIR --out /tmp/ag/gan_id.json
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/analysis_geometry_experiments.py frames \
        --out /tmp/ag/frames.json

Data: ../shared/data/uhcs3 (Hecht, DeCost, Holm et al., NIST hdl 11256/940, CC BY 3.0 US).
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


def load_uhcs3(max_per_class: int | None = None, seed: int = 0):
    import pandas as pd

    from shapekit.io import read_image

    table = pd.read_csv(DATA / "labels.csv")
    names = sorted(table["label_name"].unique())
    rng = np.random.default_rng(seed)
    keep = []
    for lab in names:
        rows = np.flatnonzero(table["label_name"].to_numpy() == lab)
        if max_per_class:
            rows = np.sort(rng.choice(rows, min(max_per_class, len(rows)), replace=False))
        keep += rows.tolist()
    keep = sorted(keep)
    images = [read_image(DATA / "images" / table["file"][i])[0] for i in keep]
    labels = [names.index(table["label_name"][i]) for i in keep]
    return images, np.array(labels), names


def split_by_image(image_idx: np.ndarray, labels_per_image: np.ndarray, test_frac: float, seed: int):
    """Stratified image-level split: tiles of one image never straddle train and test."""
    rng = np.random.default_rng(seed)
    test = []
    for lab in np.unique(labels_per_image):
        imgs = rng.permutation(np.flatnonzero(labels_per_image == lab))
        test += imgs[: int(round(test_frac * len(imgs)))].tolist()
    te = np.isin(image_idx, test)
    return ~te, te


def topo_experiment(args) -> dict:
    from shapekit.analysis import accuracy, layerwise_cka, stitching_report
    from shapekit.analysis.topo_vs_raw import TINY_CNN_LAYERS, raw_and_pi_tiles, train_tiny_cnn

    t0 = time.time()
    images, labels, names = load_uhcs3(args.max_per_class, args.seed)
    data = raw_and_pi_tiles(images, labels, tile=args.tile, size=args.size, per_image=args.per_image,
                            seed=args.seed)
    tr, te = split_by_image(data["image"], labels, 0.25, args.seed)
    t_data = time.time() - t0
    x = {"raw": torch.from_numpy(data["raw"]), "pi": torch.from_numpy(data["pi"])}
    y = torch.from_numpy(data["y"])
    nets, accs = {}, {}
    for kind in ("raw", "pi"):
        for s in (0, 1):
            key = f"{kind}{s}"
            nets[key] = train_tiny_cnn(x[kind][tr], y[tr], epochs=args.epochs, seed=args.seed + s,
                                       width=args.width)
            accs[key] = accuracy(nets[key], x[kind][te], y[te])
            print(f"{key}: test tile accuracy {accs[key]:.3f}", file=sys.stderr)
    t_train = time.time() - t0 - t_data
    layers = list(TINY_CNN_LAYERS)
    pairs = {"raw0-pi0": ("raw0", "pi0"), "raw0-raw1": ("raw0", "raw1"), "pi0-pi1": ("pi0", "pi1")}
    cka = {}
    for name, (a, b) in pairs.items():
        M = layerwise_cka(nets[a], nets[b], x[a[:-1]][te], x[b[:-1]][te], layers, layers,
                          batch_size=64)
        cka[name] = M.round(4).tolist()
        print(f"CKA {name} diag {np.diag(M).round(3).tolist()}", file=sys.stderr)
    stitch = []
    for a, b in (("raw0", "pi0"), ("pi0", "raw0"), ("raw0", "raw1"), ("pi0", "pi1")):
        for layer in ("relu1", "relu2", "relu3"):
            r = stitching_report(nets[a], nets[b], layer, layer,
                                 (x[a[:-1]][tr], y[tr], x[b[:-1]][tr]),
                                 (x[a[:-1]][te], y[te], x[b[:-1]][te]),
                                 init="lstsq", epochs=args.stitch_epochs, lr=1e-3, seed=args.seed)
            stitch.append({"a": a, "b": b, **r})
            print(f"stitch {a}->{b} @{layer}: {r['acc_stitched']:.3f} (A {r['acc_a']:.3f}, "
                  f"B {r['acc_b']:.3f})", file=sys.stderr)
    return {"experiment": "topo-vs-raw (arXiv 2211.07697) on uhcs3", "classes": names,
            "n_images": len(images), "n_tiles": int(len(y)), "n_train": int(tr.sum()),
            "n_test": int(te.sum()), "settings": vars(args),
            "test_accuracy": accs, "layers": layers, "cka": cka, "stitch": stitch,
            "seconds": {"data": round(t_data, 1), "train": round(t_train, 1),
                        "total": round(time.time() - t0, 1)}}


def gan_id_experiment(args) -> dict:
    from shapekit.analysis import layer_intrinsic_dimension
    from shapekit.analysis.sources import (ConditionedGenerator, default_layers, latent_inputs,
                                            load_torch_model)

    model = load_torch_model(args.gan)
    if model.kind != "generator":
        raise SystemExit(f"{args.gan} is not a GAN run directory")
    torch.manual_seed(args.seed)
    z = latent_inputs(model, args.n, args.seed)
    layers = ["net." + n for n in default_layers("generator", model.net)]
    rows = []
    t0 = time.time()
    for c, lab in enumerate(model.label_names):
        for r in layer_intrinsic_dimension(ConditionedGenerator(model.net, c), z, layers, k=20):
            rows.append({**r, "layer": r["layer"].removeprefix("net."), "group": lab})
            print(f"{lab:<16} {rows[-1]['layer']:<10} twonn {r['twonn']:.2f} mle {r['mle']:.2f} "
                  f"lpca {r['lpca']:.0f}", file=sys.stderr)
    return {"experiment": "generator ID per layer and class (arXiv 2302.09301)", "gan": str(args.gan),
            "z_dim": model.z_dim, "n": args.n, "config": model.extra.config if model.extra else None,
            "rows": rows, "seconds": round(time.time() - t0, 1)}


def temper_cnn_frames(args) -> dict:
    """Frames of a temper CNN model directory vs the same architecture untrained (random weights)."""
    import tempfile

    from shapekit.analysis.runners import run_frames
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import read_config, write_model_dir

    cfg = read_config(args.cnn)
    arch = cfg["cnn"]["arch"]
    torch.manual_seed(args.seed)
    net = SmallResNet(**{**arch, "depths": tuple(arch["depths"])})
    untrained = Path(tempfile.mkdtemp(prefix="ag_untrained_"))
    keep = {k: v for k, v in cfg.items() if k not in ("format", "format_version", "shapekit_version")}
    write_model_dir(untrained, keep, {"cnn.safetensors": {k: v.detach().numpy()
                                                          for k, v in net.state_dict().items()}})
    manifest = REPO / "data_manifests" / "uhcs3.yaml"
    out = {}
    for key, d in (("trained", args.cnn), ("untrained", untrained)):
        res = run_frames(d, manifest, None, ["rotation", "translation", "blur", "noise"], 8,
                         args.n_frames, max(args.n_frames, 3), None, args.seed, None)
        out[key] = {r["layer"]: r["relative_norm"] | {"rank": r["rank"]} for r in res["layers"]}
        for layer, d2 in out[key].items():
            print(f"{key:<9} {layer:<9} " + " ".join(f"{k}={v:.3f}" for k, v in d2.items()),
                  file=sys.stderr)
    return {"experiment": "neural frames of the temper CNN (SmallResNet) (arXiv 2211.10558)",
            "cnn": str(args.cnn), "n_inputs": args.n_frames, "mean_relative_norm": out}


def frames_experiment(args) -> dict:
    from shapekit.analysis import frame_statistics, frame_vectors, perturbation_directions
    from shapekit.analysis.topo_vs_raw import TINY_CNN_LAYERS, raw_and_pi_tiles, train_tiny_cnn

    if args.cnn is not None:
        return temper_cnn_frames(args)
    images, labels, names = load_uhcs3(args.max_per_class, args.seed)
    data = raw_and_pi_tiles(images, labels, tile=args.tile, size=args.size, per_image=args.per_image,
                            seed=args.seed)
    x, y = torch.from_numpy(data["raw"]), torch.from_numpy(data["y"])
    nets = {"trained": train_tiny_cnn(x, y, epochs=args.epochs, seed=args.seed, width=args.width),
            "untrained": train_tiny_cnn(x[:1], y[:1], epochs=0, seed=args.seed, width=args.width)}
    pick = np.linspace(0, len(x) - 1, args.n_frames).round().astype(int)
    out = {}
    for key, net in nets.items():
        acc: dict[str, dict[str, list[float]]] = {}
        for i in pick:
            dn, V = perturbation_directions(x[i].double(), ("rotation", "translation", "blur", "noise"),
                                            n_noise=8, seed=int(i))
            for st in frame_statistics(frame_vectors(net, x[i], V, list(TINY_CNN_LAYERS)), dn):
                for k, v in st["relative_norms"].items():
                    acc.setdefault(st["layer"], {}).setdefault(k, []).append(v)
        out[key] = {layer: {k: float(np.median(v)) for k, v in d.items()} for layer, d in acc.items()}
        for layer, d in out[key].items():
            print(f"{key:<9} {layer:<7} " + " ".join(f"{k}={v:.3f}" for k, v in d.items()),
                  file=sys.stderr)
    return {"experiment": "neural frames of a raw-tile CNN (arXiv 2211.10558)",
            "n_inputs": len(pick), "median_relative_norm": out}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("topo", "frames"):
        s = sub.add_parser(name)
        s.add_argument("--max-per-class", type=int, default=None)
        s.add_argument("--per-image", type=int, default=4)
        s.add_argument("--tile", type=int, default=128)
        s.add_argument("--size", type=int, default=32)
        s.add_argument("--epochs", type=int, default=15)
        s.add_argument("--width", type=int, default=16)
        s.add_argument("--stitch-epochs", type=int, default=5)
        s.add_argument("--n-frames", type=int, default=16)
        s.add_argument("--cnn", type=Path, default=None, help="frames: a temper CNN model directory")
    g = sub.add_parser("gan-id")
    g.add_argument("--gan", type=Path, required=True)
    g.add_argument("--n", type=int, default=1000)
    for s in sub.choices.values():
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    fn = {"topo": topo_experiment, "gan-id": gan_id_experiment, "frames": frames_experiment}[args.cmd]
    result = fn(args)
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        from shapekit._atomic import write_text

        write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
