"""``train-gan --crop-size N`` larger than a training image at the common scale was refused only
after every image had been read and Lightning imported (17 s for uhcs3's 450 JPEGs at
``--downscale 2 --crop-size 512``). The images' headers tell their sizes: the refusal now comes
from them, before anything is read, with the message the read gave, for the same images (the
run's training split) at the same scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import assert_refused, forbid
from shapekit.errors import InputError
from shapekit.generate.datasplit import check_crop_from_headers, holdout_split

SIZES = [(40, 52, "png"), (61, 45, "tif"), (50, 50, "jpg"), (47, 70, "png"), (33, 90, "tif"),
         (58, 44, "jpg")]
UM = [0.1, 0.13, 0.07, 0.1, 0.2, 0.11]


def _dataset(d: Path, um_per_px: bool) -> Path:
    import cv2
    import tifffile

    from shapekit.io import write_manifest

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["file,temper,um"]
    for i, ((h, w, ext), um) in enumerate(zip(SIZES, UM)):
        img = rng.integers(0, 255, (h, w), dtype=np.uint8)
        if ext == "tif":
            tifffile.imwrite(d / f"im{i}.tif", img)
        else:
            cv2.imwrite(str(d / f"im{i}.{ext}"), img)
        rows.append(f"im{i}.{ext},{'ab'[i % 2]},{um}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    spec = {"name": "sizes", "root": ".", "table": "labels.csv", "image": "file", "label": "temper"}
    write_manifest(d / "m.yaml", {**spec, "um_per_px": "um"} if um_per_px else spec)
    return d / "m.yaml"


def _after_reading(manifest: Path, crop: int, downscale: float, holdout: float) -> str | None:
    """What the data module says after reading the images (None: the crop fits)."""
    pytest.importorskip("torch")
    from shapekit.generate.data import GANDataModule, load_training_table

    images, labels, values, codec, ump, names = load_training_table(manifest, "class")
    train, _ = holdout_split(labels, holdout, 0)
    try:
        GANDataModule([images[i] for i in train], labels[train], values[train], codec,
                      ump[train], crop_size=crop, downscale=downscale,
                      names=[names[i] for i in train])
    except InputError as e:
        return str(e)
    return None


def _from_headers(manifest: Path, crop: int, downscale: float, holdout: float) -> str | None:
    try:
        check_crop_from_headers(manifest, None, crop, downscale, holdout, 0)
    except InputError as e:
        return str(e)
    return None


@pytest.mark.parametrize("um_per_px", [True, False])
def test_the_headers_refuse_exactly_what_the_read_refuses(tmp_path, um_per_px):
    manifest = _dataset(tmp_path, um_per_px)
    refused = 0
    for downscale, holdout in ((1.0, 0.0), (1.5, 0.0), (0.7, 0.34)):
        for crop in range(16, 96, 3):
            said = _from_headers(manifest, crop, downscale, holdout)
            assert said == _after_reading(manifest, crop, downscale, holdout), (crop, downscale)
            refused += said is not None
    assert 0 < refused < 80  # both outcomes were tested


def test_train_gan_refuses_a_too_large_crop_before_reading_any_image(tmp_path, run_cli,
                                                                     monkeypatch):
    pytest.importorskip("torch")
    import shapekit.io
    from shapekit.generate.data import GANDataModule

    manifest = _dataset(tmp_path / "data", um_per_px=False)
    forbid(monkeypatch, "an image was read", (shapekit.io, "read_image"))
    forbid(monkeypatch, "the data module was made (after Lightning loaded)",
           (GANDataModule, "from_manifest"))
    out = tmp_path / "run"
    assert_refused(run_cli("train-gan", manifest, "--out", out, "--crop-size", "48"),
                   "im0.png: 52x40 px at its own pixel size is smaller than the 48px crop; use a "
                   "smaller --crop-size or --downscale", out)
