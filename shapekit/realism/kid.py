"""Offline KID (and FID where the sample allows it) with a local feature extractor.

Every common FID/KID implementation downloads Inception weights on first use; this machine and
most clusters have no network. Here the extractor is always local: any ``nn.Module`` mapping
``(N, 1, H, W)`` float images in [0, 1] to ``(N, d)`` features (shapekit's own CNN from a weights
file: ``shapekit.temper.cnn.load_feature_extractor``, which the CLI's ``--kid-model`` uses).

Nothing is downloaded, ever. Images are centre-cropped to a square and resized to ``size``
pixels (anti-aliased) before the extractor. KID uses torchmetrics' ``KernelInceptionDistance``
with a subset size adapted to the sample (``min(1000, max(2, n // 2))`` with ``n`` the smaller set, so
the spread over subsets means something; torchmetrics errors when it exceeds a set's size); FID (torchmetrics ``FrechetInceptionDistance``) is reported only when
both sets have more images than feature dimensions (otherwise the covariance is singular and FID
is meaningless).

References
----------
.. [1] Binkowski, M., Sutherland, D. J., Arbel, M., Gretton, A. "Demystifying MMD GANs",
   ICLR (2018) (KID).
.. [2] Heusel, M. et al. "GANs trained by a two time-scale update rule converge to a local Nash
   equilibrium", NeurIPS (2017) (FID).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["GreyFeatureWrapper", "load_extractor", "offline_kid"]


def _toy_extractor() -> Any:
    """A tiny untrained convolutional extractor (for the examples)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten())

try:  # torch is a hard dependency, but keep this module importable for --help paths
    from torch import nn as _nn
    _Base: Any = _nn.Module
except ImportError:  # pragma: no cover
    _Base = object


class GreyFeatureWrapper(_Base):
    """Adapt a grey-image extractor to torchmetrics' KID/FID input conventions.

    Accepts ``(N, C, H, W)`` uint8 (0..255) or float ([0, 1]) tensors with C = 1 or 3 (channels
    averaged), centre-crops to a square, resizes to ``size`` and returns ``extractor(x)`` as
    float features ``(N, d)``.

    Examples
    --------
    >>> import torch
    >>> w = GreyFeatureWrapper(_toy_extractor(), size=32)
    >>> w(torch.randint(0, 255, (2, 3, 40, 50), dtype=torch.uint8)).shape
    torch.Size([2, 16])
    """

    def __init__(self, extractor: Any, size: int = 128) -> None:
        super().__init__()
        self.extractor = extractor
        self.size = int(size)
        self.extractor.eval()

    def forward(self, x: Any) -> Any:
        import torch
        from torch.nn import functional as F

        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        x = x.float()
        if x.ndim == 3:
            x = x[:, None]
        if x.shape[1] != 1:
            x = x.mean(dim=1, keepdim=True)
        h, w = x.shape[-2:]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[..., top: top + s, left: left + s]
        if s != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        with torch.no_grad():
            return self.extractor(x).float().reshape(len(x), -1)


def load_extractor(source: Any, size: int = 128) -> GreyFeatureWrapper:
    """Wrap a local feature extractor (an ``nn.Module``) for :func:`offline_kid`.

    Parameters
    ----------
    source : nn.Module or GreyFeatureWrapper
        Maps ``(N, 1, H, W)`` float images in [0, 1] to ``(N, d)`` features.
    size : int
        Side of the square the images are resized to.

    Returns
    -------
    GreyFeatureWrapper

    Examples
    --------
    >>> load_extractor(_toy_extractor(), size=32).size
    32
    """
    if isinstance(source, GreyFeatureWrapper):
        return source
    if not callable(source) or not hasattr(source, "eval"):
        raise InputError(f"KID feature extractor must be an nn.Module, got {type(source).__name__} "
                         f"(a SmallResNet weights file: shapekit.temper.cnn.load_feature_extractor)")
    return GreyFeatureWrapper(source, size)


def _to_tensor(images: list[np.ndarray], wrapper: GreyFeatureWrapper) -> Any:
    import torch
    from torch.nn import functional as F

    out = []
    for im in images:
        t = torch.as_tensor(np.asarray(im, np.float32))[None, None]
        h, w = t.shape[-2:]
        s = min(h, w)
        t = t[..., (h - s) // 2: (h - s) // 2 + s, (w - s) // 2: (w - s) // 2 + s]
        if s != wrapper.size:
            t = F.interpolate(t, size=(wrapper.size, wrapper.size), mode="bilinear", antialias=True,
                              align_corners=False)
        out.append(t)
    return torch.cat(out)


def offline_kid(real: list[np.ndarray], fake: list[np.ndarray], extractor: Any, *, subsets: int = 100,
                subset_size: int | None = None, seed: int = 0, batch_size: int = 64,
                device: str | None = None) -> dict[str, Any]:
    """KID (mean, std over subsets) and, when ``n > d``, FID between two image sets.

    Parameters
    ----------
    real, fake : list of ndarray (h, w)
        Grey images in [0, 1].
    extractor : nn.Module or GreyFeatureWrapper
        See :func:`load_extractor`.
    subsets : int
        KID subsets.
    subset_size : int, optional
        Default ``min(1000, max(2, n // 2))``, ``n = min(n_real, n_fake)``.
    seed : int
        Seed of the subset draws.
    device : str, optional
        Torch device (CUDA when available by default).

    Returns
    -------
    dict
        ``kid_mean``, ``kid_std``, ``subset_size``, ``fid`` (None when a set has no more images
        than feature dimensions), ``feature_dim``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> r = offline_kid([rng.random((32, 32)) for _ in range(8)], [rng.random((32, 32)) for _ in range(8)],
    ...                 load_extractor(_toy_extractor(), size=32), subsets=5)
    >>> r["subset_size"], r["fid"] is None
    (4, True)
    """
    import torch
    from torchmetrics.image.kid import KernelInceptionDistance

    from shapekit._device import default_device

    if len(real) < 2 or len(fake) < 2:
        raise InputError(f"KID needs at least 2 images per set, got {len(real)} real and {len(fake)} synthetic")
    wrapper = load_extractor(extractor)
    dev = default_device(device)
    wrapper = wrapper.to(dev)
    n = min(len(real), len(fake))
    ss = int(min(subset_size or min(1000, max(2, n // 2)), n))
    feats = {}
    for name, ims in (("real", real), ("fake", fake)):
        chunks = []
        for i in range(0, len(ims), batch_size):
            chunks.append(wrapper(_to_tensor(ims[i: i + batch_size], wrapper).to(dev)).cpu().double())
        feats[name] = torch.cat(chunks)
    d = int(feats["real"].shape[1])
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=subsets, subset_size=ss)
    kid.update(feats["real"], real=True)
    kid.update(feats["fake"], real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        km, ks = kid.compute()
    fid = None
    if min(len(real), len(fake)) > d:
        from torchmetrics.image.fid import FrechetInceptionDistance

        ident = torch.nn.Identity()
        ident.num_features = d
        fm = FrechetInceptionDistance(feature=ident)
        fm.update(feats["real"], real=True)
        fm.update(feats["fake"], real=False)
        fid = float(fm.compute())
    return {"kid_mean": float(km), "kid_std": float(ks), "subset_size": ss, "fid": fid,
            "feature_dim": d, "n_real": len(real), "n_fake": len(fake)}
