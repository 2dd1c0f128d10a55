"""Tiny models and image sets for the server tests (built once per test session)."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def png_of(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", (np.clip(image, 0, 1) * 255).astype(np.uint8))
    assert ok
    return buf.tobytes()


def png_bomb(side: int) -> bytes:
    """A valid PNG of ``side x side`` black pixels: a few KB that decode to side^2 bytes."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def toy_classifier(tmp_path_factory) -> tuple[Path, list[np.ndarray], list[str]]:
    """A logistic-regression TopTemp model on the three toy textures (seconds to train)."""
    from toy import toy_dataset
    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(3, 96, seed=0)
    out = tmp_path_factory.mktemp("serve-model") / "toy"
    train_on_images(images, labels, model="logreg", tile_size=48, feature_params={"scales": [1, 2]},
                    cv_folds=2, augment=0, aggregation="proba").save(out)
    test_images, test_labels = toy_dataset(1, 96, seed=7)
    return out, test_images, test_labels


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory) -> Path:
    """An exported (untrained, random-weight) generator with two conditions, one log-scaled."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    gen = Generator(2, 2, z_local=2, z_global=8, w_dim=8, channels=[8, 8, 4, 4])
    values = np.array([[0.5, 0.05], [50.0, 0.30], [5.0, 0.1]])
    codec = ConditionCodec.fit(["peak_aged", "under_aged"], ["aging_time_h", "area_fraction"], values,
                               mode="parameters")   # aging_time_h spans 100x: log-scaled
    out = tmp_path_factory.mktemp("serve-gen") / "tiny"
    export_generator(gen, codec, out, crop_size=8, um_per_px=0.05)  # default images: 32 px
    return out


@pytest.fixture(scope="session")
def sim_generator(tmp_path_factory) -> Path:
    """A tiny untrained generator with the simulator's condition names and temper labels (as if
    trained on ``shapekit synth`` data); default images: 64 px."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    codec = ConditionCodec.fit(["over_aged", "peak_aged", "under_aged"],
                               ["aging_temperature_C", "aging_time_h"],
                               np.array([[120.0, 0.1], [220.0, 100.0]]), mode="parameters")
    out = tmp_path_factory.mktemp("serve-sim") / "sim"
    export_generator(Generator(3, 2, z_local=2, z_global=4, w_dim=8, channels=[8, 4]), codec, out,
                     crop_size=16)
    return out


@pytest.fixture(scope="session")
def real_folder(tmp_path_factory) -> Path:
    """Eight simulator-like toy micrographs as PNG files: a real set the server knows by name."""
    from toy import toy_dataset

    images, _ = toy_dataset(3, 48, seed=3)
    out = tmp_path_factory.mktemp("serve-real")
    for i, im in enumerate(images[:8]):
        (out / f"real{i}.png").write_bytes(png_of(im))
    return out


def tiff_with_info_bar() -> bytes:
    """A 96x96 toy scan with a 20-row instrument info bar underneath, as TIFF bytes."""
    import tifffile

    from toy import toy_micrograph

    img = (toy_micrograph("spheroids", 96, np.random.default_rng(5)) * 255).astype(np.uint8)
    bar = np.zeros((20, 96), np.uint8)
    bar[6:12, 4:60] = 255
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.vstack([img, bar]))
    return buf.getvalue()
