"""The twin auxiliary classifier (TAC-GAN, ``twin_aux=True``): its head, its losses, its errors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from shapekit.generate.module import ConditionalGAN  # noqa: E402
from shapekit.generate.discriminator import Discriminator  # noqa: E402

TINY = dict(z_local=2, z_global=8, w_dim=8, g_channels=4, d_channels=4)


def test_twin_head_is_a_second_class_head_on_the_same_features() -> None:
    torch.manual_seed(0)
    d = Discriminator(3, channels=[4, 8], twin=True).eval()
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 0])
    out, cls, reg, tw = d(x, y, aux=True)
    assert torch.equal(out, d(x, y)) and reg is None and cls.shape == tw.shape == (4, 3)
    # the same weights as the class head give the same logits: one pooled feature feeds both
    d.aux_twin.load_state_dict(d.aux_cls.state_dict())
    assert torch.equal(d(x, y, aux=True)[3], cls)
    assert len(Discriminator(3, channels=[4, 8])(x, y, aux=True)) == 3   # off by default
    with pytest.raises(ValueError, match="twin auxiliary classifier needs"):
        Discriminator(1, channels=[4, 8], twin=True)
    with pytest.raises(ValueError, match="twin auxiliary classifier needs"):
        Discriminator(3, channels=[4, 8], aux_heads=False, twin=True)


def test_twin_aux_needs_the_auxiliary_classifier_and_classes() -> None:
    with pytest.raises(ValueError, match="twin auxiliary classifier needs"):
        ConditionalGAN(crop_size=16, n_classes=3, n_up=2, d_blocks=2, twin_aux=True,
                       aux_weight=0.0, **TINY)
    with pytest.raises(ValueError, match="twin auxiliary classifier needs"):
        ConditionalGAN(crop_size=16, n_classes=1, n_up=2, d_blocks=2, twin_aux=True, **TINY)
    m = ConditionalGAN(crop_size=16, n_classes=3, n_up=2, d_blocks=2, twin_aux=True, **TINY)
    assert m.discriminator.aux_twin is not None


def test_generator_auxiliary_term_is_the_class_error_less_the_twin_error() -> None:
    from shapekit.generate.losses import auxiliary_loss

    y = torch.tensor([0, 1, 2, 2])
    cls = torch.tensor([[2.0, 0, 0], [0, 1, 0], [0, 0, 3], [1, 1, 1]])
    reg, cond = torch.tensor([[0.5], [0.0], [1.0], [0.0]]), torch.zeros(4, 1)
    ce = torch.nn.functional.cross_entropy(cls, y).item()
    assert auxiliary_loss(cls, reg, y, cond).item() == pytest.approx(ce + 1.25 / 4)
    # a twin that classifies as well as the class head cancels its term: only the regression
    assert auxiliary_loss(cls, reg, y, cond, twin=cls).item() == pytest.approx(1.25 / 4)
    # a twin that cannot tell the classes apart (uniform logits) leaves ce - ln 3
    flat = torch.zeros(4, 3)
    assert auxiliary_loss(cls, None, y, None, twin=flat).item() == pytest.approx(ce - math.log(3))


def test_training_with_a_twin_classifier(tmp_path: Path) -> None:
    """A short class-mode run: D learns the twin head on generated images (its loss logged), the
    head is in the checkpoint, and the export is a plain generator."""
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    from test_generate import make_tiny_dataset

    torch.set_num_threads(1)
    manifest = make_tiny_dataset(tmp_path / "data")
    train_gan(manifest, tmp_path / "run", condition="class", crop_size=32, max_steps=3,
              batch_size=4, seed=0, sample_every=0, log_every=1, n_up=2, d_blocks=2,
              twin_aux=True, **TINY)
    rows = list(csv.DictReader(open(sorted((tmp_path / "run" / "logs").rglob("metrics.csv"))[-1])))
    twin = [float(r["aux_twin"]) for r in rows if r.get("aux_twin")]
    assert len(twin) == 3 and all(0 < t < 10 * math.log(2) for t in twin)
    ck = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu",
                    weights_only=True)
    assert "discriminator.aux_twin.weight" in ck["state_dict"]
    assert ck["hyper_parameters"]["twin_aux"] is True
    sample = load_generator(tmp_path / "run").sample(1, label="a", seed=0, size=24)
    assert sample.shape == (1, 24, 24)


def test_cli_twin_aux_on_one_class_is_a_one_line_error(run_cli, tmp_path: Path) -> None:
    from test_generate import make_tiny_dataset

    manifest = make_tiny_dataset(tmp_path / "d", n=1)          # one temper class only
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--twin-aux",
                           "--max-steps", "1", "--crop-size", "32")
    assert code == 2 and err.strip().splitlines()[-1] == (
        "shapekit: error: a twin auxiliary classifier needs the auxiliary heads (aux_weight > 0) "
        "and two classes or more")
    assert not (tmp_path / "r" / "config.json").exists()
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--twin-aux", "--resume")
    assert code == 2 and "--twin-aux starts a new run" in err
