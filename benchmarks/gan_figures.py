"""The README's generation figures, drawn from the shipped generators (small PNGs under docs/).

* ``docs/uhcs3_real_vs_generated.png``: per uhcs3 class, held-out real micrographs at the model's
  training scale (half resolution) beside whole generated ones of the same size;
* ``docs/sim_sweep.png``: ``sim-parameters``, aging-time sweeps at two temperatures (same latents
  along a row), with the mean radius measured on each generated image and the process model's;
* ``docs/uhcs3_large.png``: one 1024x768 generated spheroidite field, shown at 512x384 (2x2 mean);
* ``docs/sim_finetune.png`` (``--only compare --compare LABEL=MODEL[@CHECKPOINT] ...``): simulator
  fields beside parameters-mode generators at an under-aged and a peak-aged condition (same
  latents in a row), 160 px shown at 2x.

Example::

    OMP_NUM_THREADS=1 python benchmarks/gan_figures.py --out docs [--only sim]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _fig(nrows: int, ncols: int, w: float, h: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows), dpi=72)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def uhcs3_figure(out: Path, manifest: Path, per: int, seed: int) -> Path:
    from shapekit.generate import load_generator
    from shapekit.generate.data import holdout_split, load_training_table, to_common_scale
    from shapekit.registry import resolve

    gen = load_generator(resolve("uhcs3-class", "generator"), device="cpu")
    images, labels, _, codec, ump, _ = load_training_table(manifest, "class")
    _, test = holdout_split(labels, float(gen.config.get("holdout", 0.2)),
                            int(gen.config.get("seed", 0)))
    fig, axes = _fig(len(codec.label_names), 2 * per, 1.7, 1.75)
    for r, name in enumerate(codec.label_names):
        idx = [i for i in test if labels[i] == r][:per]
        real, _ = to_common_scale([images[i] for i in idx], ump[idx],
                                  float(gen.config.get("downscale", 1.0)))
        h = min(min(im.shape[0] for im in real), 256)
        real = [im[:h, :h] for im in real]
        fake = gen.sample(per, label=name, seed=seed + r, size=(h, h))
        for j, im in enumerate(list(real) + list(fake)):
            ax = axes[r][j]
            ax.imshow(im, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("real (held out)" if j < per else "generated", fontsize=8)
        axes[r][0].set_ylabel(name, fontsize=8)
    fig.suptitle(f"uhcs3-class ({gen.config.get('iterations')} iterations): real vs generated, "
                 f"{h}x{h} px at 1/{gen.config.get('downscale', 1):g} resolution", fontsize=9)
    fig.tight_layout()
    path = out / "uhcs3_real_vs_generated.png"
    fig.savefig(path)
    return path


def sim_sweep_figure(out: Path, seed: int, size: int = 160) -> Path:
    from shapekit.generate import load_generator
    from shapekit.generate.formats import trained_iterations
    from shapekit.registry import resolve
    from shapekit.synth import measure_structure, process_model, render_micrograph

    gen = load_generator(resolve("sim-parameters", "generator"), device="cpu")
    times = np.geomspace(0.3, 60.0, 6)
    temps = (150.0, 200.0)
    fig, axes = _fig(len(temps) + 1, len(times), 1.75, 1.85)
    for r, T in enumerate(temps):
        for j, t in enumerate(times):
            truth = process_model(T, float(t))
            im = gen.sample(1, label=str(truth["temper"]), seed=seed + r, size=size,
                            conditions={"aging_temperature_C": T, "aging_time_h": float(t)})[0]
            m = measure_structure(im, gen.um_per_px)
            ax = axes[r][j]
            ax.imshow(im, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{t:.3g} h: r {m['mean_radius_nm']:.1f} nm\n(model "
                         f"{float(truth['mean_radius_nm']):.1f})", fontsize=7)
        axes[r][0].set_ylabel(f"generated {T:.0f} C", fontsize=8)
    for j, t in enumerate(times):
        im = render_micrograph(200.0, float(t), size=size, um_per_px=gen.um_per_px, seed=5)[0]
        ax = axes[len(temps)][j]
        ax.imshow(im, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[len(temps)][0].set_ylabel("simulator 200 C", fontsize=8)
    fig.suptitle(f"sim-parameters ({trained_iterations(gen.config)} iterations): aging-time sweep, "
                 f"{size} px at {gen.um_per_px * 1000:g} nm/px; r = measured mean radius",
                 fontsize=9)
    fig.tight_layout()
    path = out / "sim_sweep.png"
    fig.savefig(path)
    return path


def compare_figure(out: Path, models: list[str], seed: int, size: int = 160) -> Path:
    from shapekit.generate import load_generator
    from shapekit.registry import resolve
    from shapekit.synth import process_model, render_micrograph

    conditions = ((150.0, 2.5), (200.0, 20.0))
    gens = []
    for spec in models:
        label, _, where = spec.partition("=")
        path, _, ckpt = where.partition("@")
        gens.append((label, load_generator(resolve(path, "generator"), device="cpu",
                                           checkpoint=ckpt or None)))
    fig, axes = _fig(len(conditions), len(gens) + 1, 2.6, 2.95)
    for r, (T, t) in enumerate(conditions):
        truth = process_model(T, t)
        ims = [("simulator", render_micrograph(T, t, size=size, um_per_px=0.002, seed=1)[0])]
        ims += [(lab, g.sample(1, label=str(truth["temper"]), seed=seed, size=size,
                               conditions={"aging_temperature_C": T, "aging_time_h": t})[0])
                for lab, g in gens]
        for j, (lab, im) in enumerate(ims):
            ax = axes[r][j]
            ax.imshow(im, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(lab, fontsize=8)
        axes[r][0].set_ylabel(f"{T:.0f} C, {t:g} h ({truth['temper']})", fontsize=8)
    fig.suptitle(f"{size} px at 2 nm/px, same latents along a row", fontsize=9)
    fig.tight_layout()
    path = out / "sim_finetune.png"
    fig.savefig(path)
    from PIL import Image

    Image.open(path).convert("L").save(path, optimize=True)  # all grey: a third of the size
    return path


def large_figure(out: Path, seed: int) -> Path:
    from shapekit.generate import load_generator
    from shapekit.generate.grid import save_image
    from shapekit.registry import resolve

    gen = load_generator(resolve("uhcs3-class", "generator"), device="cpu")
    im = gen.sample(1, label="spheroidite", seed=seed, size="1024x768")[0]
    path = out / "uhcs3_large.png"
    save_image(im.reshape(384, 2, 512, 2).mean(axis=(1, 3)), path)  # 512x384 preview (2x2 mean)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--manifest", type=Path, default=Path("data_manifests/uhcs3.yaml"))
    p.add_argument("--per", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("uhcs3", "sim", "large", "compare"), default=None,
                   help="Draw one figure (after a shipped model changed).")
    p.add_argument("--compare", nargs="+", default=[], metavar="LABEL=MODEL[@CHECKPOINT]",
                   help="Parameters-mode generators for the compare figure (only drawn on request).")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    figures = {"uhcs3": lambda: uhcs3_figure(a.out, a.manifest, a.per, a.seed),
               "sim": lambda: sim_sweep_figure(a.out, a.seed),
               "large": lambda: large_figure(a.out, a.seed),
               "compare": lambda: compare_figure(a.out, a.compare, a.seed)}
    for key, draw in figures.items():
        if a.only == key or (a.only is None and key != "compare"):
            f = draw()
            print(f"wrote {f} ({f.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
