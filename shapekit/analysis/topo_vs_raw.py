"""Raw tiles vs their persistence images: paired data and one small CNN for both (arXiv 2211.07697).

McGuire et al. train the same architecture on images and on persistence images of the same images
and compare the two networks layer by layer with CKA and model stitching. This module builds the
paired data from grey micrographs (a raw tile and the H0/H1 sublevel-set persistence images of the
same tile, at the same spatial size so that a 1x1-conv stitch can map one model's feature maps into
the other's) and a small CNN that accepts either.

References
----------
.. [1] S. McGuire, S. Jackson, T. Emerson, H. Kvinge, "Do neural networks trained with topological
   features learn different internal representations?", PMLR 197 (2023), arXiv:2211.07697.
.. [2] H. Adams et al., "Persistence images: a stable vector representation of persistent
   homology", JMLR 18 (2017).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shapekit._progress import progress
from shapekit.errors import InputError

__all__ = ["raw_and_pi_tiles", "TinyCNN", "train_tiny_cnn", "TINY_CNN_LAYERS"]

TINY_CNN_LAYERS = ("relu1", "relu2", "relu3", "gap")


def raw_and_pi_tiles(images: Sequence[np.ndarray], labels: Sequence[int], *, tile: int = 128,
                     size: int = 32, per_image: int = 4, ph_downsample: int = 2,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Paired inputs: raw tiles ``(N, 1, size, size)`` and persistence images ``(N, 2, size, size)``.

    ``per_image`` random ``tile`` x ``tile`` crops per image (deterministic per ``seed``). The raw
    input is the crop area-downsampled to ``size`` and z-scored per tile; the topological input
    holds the sublevel H0 and H1 persistence images (birth x persistence, ``size`` x ``size``, grid
    ranges from the 1st/99th percentiles of all pairs) of the crop downsampled by
    ``ph_downsample``, each channel standardised over the data set.

    Returns
    -------
    dict
        ``raw``, ``pi`` (float32), ``y`` (int64), ``image`` (index of the source image, int64).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = raw_and_pi_tiles([rng.random((80, 80)) for _ in range(2)], [0, 1], tile=64, size=16,
    ...                      per_image=2)
    >>> d["raw"].shape, d["pi"].shape, d["y"].tolist()
    ((4, 1, 16, 16), (4, 2, 16, 16), [0, 0, 1, 1])
    """
    import cv2

    from shapekit.topology import cubical_persistence, persistence_images

    if len(images) != len(labels):
        raise InputError(f"{len(images)} images but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    raws, dgms, ys, idx = [], [], [], []
    for i, (img, lab) in enumerate(zip(progress(images, desc="tiles"), labels)):
        img = np.asarray(img, np.float32)
        h, w = img.shape
        if h < tile or w < tile:
            raise InputError(f"image {i} is {h}x{w}, smaller than the {tile}px tile")
        for _ in range(per_image):
            r, c = rng.integers(0, h - tile + 1), rng.integers(0, w - tile + 1)
            crop = img[r:r + tile, c:c + tile]
            small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            raws.append((small - small.mean()) / (small.std() + 1e-3))
            ph_in = crop if ph_downsample <= 1 else cv2.resize(
                crop, (tile // ph_downsample, tile // ph_downsample), interpolation=cv2.INTER_AREA)
            d = cubical_persistence(ph_in, "sublevel", dims=(0, 1), essential="drop")
            dgms.append((d[0], d[1]))
            ys.append(int(lab))
            idx.append(i)
    pis = np.zeros((len(dgms), 2, size, size), np.float32)
    for k in range(2):
        pairs = np.concatenate([g[k] for g in dgms if len(g[k])] or [np.zeros((1, 2))])
        births, pers = pairs[:, 0], np.abs(pairs[:, 1] - pairs[:, 0])
        b_rng = (float(np.percentile(births, 1)), float(np.percentile(births, 99)) + 1e-6)
        p_rng = (0.0, float(np.percentile(pers, 99)) + 1e-6)
        pis[:, k] = persistence_images([g[k] for g in dgms], b_rng, p_rng, resolution=size,
                                       sigma=1.0).reshape(len(dgms), size, size)
        ch = pis[:, k]
        pis[:, k] = (ch - ch.mean()) / (ch.std() + 1e-12)
    return {"raw": np.stack(raws)[:, None].astype(np.float32), "pi": pis,
            "y": np.asarray(ys, np.int64), "image": np.asarray(idx, np.int64)}


class TinyCNN(nn.Sequential):
    """Three 3x3 conv + ReLU stages (max-pool after the first two), global average pooling, linear.

    Layer names for the analysis tools: ``relu1`` (width, s), ``relu2`` (2 width, s/2), ``relu3``
    (2 width, s/4), ``gap`` (2 width), ``fc`` (logits). Raw tiles and persistence images of the
    same size give feature maps of the same shape, so a 1x1 conv can stitch them.

    Examples
    --------
    >>> TinyCNN(in_channels=2, width=8)(torch.rand(3, 2, 32, 32)).shape
    torch.Size([3, 3])
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 3, width: int = 16) -> None:
        w2 = 2 * width
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, width, 3, padding=1)), ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(width, w2, 3, padding=1)), ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(w2, w2, 3, padding=1)), ("relu3", nn.ReLU()),
            ("gap", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
            ("fc", nn.Linear(w2, n_classes)),
        ]))


def train_tiny_cnn(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *, n_classes: int = 3,
                   width: int = 16, epochs: int = 15, lr: float = 3e-3, batch_size: int = 64,
                   weight_decay: float = 1e-4, flips: bool = True, seed: int = 0,
                   device: str | None = None) -> TinyCNN:
    """Train a :class:`TinyCNN` (Adam, cross-entropy; random flips of raw tiles when ``flips``).

    The result depends only on ``seed``; torch's global random state is left as it was.

    Flips are applied only to 1-channel inputs (a flipped persistence image is not a persistence
    image). Returns the network in eval mode on the CPU.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(32, 1, 8, 8)).astype(np.float32)
    >>> net = train_tiny_cnn(x, np.arange(32) % 3, width=4, epochs=1)
    >>> net(torch.from_numpy(x)).shape
    torch.Size([32, 3])
    """
    from shapekit._device import default_device, seeded

    dev = default_device(device)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    with seeded(seed, dev):  # the initial weights depend on seed only; the caller's RNG is kept
        gen = torch.Generator().manual_seed(seed)
        net = TinyCNN(xt.shape[1], n_classes, width).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        net.train()
        for _ in progress(range(epochs), desc="train"):
            for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
                xb = xt[idx]
                if flips and xb.shape[1] == 1:
                    if torch.rand(1, generator=gen) < 0.5:
                        xb = xb.flip(-1)
                    if torch.rand(1, generator=gen) < 0.5:
                        xb = xb.flip(-2)
                loss = F.cross_entropy(net(xb.to(dev)), yt[idx].to(dev))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net.eval().cpu()
