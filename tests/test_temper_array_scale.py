"""Images given as arrays (temper models, resample, the GAN data) are on the grey scale files are read to.

An 8-bit scan from PIL or scikit-image (``uint8``, 0-255) used to be classified as floats in
[0, 255]: "unknown", its grey levels unlike every training scan's. Unsigned integers are now
scaled by their type's range, as a file's are, and a float image outside [0, 1] is refused
(``shapekit.io.readers.unit_image``), by the temper models, ``io.resample`` and the GAN data.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from shapekit.errors import InputError
from shapekit.temper import load_model, train_on_images


def _scan(seed: int, sigma: float, shape: tuple[int, int] = (256, 320)) -> np.ndarray:
    a = gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return ((a - a.min()) / (a.max() - a.min())).astype(np.float32)


@pytest.fixture(scope="module")
def uhcs3():
    return load_model("uhcs3")


def test_integer_scans_are_scaled_like_files(uhcs3):
    u8 = np.round(_scan(0, 2.0) * 255).astype(np.uint8)
    as_float = uhcs3.classify([u8.astype(np.float32) / 255])[0]
    for arr in (u8, u8.astype(np.uint16) * 257):
        got = uhcs3.classify([arr])[0]
        assert got["temper"] == as_float["temper"]
        assert got["ood_score"] == pytest.approx(as_float["ood_score"], rel=1e-4)
        assert got["probabilities"] == pytest.approx(as_float["probabilities"], abs=1e-5)
    assert uhcs3.predict_proba([u8]) == pytest.approx(uhcs3.predict_proba([u8 / 255.0]), abs=1e-5)


@pytest.mark.parametrize("arr, match", [
    (np.full((256, 256), 200.0), r"pixel values in \[200, 200\], outside \[0, 1\].*/ 255"),
    (np.zeros((256, 256), np.int64), "int64 have no grey scale"),
    (np.zeros((256, 256, 3)), "2-D grey image"),
])
def test_arrays_off_the_grey_scale_are_refused(uhcs3, arr, match):
    with pytest.raises(InputError, match=match):
        uhcs3.classify([arr])
    with pytest.raises(InputError, match=match):
        uhcs3.predict([arr])


@pytest.mark.filterwarnings("ignore::shapekit.errors.ShapekitWarning")
def test_training_arrays_follow_the_same_rule():
    imgs = [_scan(i, 1.0 + 2 * (i % 2), (64, 64)) for i in range(8)]
    kw = dict(model="logreg", tile_size=64, feature_params={"scales": [1, 2]}, cv_folds=2, augment=0)
    with pytest.raises(InputError, match=r"image 0: pixel values in \[0, 255\]"):
        train_on_images([a * 255 for a in imgs], ["a", "b"] * 4, **kw)
    u8 = [np.round(a * 255).astype(np.uint8) for a in imgs]
    m8 = train_on_images(u8, ["a", "b"] * 4, **kw)
    mf = train_on_images([a.astype(np.float32) / 255 for a in u8], ["a", "b"] * 4, **kw)
    assert m8.predict_proba(u8[:2]) == pytest.approx(mf.predict_proba(u8[:2]), abs=1e-6)


def test_resample_scales_integers_and_refuses_floats_it_would_clip():
    """``resample(uint8_image, ...)`` clipped 0-255 to [0, 1]: a white image, silently."""
    from shapekit.io import resample

    u8 = np.round(_scan(1, 2.0, (64, 48)) * 255).astype(np.uint8)
    np.testing.assert_allclose(resample(u8, 1.0, 2.0), resample(u8 / np.float32(255), 1.0, 2.0),
                               atol=1e-6)
    assert resample(u8, 1.0, 2.0).mean() < 0.9         # the clipped image was ~all 1.0
    with pytest.raises(InputError, match=r"a\.png: pixel values in \[0, 2\d\d\], outside \[0, 1\]"):
        resample(u8.astype(np.float32), 1.0, 2.0, source="a.png")


def test_gan_datamodule_reads_integer_images_as_files():
    """8-bit training images went into the GAN's crops as 0-255 (x * 2 - 1: up to 509)."""
    from shapekit.generate import ConditionCodec, GANDataModule

    u8 = [np.round(_scan(i, 1.5, (48, 48)) * 255).astype(np.uint8) for i in range(2)]
    codec = ConditionCodec.fit(["a"], [], np.zeros((2, 0)))
    kw = dict(crop_size=32, batch_size=2, steps=1)
    dm = GANDataModule(u8, np.zeros(2, int), np.zeros((2, 0)), codec, **kw)
    ref = GANDataModule([u / np.float32(255) for u in u8], np.zeros(2, int), np.zeros((2, 0)),
                        codec, **kw)
    for a, b in zip(dm.images, ref.images):
        np.testing.assert_allclose(a.astype(np.float32), b.astype(np.float32), atol=1e-3)
    with pytest.raises(InputError, match=r"image 1: pixel values in \[\d+, \d+\], outside \[0, 1\]"):
        GANDataModule([u8[0] / 255.0, u8[1] * 1.0], np.zeros(2, int), np.zeros((2, 0)), codec, **kw)
