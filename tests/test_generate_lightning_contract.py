"""The Lightning pieces used as Lightning documents them: a Trainer built by hand.

``Trainer(fast_dev_run=True).fit(ConditionalGAN(...), datamodule=GANDataModule(...))`` runs on
the CPU in seconds. A module that does not fit the data failed deep in torch (``IndexError:
index out of range in self`` for too few classes, a matmul shape error for too many conditions)
or trained quietly wrong (conditions left out, crops of another size); it is now one InputError
line naming the mismatch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pl = pytest.importorskip("pytorch_lightning")

from shapekit.errors import InputError  # noqa: E402
from shapekit.generate import ConditionalGAN, ConditionCodec, GANDataModule  # noqa: E402

SMALL = dict(z_local=2, z_global=4, w_dim=8, g_channels=4, d_channels=4)


def _trainer():
    return pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=False,
                      enable_progress_bar=False, enable_model_summary=False)


def _data(n_classes=2, values=None):
    imgs = [np.random.default_rng(i).random((48, 48)).astype(np.float32) for i in range(4)]
    names = [f"t{j}" for j in range(0 if values is None else values.shape[1])]
    vals = np.zeros((4, 0)) if values is None else values
    codec = ConditionCodec.fit([f"c{k}" for k in range(n_classes)], names, vals,
                               mode="class" if values is None else "parameters")
    return GANDataModule(imgs, np.arange(4) % n_classes, vals, codec, crop_size=32,
                         batch_size=2, steps=2)


def test_fast_dev_run_on_the_cpu():
    m = ConditionalGAN(crop_size=32, n_classes=2, n_cond=1, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trainer().fit(m, datamodule=_data(2, np.arange(4.0)[:, None] + 1))
    assert m.iteration == 1


@pytest.mark.parametrize("kwargs, values, match", [
    (dict(n_classes=2), None, r"n_classes=2 \(the data's: 3\)"),
    (dict(n_classes=3, n_cond=0), np.arange(4.0)[:, None] + 1, r"n_cond=0 \(the data's: 1\)"),
    (dict(n_classes=3, n_cond=2), np.arange(4.0)[:, None] + 1, r"n_cond=2 \(the data's: 1\)"),
])
def test_a_module_that_does_not_fit_the_data_is_one_line(kwargs, values, match):
    m = ConditionalGAN(crop_size=32, **kwargs, **SMALL)
    with pytest.raises(InputError, match="ConditionalGAN does not fit this GANDataModule: " + match):
        _trainer().fit(m, datamodule=_data(3, values))


def test_crop_size_must_match():
    m = ConditionalGAN(crop_size=64, n_classes=2, **SMALL)
    with pytest.raises(InputError, match=r"crop_size=64 \(the data's: 32\)"):
        _trainer().fit(m, datamodule=_data(2))
