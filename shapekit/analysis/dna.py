"""Dynamic Network Augmentation (DNA): per-input augmentation ranges learned with the classifier.

A policy network ``g_phi(x)`` outputs, for each input, the fraction ``r in [0, 1]^3`` of the
maximal rotation, log-scale and translation ranges. A training input is warped by a
*differentiable* affine map (``affine_grid`` + ``grid_sample``) with parameters
``r * max * eps``, ``eps ~ U(-1, 1)`` (reparametrised, so gradients reach ``phi``), and the
classifier ``f_theta`` and the policy are trained jointly on::

    loss = CE(f_theta(T_{r(x), eps}(x)), y) - width_weight * mean(log r(x) over learned components)

(or Augerino's linear reward ``mean(r)``). The width reward keeps the policy from collapsing to "no augmentation" (as in Augerino); the
classifier's loss pulls the range down wherever the transformation changes the class. With
:class:`GlobalAugmentation` the ranges are one learned vector for all inputs (Augerino-style).
At test time the classifier sees the unwarped input (or an average over sampled warps).
:mod:`shapekit.analysis.dna_scans` applies it to a temper CNN on labelled micrographs.

References
----------
S. Mahan, T. Doster, H. Kvinge, "Dynamic Network Augmentation" / "Learning Invariances with
Generalised Input-Conditioned Augmentation", arXiv:2112.09277.
G. Benton, M. Finzi, P. Izmailov, A. G. Wilson, "Learning Invariances in Neural Networks from
Training Data" (Augerino), NeurIPS 2020, arXiv:2010.11882.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shapekit._device import default_device, seeded
from shapekit._progress import progress
from shapekit.errors import InputError

COMPONENTS = ("rotation", "scale", "translation")


def affine_warp(x: torch.Tensor, angle: torch.Tensor, log_scale: torch.Tensor,
                tx: torch.Tensor, ty: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Differentiable per-sample rotation (radians, counter-clockwise), zoom and shift.

    ``log_scale > 0`` zooms in; ``tx, ty`` are fractions of the half-width (``affine_grid`` units).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 8, 8)
    >>> z = torch.zeros(2)
    >>> bool(torch.allclose(affine_warp(x, z, z, z, z), x, atol=1e-6))
    True
    """
    s = torch.exp(-log_scale)
    c, si = torch.cos(angle) * s, torch.sin(angle) * s
    theta = torch.stack([torch.stack([c, -si, tx], 1), torch.stack([si, c, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


class AugmentationPolicy(nn.Module):
    """Per-input policy: a small CNN mapping ``(N, C, H, W)`` to range fractions ``(N, 3)``.

    Two convolutions, adaptive average pooling to a ``pool x pool`` map (which keeps the coarse
    layout, so the policy can tell a 6 from a 0) and an MLP read-out; SiLU activations (no dead
    units at the high learning rates a policy needs); the output starts at ``init`` for every
    input.

    Examples
    --------
    >>> import torch
    >>> AugmentationPolicy(1)(torch.rand(4, 1, 16, 16)).shape
    torch.Size([4, 3])
    """

    def __init__(self, in_channels: int = 1, hidden: int = 16, init: float = 0.5,
                 pool: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(), nn.AdaptiveAvgPool2d(pool),
            nn.Flatten(), nn.Linear(hidden * pool * pool, 32), nn.SiLU(), nn.Linear(32, 3))
        nn.init.normal_(self.net[-1].weight, std=1e-2)
        nn.init.constant_(self.net[-1].bias, math.log(init / (1 - init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


class GlobalAugmentation(nn.Module):
    """Augerino-style: one learned range vector (fractions in ``[0, 1]^3``) for every input.

    Examples
    --------
    >>> import torch
    >>> GlobalAugmentation()(torch.rand(2, 1, 8, 8))
    tensor([[0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000]], grad_fn=<ExpandBackward0>)
    """

    def __init__(self, init: float = 0.5) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.full((3,), math.log(init / (1 - init))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits).expand(x.shape[0], 3)


class DynamicAugmentation(nn.Module):
    """A classifier with a learned augmentation policy (DNA, or Augerino with a global policy).

    Parameters
    ----------
    classifier : nn.Module
        Any ``(N, C, H, W) -> (N, n_classes)`` model.
    policy : nn.Module, optional
        :class:`AugmentationPolicy` (default, per input) or :class:`GlobalAugmentation`.
        ``None`` trains without augmentation.
    max_rotation : float
        Largest rotation range in degrees (a fraction 1 means ``U(-max, max)``).
    max_scale : float
        Largest log-zoom range (0 disables the component).
    max_translation : float
        Largest shift in ``affine_grid`` units (1 = half the image; 0 disables).
    padding_mode : str
        ``grid_sample`` padding (``"zeros"`` for digits on black, ``"reflection"`` for textures).

    Examples
    --------
    >>> import torch
    >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> dna = DynamicAugmentation(clf, AugmentationPolicy(1))
    >>> xa, r = dna.augment(torch.rand(5, 1, 8, 8), torch.Generator().manual_seed(0))
    >>> xa.shape, r.shape
    (torch.Size([5, 1, 8, 8]), torch.Size([5, 3]))
    """

    def __init__(self, classifier: nn.Module, policy: nn.Module | None = None, *,
                 max_rotation: float = 180.0, max_scale: float = 0.0,
                 max_translation: float = 0.0, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.classifier = classifier
        self.policy = policy
        self.register_buffer("max_range", torch.tensor(
            [math.radians(max_rotation), max_scale, max_translation], dtype=torch.float32))
        self.padding_mode = padding_mode

    @property
    def learned(self) -> torch.Tensor:
        """Boolean mask of the components with a non-zero maximal range."""
        return self.max_range > 0

    def ranges(self, x: torch.Tensor) -> torch.Tensor:
        """Range fractions ``(N, 3)`` (zeros without a policy; disabled components are 0)."""
        if self.policy is None:
            return x.new_zeros(x.shape[0], 3)
        return self.policy(x) * self.learned.to(x.dtype)

    def augment(self, x: torch.Tensor, generator: torch.Generator | None = None,
                eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Warp ``x`` with parameters sampled from its ranges; returns ``(x_warped, ranges)``.

        ``eps`` (``(N, 4)`` in ``[-1, 1]``: rotation, zoom, x and y shift) overrides the draw.
        """
        r = self.ranges(x)
        if eps is None:
            eps = torch.rand(x.shape[0], 4, generator=generator) * 2 - 1
        eps = eps.to(x.device)
        amp = r * self.max_range
        xa = affine_warp(x, amp[:, 0] * eps[:, 0], amp[:, 1] * eps[:, 1], amp[:, 2] * eps[:, 2],
                         amp[:, 2] * eps[:, 3], self.padding_mode)
        return xa, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the classifier on the unwarped input."""
        return self.classifier(x)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, n_samples: int = 0, seed: int = 0) -> torch.Tensor:
        """Class probabilities; with ``n_samples > 0`` averaged over sampled warps."""
        if n_samples <= 0 or self.policy is None:
            return self.classifier(x).softmax(1)
        g = torch.Generator().manual_seed(seed)
        return torch.stack([self.classifier(self.augment(x, g)[0]).softmax(1)
                            for _ in range(n_samples)]).mean(0)


def fit_dna(model: DynamicAugmentation, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray,
            *, epochs: int = 30, batch_size: int = 64, lr: float = 3e-3, policy_lr: float | None = None,
            width_weight: float = 0.1, reward: str = "log", weight_decay: float = 1e-4,
            policy_warmup: int = 0, antithetic: bool = True, seed: int = 0,
            device: str | None = None) -> DynamicAugmentation:
    """Train classifier and policy jointly on ``CE(augmented) - width_weight * width``.

    Parameters
    ----------
    model : DynamicAugmentation
    x : array ``(N, C, H, W)`` float; y : array ``(N,)`` int
    epochs, batch_size, lr : training (Adam, cosine decay)
    policy_lr : float, optional
        Learning rate of the policy (default ``lr``).
    width_weight : float
        Weight of the width reward.
    reward : {"log", "linear"}
        Width reward per input: ``mean(log r)`` (default; its gradient does not vanish as a range
        shrinks, which keeps a per-input policy from collapsing onto the images the classifier
        has memorised) or ``mean(r)`` (Augerino's linear reward).
    weight_decay : float
        AdamW weight decay of the classifier.
    policy_warmup : int
        Epochs at the start during which the policy is frozen (the classifier learns first at the
        initial ranges, so that the class loss can tell the policy which warps hurt).
    antithetic : bool
        Train on each input twice, warped with ``eps`` and ``-eps``: the first-order term of the
        range gradient (zero mean, large variance) cancels, and the ranges move much faster.
    seed : int
        Seeds this run only (batches, warps, dropout); torch's global RNG is left as it was.
    device : str, optional

    Returns
    -------
    DynamicAugmentation
        Trained, in eval mode, on CPU; ``model.history_`` holds per-epoch loss, accuracy, width.

    Examples
    --------
    >>> import torch
    >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> m = fit_dna(DynamicAugmentation(clf, GlobalAugmentation()), torch.rand(16, 1, 8, 8),
    ...             torch.arange(16) % 2, epochs=2)
    >>> len(m.history_)
    2
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x).float()
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or len(x) < 2:
        raise InputError(f"need x of shape (N, C, H, W) and N labels, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if reward not in ("log", "linear"):
        raise InputError(f"reward must be 'log' or 'linear', got {reward!r}")
    dev = default_device(device)
    with seeded(seed, dev):  # init and dropout depend on seed only; the caller's RNG is kept
        model.to(dev).train()
        groups = [{"params": model.classifier.parameters(), "lr": lr, "weight_decay": weight_decay}]
        if model.policy is not None:
            groups.append({"params": model.policy.parameters(), "lr": policy_lr or lr,
                           "weight_decay": 0.0})
        opt = torch.optim.AdamW(groups)
        n_batches = -(-len(x) // batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs * n_batches, 1))
        g = torch.Generator().manual_seed(seed)
        learned = model.learned
        model.history_ = []
        for epoch in progress(range(epochs), desc="dna", total=epochs):
            if model.policy is not None:
                model.policy.requires_grad_(epoch >= policy_warmup)
            perm = torch.randperm(len(x), generator=g)
            tot = {"loss": 0.0, "acc": 0.0, "width": 0.0}
            for idx in perm.split(batch_size):
                xb, yb = x[idx].to(dev), y[idx].to(dev)
                eps = torch.rand(len(idx), 4, generator=g) * 2 - 1
                if antithetic:  # each input twice, with eps and -eps: cancels the odd gradient noise
                    xb, yb, eps = torch.cat([xb, xb]), torch.cat([yb, yb]), torch.cat([eps, -eps])
                xa, r = model.augment(xb, eps=eps)
                logits = model.classifier(xa)
                ce = F.cross_entropy(logits, yb)
                width = r[:, learned].mean() if learned.any() else r.new_zeros(())
                if reward == "log" and learned.any():
                    bonus = torch.log(r[:, learned].clamp_min(1e-6)).mean()
                else:
                    bonus = width
                loss = ce - width_weight * bonus
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                k = len(idx) / len(x)
                tot["loss"] += float(ce.detach()) * k
                tot["acc"] += float((logits.argmax(1) == yb).float().mean()) * k
                tot["width"] += float(width.detach()) * k
            model.history_.append(tot)
        return model.cpu().eval()


@torch.no_grad()
def ranges_by_class(model: DynamicAugmentation, x: torch.Tensor, y: torch.Tensor | np.ndarray
                    ) -> dict[int, dict[str, float]]:
    """Median learned range per class, in physical units (degrees, log-zoom, shift).

    Examples
    --------
    >>> import torch
    >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> m = DynamicAugmentation(clf, GlobalAugmentation())
    >>> ranges_by_class(m, torch.rand(4, 1, 8, 8), [0, 0, 1, 1])[1]["rotation"]
    90.0
    """
    model.eval()
    r = (model.ranges(torch.as_tensor(x).float()) * model.max_range).cpu().numpy()
    r[:, 0] = np.degrees(r[:, 0])
    y = np.asarray(y)
    return {int(c): {name: round(float(np.median(r[y == c, i])), 4)
                     for i, name in enumerate(COMPONENTS)} for c in np.unique(y)}
