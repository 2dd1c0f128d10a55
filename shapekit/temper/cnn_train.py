"""Training and inference of the :class:`~shapekit.temper.cnn.SmallResNet` tile classifier.

The model logic lives in a Lightning module (:class:`TileClassifierModule`); the Trainer owns the
loop and the device (CUDA when present, CPU otherwise). :func:`fit_tile_cnn` is the functional entry
point used by the model directories and the cross-validation script.

References
----------
He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv 1512.03385).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F

from shapekit._device import default_device
from shapekit._torchops import gaussian_blur
from shapekit.errors import InputError
from shapekit.temper.cnn import SmallResNet


def _augment(x: torch.Tensor, generator: torch.Generator, noise: float, blur: float) -> torch.Tensor:
    """Random dihedral transform per batch, plus optional Gaussian noise and blur."""
    k = int(torch.randint(0, 4, (1,), generator=generator))
    x = torch.rot90(x, k, dims=(2, 3))
    if bool(torch.randint(0, 2, (1,), generator=generator)):
        x = torch.flip(x, dims=(3,))
    if blur > 0:
        sig = float(torch.rand(1, generator=generator)) * blur
        if sig > 0.3:
            x = gaussian_blur(x, sig)
    if noise > 0:
        sig = torch.rand(x.shape[0], 1, 1, 1, generator=generator).to(x.device) * noise
        x = x + sig * torch.randn(x.shape, generator=generator).to(x.device)
    return x


class TileClassifierModule(pl.LightningModule):
    """Lightning module training a :class:`SmallResNet` on labelled tiles (cross-entropy, AdamW).

    Parameters
    ----------
    n_classes, width, depths, padding, standardize
        Passed to :class:`SmallResNet`.
    lr, weight_decay : float
        AdamW parameters; the learning rate follows a cosine schedule over ``max_epochs``.
    max_epochs : int
        Length of the cosine schedule.
    aug_noise, aug_blur : float
        Maximum sigma of the Gaussian noise / blur augmentations (0 disables them).
    seed : int
        Seeds the augmentation generator.

    Examples
    --------
    >>> import torch
    >>> m = TileClassifierModule(n_classes=2, width=4)
    >>> m(torch.rand(2, 1, 16, 16)).shape
    torch.Size([2, 2])
    """

    def __init__(self, n_classes: int, width: int = 16, depths: tuple[int, ...] = (1, 1, 1),
                 padding: str = "zeros", standardize: bool = True, lr: float = 3e-3,
                 weight_decay: float = 1e-4, max_epochs: int = 20, aug_noise: float = 0.0,
                 aug_blur: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = SmallResNet(1, n_classes, width, tuple(depths), padding, standardize)
        self._gen = torch.Generator().manual_seed(int(seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        x = _augment(x, self._gen, self.hparams.aug_noise, self.hparams.aug_blur)
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False, batch_size=len(y))
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                weight_decay=self.hparams.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.hparams.max_epochs))
        return {"optimizer": opt, "lr_scheduler": sched}


def fit_tile_cnn(tiles: np.ndarray, labels: np.ndarray, n_classes: int, *, width: int = 16,
                 depths: tuple[int, ...] = (1, 1, 1), padding: str = "zeros", max_epochs: int = 20,
                 batch_size: int = 64, lr: float = 3e-3, aug_noise: float = 0.0,
                 aug_blur: float = 0.0, seed: int = 0, device: str | None = None) -> SmallResNet:
    """Train a :class:`SmallResNet` on ``(n, h, w)`` tiles in [0, 1] with integer labels.

    Parameters
    ----------
    tiles : ndarray, shape (n, h, w)
        Training tiles.
    labels : ndarray of int, shape (n,)
        Class index per tile, in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    width, depths, padding
        Architecture (see :class:`SmallResNet`).
    max_epochs, batch_size, lr : int, int, float
        Optimisation.
    aug_noise, aug_blur : float
        Augmentation strengths (random dihedral transforms are always applied).
    seed : int
        Seeds weights, batch order and augmentations.
    device : str, optional
        ``"cuda"``/``"cpu"``; default CUDA when present.

    Returns
    -------
    SmallResNet
        The trained network, on the CPU, in eval mode.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((8, 16, 16)).astype("float32"); y = np.arange(8) % 2
    >>> net = fit_tile_cnn(x, y, 2, width=4, max_epochs=1, batch_size=4)
    >>> net.n_classes
    2
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if tiles.ndim != 3 or len(tiles) != len(labels) or len(tiles) == 0:
        raise InputError(f"need (n, h, w) tiles with one label each, got {tiles.shape} / {labels.shape}")
    if not np.isfinite(tiles).all():
        raise InputError("training tiles contain NaN or Inf")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise InputError(f"labels must lie in [0, {n_classes}), got {labels.min()}..{labels.max()}")
    pl.seed_everything(seed, workers=True, verbose=False)
    dev = default_device(device)
    module = TileClassifierModule(n_classes, width, depths, padding, True, lr, 1e-4, max_epochs,
                                  aug_noise, aug_blur, seed)
    ds = torch.utils.data.TensorDataset(torch.from_numpy(tiles[:, None]), torch.from_numpy(labels))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                         drop_last=len(ds) > batch_size,
                                         generator=torch.Generator().manual_seed(seed))
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="gpu" if dev.type == "cuda" else "cpu",
                         devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=os.environ.get("SHAPEKIT_PROGRESS") == "1",
                         enable_model_summary=False, deterministic=dev.type != "cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, loader)
    net = module.net.cpu().eval()
    return net


