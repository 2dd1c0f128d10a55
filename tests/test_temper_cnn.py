"""SmallResNet and its Lightning training: shapes, invariances, learning a separable task, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapekit.errors import InputError, ModelFormatError
from shapekit.temper.cnn import FeatureExtractor, SmallResNet, load_feature_extractor


def test_shapes_and_embedding_dim():
    """Known layout: stride-2 stem, stages at strides 1, 2, 2 doubling the width; the embedding is
    the global mean of the last map and the logits are the head applied to it."""
    torch.manual_seed(0)
    net = SmallResNet(in_channels=1, n_classes=3, width=8, depths=(1, 2, 1)).eval()
    maps = []
    for stage in net.stages:
        stage.register_forward_hook(lambda m, i, o: maps.append(o))
    x = torch.rand(5, 1, 40, 24)
    logits = net(x)
    assert [tuple(m.shape) for m in maps] == [(5, 8, 20, 12), (5, 16, 10, 6), (5, 32, 5, 3)]
    assert [len(st) for st in net.stages] == [1, 2, 1]
    emb = net.features(x)
    assert emb.shape == (5, 32) and net.embedding_dim == 32
    assert torch.allclose(emb, maps[-1].mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(logits, emb @ net.head.weight.T + net.head.bias, atol=1e-5)
    extractor = SmallResNet(n_classes=0, width=4)  # a pure extractor: forward is the embedding
    assert extractor(x).shape == (5, 16) and isinstance(extractor.head, torch.nn.Identity)


@pytest.mark.parametrize("padding", ["zeros", "circular", "reflect"])
def test_padding_modes(padding):
    """Every 3x3 convolution pads as asked: the stem equals explicit padding + a valid conv."""
    torch.manual_seed(0)
    net = SmallResNet(n_classes=2, width=4, padding=padding).eval()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 7 and all(c.padding_mode == padding for c in convs)
    x = torch.rand(2, 1, 16, 16)
    mode = {"zeros": "constant", "circular": "circular", "reflect": "reflect"}[padding]
    conv = net.stem[0]
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode=mode),
                                          conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), expected, atol=1e-6)


def test_circular_padding_is_shift_equivariant():
    torch.manual_seed(0)
    net = SmallResNet(n_classes=0, width=4, depths=(1,), padding="circular").eval()
    x = torch.rand(1, 1, 32, 32)
    # a circular shift by the total stride (2) permutes the feature map: pooled features equal
    shifted = torch.roll(x, shifts=(2, 4), dims=(2, 3))
    assert torch.allclose(net.features(x), net.features(shifted), atol=1e-5)
    zeros = SmallResNet(n_classes=0, width=4, depths=(1,), padding="zeros").eval()
    zeros.load_state_dict(net.state_dict())
    assert not torch.allclose(zeros.features(x), zeros.features(shifted), atol=1e-5)


def test_standardize_ignores_brightness_and_contrast():
    net = SmallResNet(n_classes=3, width=4).eval()
    x = torch.rand(2, 1, 24, 24)
    assert torch.allclose(net(x), net(0.5 * x + 0.2), atol=1e-3)


def test_bad_arguments():
    with pytest.raises(InputError):
        SmallResNet(padding="mirror")
    with pytest.raises(InputError):
        SmallResNet(width=0)
    with pytest.raises(InputError, match="shape"):
        SmallResNet(in_channels=1)(torch.rand(2, 3, 8, 8))


def test_feature_extractor_is_module():
    fx = FeatureExtractor(SmallResNet(n_classes=2, width=4))
    assert isinstance(fx, torch.nn.Module) and not fx.training
    assert fx(torch.rand(2, 1, 16, 16)).shape == (2, fx.embedding_dim)


def _stripes_vs_spots(n, rng, size=24):
    yy, xx = np.mgrid[:size, :size]
    out, lab = [], []
    for i in range(n):
        if i % 2 == 0:
            period = rng.uniform(4, 7)
            img = 0.5 + 0.4 * np.sin(2 * np.pi * (xx * rng.uniform(0.8, 1.2) + yy * rng.uniform(-.3, .3)) / period)
        else:
            img = np.zeros((size, size))
            for _ in range(6):
                cy, cx = rng.uniform(0, size, 2)
                img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0)
            img = np.clip(img, 0, 1)
        out.append(img + rng.normal(0, 0.03, img.shape))
        lab.append(i % 2)
    return np.asarray(out, np.float32), np.asarray(lab)


def test_training_learns_separable_task_and_is_deterministic():
    from shapekit.temper.cnn_train import embed_tiles, fit_tile_cnn, predict_tile_proba

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x, y = _stripes_vs_spots(64, rng)
    xt, yt = _stripes_vs_spots(32, np.random.default_rng(1))
    net = fit_tile_cnn(x, y, 2, width=8, max_epochs=6, batch_size=16, seed=3)
    p = predict_tile_proba(net, xt)
    assert p.shape == (32, 2) and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == yt).mean() >= 0.9
    net2 = fit_tile_cnn(x, y, 2, width=8, max_epochs=6, batch_size=16, seed=3)
    assert np.allclose(predict_tile_proba(net2, xt), p, atol=1e-5)
    assert embed_tiles(net, xt).shape == (32, net.embedding_dim)


def test_fit_rejects_bad_input():
    from shapekit.temper.cnn_train import fit_tile_cnn

    x = np.zeros((4, 8, 8), np.float32)
    with pytest.raises(InputError, match="labels"):
        fit_tile_cnn(x, np.array([0, 1, 2, 3]), 2)
    x[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fit_tile_cnn(x, np.array([0, 1, 0, 1]), 2)


def test_load_feature_extractor_from_safetensors(tmp_path):
    import json

    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = SmallResNet(n_classes=0, width=4)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "cnn.safetensors"))
    with pytest.raises(ModelFormatError, match="architecture"):
        load_feature_extractor(tmp_path / "cnn.safetensors")
    (tmp_path / "cnn.json").write_text(json.dumps(net.config()))
    fx = load_feature_extractor(tmp_path / "cnn.safetensors")
    x = torch.rand(3, 1, 32, 32)
    assert torch.allclose(fx(x), net.eval().features(x), atol=1e-6)
    fx_dir = load_feature_extractor(tmp_path)     # a model directory
    assert torch.allclose(fx_dir(x), fx(x))
    with pytest.raises(ModelFormatError, match="not found"):
        load_feature_extractor(tmp_path / "nope.safetensors")
    (tmp_path / "cnn.json").write_text(json.dumps(dict(net.config(), width=8)))
    with pytest.raises(ModelFormatError):
        load_feature_extractor(tmp_path / "cnn.safetensors")
