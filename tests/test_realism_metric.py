"""TopologicalRealism (torchmetrics) and offline KID with a local extractor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from shapekit.errors import InputError
from shapekit.realism import TopologicalRealism, score
from shapekit.realism.kid import load_extractor, offline_kid


def _batch(seed: int, sigma: float, n: int = 8, size: int = 40) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    ims = [ndimage.gaussian_filter(rng.random((size, size)), sigma) for _ in range(n)]
    ims = [(x - x.min()) / (x.max() - x.min()) for x in ims]
    return torch.tensor(np.stack(ims)[:, None], dtype=torch.float32)


def test_metric_accumulates_batches_like_one_call():
    real, fake = _batch(0, 2.0, 10), _batch(1, 3.5, 10)
    one = TopologicalRealism()
    one.update(real=real, fake=fake)
    two = TopologicalRealism()
    two.update(real=real[:5])
    two.update(real=real[5:], fake=fake[:7])
    two.update(fake=fake[7:])
    a, b = one.compute(), two.compute()
    assert a["topological_distance"].item() == pytest.approx(b["topological_distance"].item(), rel=1e-6)
    same = TopologicalRealism()
    same.update(real=real, fake=_batch(2, 2.0, 10))
    assert same.compute()["topological_distance"] < a["topological_distance"]
    # the metric agrees with score() on the same images (same seed, same pooling)
    s = score(list(real[:, 0].numpy()), list(fake[:, 0].numpy()), n_boot=2, n_perm=2)
    assert s["components"]["d_summaries"] == pytest.approx(a["d_summaries"].item(), rel=1e-4)


def test_metric_value_range_reset_and_errors():
    real = _batch(0, 2.0, 6)
    m = TopologicalRealism(value_range=(-1.0, 1.0))
    m.update(real=real * 2 - 1, fake=real * 2 - 1)
    ref = TopologicalRealism()
    ref.update(real=real, fake=real)
    assert m.compute()["d_summaries"].item() == pytest.approx(ref.compute()["d_summaries"].item(), abs=1e-5)
    m.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torchmetrics: "compute called before update"
        with pytest.raises(InputError, match="no real images"):
            m.compute()
    with pytest.raises(InputError):
        m.update()
    with pytest.raises(InputError, match="shape"):
        m.update(real=torch.rand(2, 2, 8, 8, 8))
    with pytest.raises(InputError):
        TopologicalRealism(value_range=(1.0, 0.0))
    p = TopologicalRealism(n_perm=19)
    p.update(real=real, fake=_batch(5, 4.0, 6))
    assert 0 < p.compute()["p_value"].item() <= 1


def _extractor():
    from shapekit.temper.cnn import FeatureExtractor, SmallResNet

    torch.manual_seed(0)
    return FeatureExtractor(SmallResNet(n_classes=0, width=4))


def test_offline_kid_small_sets_and_separation():
    rng = np.random.default_rng(0)
    real = [ndimage.gaussian_filter(rng.random((32, 32)), 1.0) for _ in range(24)]
    same = [ndimage.gaussian_filter(rng.random((32, 32)), 1.0) for _ in range(24)]
    blur = [ndimage.gaussian_filter(x, 3.0) for x in same]
    fx = load_extractor(_extractor(), size=32)
    r_same = offline_kid(real, same, fx, subsets=10)
    r_blur = offline_kid(real, blur, fx, subsets=10)
    assert r_same["subset_size"] == 12          # adapted to n (torchmetrics' 1000 would error)
    assert r_blur["kid_mean"] > r_same["kid_mean"] + 3 * r_same["kid_std"]
    assert r_same["fid"] is not None and r_same["feature_dim"] == 16
    r_small = offline_kid(real[:10], same[:10], fx, subsets=5)
    assert r_small["fid"] is None               # n <= feature dim: FID not reported
    assert offline_kid(real, same, fx, subsets=5, seed=1) == offline_kid(real, same, fx, subsets=5, seed=1)


def test_load_extractor_wraps_modules_only():
    fx = load_extractor(_extractor(), size=32)
    assert load_extractor(fx) is fx and fx.size == 32
    with pytest.raises(InputError, match="nn.Module"):
        load_extractor("cnn.safetensors")


def test_score_with_kid(tmp_path):
    """score's KID is offline_kid on the same images (same seed); near 0 for the same
    distribution, well above it for a blurred one."""
    rng = np.random.default_rng(0)
    real = [ndimage.gaussian_filter(rng.random((32, 32)), 1.0) for _ in range(16)]
    fake = [ndimage.gaussian_filter(rng.random((32, 32)), 1.0) for _ in range(16)]
    blur = [ndimage.gaussian_filter(x, 3.0) for x in fake]
    fx = load_extractor(_extractor(), size=32)
    same = score(real, fake, n_boot=3, n_perm=3, kid_extractor=fx, seed=5)["kid"]
    other = score(real, blur, n_boot=3, n_perm=3, kid_extractor=fx, seed=5)["kid"]
    assert same["subset_size"] == 8
    direct = offline_kid([np.asarray(x, np.float32) for x in real],
                         [np.asarray(x, np.float32) for x in fake], fx, seed=5)
    assert same["kid_mean"] == pytest.approx(direct["kid_mean"], rel=1e-6, abs=1e-9)
    assert abs(same["kid_mean"]) <= 3 * same["kid_std"] + 1e-6
    assert other["kid_mean"] > same["kid_mean"] + 3 * same["kid_std"]


def test_forward_keeps_one_sided_batches_and_gives_the_batch_value():
    # torchmetrics' forward computes the batch alone after setting the accumulated state aside;
    # a batch of real (or fake) images only failed there, and the images added before were lost
    real, fake = _batch(0, 2.0, 6, 24), _batch(1, 3.5, 6, 24)
    ref = TopologicalRealism()
    ref.update(real=real, fake=fake)
    want = ref.compute()["topological_distance"].item()
    m = TopologicalRealism()
    assert m(real=real[:3]) is None and m(fake=fake) is None
    assert m(real=real[3:], fake=fake[:1]) is None
    assert m.compute()["topological_distance"].item() == pytest.approx(
        TopologicalRealism()(real=real, fake=torch.cat([fake, fake[:1]]))["topological_distance"].item(),
        rel=1e-6)
    b = TopologicalRealism()
    assert b(real=real, fake=fake)["topological_distance"].item() == pytest.approx(want, rel=1e-6)


def test_images_outside_value_range_are_refused_not_clamped():
    real = _batch(0, 2.0, 4, 24)
    with pytest.raises(InputError, match=r"value_range=\(0, 1\).*tanh"):
        TopologicalRealism().update(real=real * 2 - 1)           # tanh output, default range
    with pytest.raises(InputError, match="outside value_range"):
        TopologicalRealism().update(fake=(real * 255).to(torch.uint8))
    m = TopologicalRealism(value_range=(0, 255))                 # 8-bit images, range given
    m.update(real=(real * 255).round().to(torch.uint8), fake=(real * 255).round().to(torch.uint8))
    assert m.compute()["topological_distance"].item() >= 0
    TopologicalRealism().update(real=real * 1.02)                # a slight overshoot is clamped
    ok = TopologicalRealism()
    ok.update(real=list(real[:, 0].numpy()))                     # a list of same-size arrays
    with pytest.raises(InputError, match="same-size"):
        TopologicalRealism().update(real=[np.zeros((8, 8)), np.zeros((9, 9))])