@torch.no_grad()
def predict_tile_proba(net: SmallResNet, tiles: np.ndarray, *, batch_size: int = 128,
                       device: str | None = None, tta: bool = False) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` of ``(n, h, w)`` tiles (softmax of the logits).

    ``tta=True`` averages the probabilities over the 8 dihedral transforms of each tile.

    Examples
    --------
    >>> import numpy as np
    >>> p = predict_tile_proba(SmallResNet(n_classes=3, width=4), np.zeros((2, 16, 16), "float32"))
    >>> p.shape, bool(np.allclose(p.sum(1), 1))
    ((2, 3), True)
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim != 3:
        raise InputError(f"need (n, h, w) tiles, got shape {tiles.shape}")
    dev = default_device(device)
    net = net.to(dev).eval()
    out = []
    for i in range(0, len(tiles), batch_size):
        x = torch.from_numpy(tiles[i:i + batch_size, None]).to(dev)
        views = [x]
        if tta:
            views = [torch.rot90(v, k, dims=(2, 3)) for v in (x, torch.flip(x, dims=(3,))) for k in range(4)]
        p = torch.stack([torch.softmax(net(v), dim=1) for v in views]).mean(0)
        out.append(p.cpu().numpy())
    net.cpu()
    if not out:
        return np.zeros((0, net.n_classes), dtype=np.float64)
    return np.concatenate(out).astype(np.float64)


@torch.no_grad()
def embed_tiles(net: SmallResNet, tiles: np.ndarray, *, batch_size: int = 128,
                device: str | None = None) -> np.ndarray:
    """Penultimate embeddings ``(n, net.embedding_dim)`` of ``(n, h, w)`` tiles.

    Examples
    --------
    >>> import numpy as np
    >>> embed_tiles(SmallResNet(n_classes=3, width=4), np.zeros((2, 16, 16), "float32")).shape
    (2, 16)
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    dev = default_device(device)
    net = net.to(dev).eval()
    out = [net.features(torch.from_numpy(tiles[i:i + batch_size, None]).to(dev)).cpu().numpy()
           for i in range(0, len(tiles), batch_size)]
    net.cpu()
    return np.concatenate(out) if out else np.zeros((0, net.embedding_dim), np.float32)
