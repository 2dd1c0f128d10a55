"""``ConditionalGAN(ema_decay=2.0)`` (and a negative loss weight, a learning rate <= 0, an Adam
beta of 1.5, ``r1_every=0``) was accepted and trained nonsense (an EMA generator that runs away,
a term that rewards what it should penalise) or failed only at the first optimizer step. Each is
now refused by the constructor with one line naming the setting."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from shapekit.generate.module import ConditionalGAN  # noqa: E402

TINY = dict(crop_size=16, n_classes=2, z_local=2, z_global=4, w_dim=8, g_channels=4,
            d_channels=4, n_up=2, d_blocks=2)


@pytest.mark.parametrize("setting, message", [
    ({"ema_decay": 2.0}, "ema_decay=2.0 must be a number in [0, 1)"),
    ({"ema_decay": 1.0}, "ema_decay=1.0 must be a number in [0, 1)"),
    ({"ema_decay": -0.1}, "ema_decay=-0.1 must be a number in [0, 1)"),
    ({"lr_g": 0.0}, "lr_g=0.0 must be a finite number > 0"),
    ({"lr_d": -1e-4}, "lr_d=-0.0001 must be a finite number > 0"),
    ({"beta2": 1.5}, "beta2=1.5 must be a number in [0, 1)"),
    ({"aux_weight": -1.0}, "aux_weight=-1.0 must be a finite number >= 0"),
    ({"fraction_weight": -2}, "fraction_weight=-2 must be a finite number >= 0"),
    ({"r1_gamma": float("nan")}, "r1_gamma=nan must be a finite number >= 0"),
    ({"lattice_image_weight": float("inf")}, "lattice_image_weight=inf must be a finite number >= 0"),
    ({"r1_every": 0}, "r1_every=0 must be an int >= 1"),
    ({"d_warmup": 1.5}, "d_warmup=1.5 must be an int >= 0"),
    ({"margin_cells": -1}, "margin_cells=-1 must be None or an int >= 0"),
])
def test_out_of_range_settings_are_refused_by_the_constructor(setting, message):
    with pytest.raises(ValueError) as e:
        ConditionalGAN(**TINY, **setting)
    assert str(e.value) == message


def test_the_edges_of_the_ranges_are_accepted():
    m = ConditionalGAN(**TINY, ema_decay=0.0, beta1=0.0, aux_weight=0.0, r1_gamma=0.0,
                       margin_cells=None, d_warmup=0)
    assert m.hparams.ema_decay == 0.0
    # the checks that were there keep their messages
    with pytest.raises(ValueError, match="crop_size must be >= 16 and a multiple of 4 and 4, "
                                         "got 18"):
        ConditionalGAN(**{**TINY, "crop_size": 18})


def test_train_gan_refuses_them_before_reading_any_image(tmp_path, monkeypatch):
    # train_gan(..., ema_decay=2.0) read and resampled every image before the module refused it
    import shapekit.io
    from cli_helpers import forbid
    from shapekit.errors import InputError
    from shapekit.generate.train import train_gan
    from test_generate import make_tiny_dataset

    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    forbid(monkeypatch, "an image was read", (shapekit.io, "read_image"))
    with pytest.raises(InputError, match=r"^ema_decay=2\.0 must be a number in \[0, 1\)$"):
        train_gan(manifest, tmp_path / "run", crop_size=32, max_steps=1, ema_decay=2.0)
    with pytest.raises(InputError, match="crop_size must be >= 16 and a multiple of 8 and 8"):
        train_gan(manifest, tmp_path / "run", crop_size=36, max_steps=1)
    assert not (tmp_path / "run").exists()
