"""Build notebooks/03_generate.ipynb with nbformat (run: python notebooks/build_03_generate.py).

The notebook runs in CI (tests/test_notebooks.py, SHAPEKIT_NOTEBOOK_QUICK=1): it samples the
generators that ship with shapekit (fast on a CPU), trains a tiny one for a few steps to show the
workflow, and skips its real-data cells cleanly when ../shared/data is absent.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# 03 · Generate whole micrographs

`shapekit.generate` is a **conditional GAN** (PyTorch Lightning) for SEM micrographs: a temper
class plus, optionally, process parameters (`parameters` mode) or material properties
(`properties` mode), as in the ShAPE conditional-GAN work (Howland et al., arXiv:2302.08495).

Its generator is fully convolutional over a spatial latent map (the SGAN / PSGAN / SliceGAN idea):
trained on random crops, it draws **whole micrographs of any size** at the physical scale of its
training data, and ends in an **imaging stage** (a Gaussian probe and shot noise at the training
scans' own noise levels, fitted on the training images by `shapekit calibrate-imaging`; `--raw`
gives the network's output). Three trained generators ship with shapekit, so nothing needs
training first:

```bash
shapekit models                                                   # what ships
shapekit generate uhcs3-class --label pearlite --n 8 --size 512 --out gen/
shapekit generate sim-parameters --n 4 --out sweep/ --label over_aged \\
    --set aging_temperature_C=200 --sweep aging_time_h=24:96:5 --size 256
shapekit train-gan data/sim/manifest.yaml --out runs/gan --condition parameters   # your own
```

UHCS data and the `uhcs3-class` model: Hecht, DeCost, Holm et al., Ultrahigh Carbon Steel
Micrographs, NIST hdl 11256/940, CC BY 3.0 US."""),
    ("code", """import os, tempfile
from pathlib import Path

import numpy as np
import matplotlib
import matplotlib.pyplot as plt
import torch

torch.set_num_threads(1)
QUICK = os.environ.get("SHAPEKIT_NOTEBOOK_QUICK") == "1"
DATA = Path(os.environ.get("SHAPEKIT_SHARED_DATA", "../../shared/data"))
HAVE_DATA = (DATA / "uhcs3" / "labels.csv").is_file()
work = Path(tempfile.mkdtemp(prefix="shapekit_nb03_"))
print("real data:", HAVE_DATA, "| quick:", QUICK)"""),
    ("md", """## 1. The shipped generators

Each comes with a model card: training data, licence, the exact training command, iterations,
hardware and the figures measured on these very weights."""),
    ("code", """from shapekit.registry import available

for card in available("generator"):
    scale = f"{card['um_per_px']:g} um/px" if card["um_per_px"] else "training scale"
    print(f"{card['name']:15s} {card['iterations']:6d} it  {scale:14s} {card['summary']}")"""),
    ("md", """## 2. Real and generated UHCS micrographs, per class

`uhcs3-class` was trained on random 128-px crops of 80 % of the uhcs3 images at half resolution
(UHCS gives no common pixel size, so the model works at 1/2 of the source pixels); the rest were
held out for its evaluation. Left: held-out real images at that scale; right: generated images of
the same class and size (square crops of the real images, 238 px), from the same model that drew
128-px crops in training."""),
    ("code", """from shapekit.generate import load_generator
from shapekit.registry import resolve

gen = load_generator(resolve("uhcs3-class", "generator"), device="cpu")
classes = gen.label_names
per = 2 if QUICK else 3
real = {}
if HAVE_DATA:
    import pandas as pd
    from shapekit.generate.data import holdout_split
    from shapekit.io import read_image, resample

    table = pd.read_csv(DATA / "uhcs3" / "labels.csv")
    labels = np.array([classes.index(v) for v in table.label_name])
    _, held = holdout_split(labels, gen.config.get("holdout", 0.2), gen.config.get("seed", 0))
    down = gen.config.get("downscale", 2.0)
    for k, c in enumerate(classes):
        files = [table.file[i] for i in held if labels[i] == k][:per]
        real[c] = [resample(read_image(DATA / "uhcs3" / "images" / f)[0], 1.0, down)[:, :256]
                   for f in files]
side = min([min(im.shape) for ims in real.values() for im in ims] + [256])   # square, same field
real = {c: [im[:side, :side] for im in ims] for c, ims in real.items()}
fake = {c: gen.sample(per, label=c, seed=k, size=side) for k, c in enumerate(classes)}
cols = 2 * per if real else per
fig, axes = plt.subplots(len(classes), cols, figsize=(2.2 * cols, 2.3 * len(classes)))
for r, c in enumerate(classes):
    row = (real.get(c, []) + list(fake[c]))
    for j, im in enumerate(row):
        axes[r, j].imshow(im, cmap="gray", vmin=0, vmax=1)
        axes[r, j].set_xticks([]); axes[r, j].set_yticks([])
        axes[r, j].set_title(("real " if j < len(real.get(c, [])) else "generated ") + c,
                             fontsize=7)
fig.tight_layout()"""),
    ("md", """## 3. Any size, at the training scale

The same weights draw a 1024x768 field; latent cells beyond the edges are generated and cropped
away, so there is no frame at the border and no seam between cells. The whole-image checks
compare the power spectrum at the latent period (8 px) with its surroundings (about 1: no
periodic pattern) and the border band with the interior, in interior standard deviations (a few
hundredths to a few tenths: real uhcs3 images read 0.02-0.32, RESULTS.md section 6; a frame reads
above 1)."""),
    ("code", """from shapekit.generate.checks import border_profile_ratio, lattice_peak_ratio

size = "512x384" if QUICK else "1024x768"
big = gen.sample(2, label="spheroidite", seed=3, size=size)
print("shape:", big.shape)
print("lattice peak ratio:", round(lattice_peak_ratio(big, gen.generator.period), 2),
      "| border ratio:", round(border_profile_ratio(big), 3))
plt.figure(figsize=(8, 6)); plt.imshow(big[0], cmap="gray", vmin=0, vmax=1); plt.axis("off")
plt.show()"""),
    ("md", """## 4. A sweep that means something: aging time on the simulator

`sim-parameters` was trained on simulated micrographs of an aged alloy at 2 nm/px. Along an
aging-time sweep at 200 C (same latents in every column), the precipitates coarsen; the
simulator's own measurement (`shapekit.synth.measure_structure`) should see the mean radius grow
as the process model says."""),
    ("code", """from shapekit.synth import measure_structure, process_model

sim = load_generator(resolve("sim-parameters", "generator"), device="cpu")
times = np.geomspace(0.5, 60, 3 if QUICK else 5)
n = 2 if QUICK else 4
rows = [sim.sample(n, label=str(process_model(200.0, t)["temper"]), seed=7, size=192,
                   conditions={"aging_temperature_C": 200.0, "aging_time_h": float(t)})
        for t in times]
fig, axes = plt.subplots(1, len(times), figsize=(2.6 * len(times), 2.8))
for ax, t, imgs in zip(axes, times, rows):
    ax.imshow(imgs[0], cmap="gray", vmin=0, vmax=1); ax.axis("off"); ax.set_title(f"{t:.2g} h")
fig.suptitle(f"sim-parameters at 200 C, aging time per column; 192 px = {192 * sim.um_per_px * 1000:.0f} nm")
fig.tight_layout()
for t, imgs in zip(times, rows):
    r_gen = np.nanmean([measure_structure(im, sim.um_per_px)["mean_radius_nm"] for im in imgs])
    r_req = float(process_model(200.0, t)["mean_radius_nm"])
    print(f"t = {t:6.2f} h   process model r = {r_req:5.2f} nm   generated r = {r_gen:5.2f} nm")"""),
    ("md", """## 5. Training your own (a tiny run)

`train_gan` trains on random crops of a manifest's images at a common physical scale, prints a
progress line (iterations, it/s, ETA, losses) every `progress_every_s` seconds when stderr is not
a terminal, writes a sample grid after the first iteration, checkpoints (resume with
`resume=True` / `--resume`) and exports the EMA generator. A few steps here, to show the workflow
only: the images of such a run are noise."""),
    ("code", """from shapekit.synth import synthesize
from shapekit.generate import train_gan

synthesize(12, out_dir=work / "sim", seed=0, size=96)
summary = train_gan(work / "sim" / "manifest.yaml", work / "run", condition="parameters",
                    crop_size=32, max_steps=6 if QUICK else 200, batch_size=4, g_channels=4,
                    d_channels=4, checkpoint_every=100, sample_every=100, progress_every_s=5)
mine = load_generator(work / "run")
print(summary["iterations"], "iterations;", mine.sample(1, label="peak_aged", size="160x96").shape)"""),
]


def main() -> None:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src)
                for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    out = Path(__file__).with_name("03_generate.ipynb")
    nbformat.write(nb, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
