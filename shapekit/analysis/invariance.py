"""Invariance and equivariance of any torch model: the empirical equivariance deviation (EED).

For a function ``F`` (a model's output, logits, or any hidden layer), a set of group elements ``G``
acting on inputs by ``g . x`` and on features by ``rho(g)``, and data ``D``::

    EED_G(F; D) = mean_{x in D, g in G \\ {e}} d(F(g . x), rho(g) F(x)) / scale(F; D)

with ``d`` the Euclidean distance of the flattened features, ``rho = identity`` for *invariance*
and ``rho(g) = g`` acting on the spatial axes of a feature map for *equivariance*.

Normalisation (so that scores compare across layers of different width and scale): ``scale`` is
the mean distance between the features of two *different* data points, ``mean_{x != x'}
d(F(x), F(x'))``. A score of 0 means exactly invariant/equivariant; a score near 1 means that
transforming an input moves its features as far as swapping it for another random input. The
identity element is left out of the mean (it always contributes 0), so groups of different sizes
compare. The label-level variant (:func:`prediction_flip_rate`) is the fraction of inputs whose
arg-max prediction changes, averaged over the group (no normalisation: it is already a rate).

Groups (:func:`group_transforms`): ``rot90`` (C4), ``flips`` (horizontal, vertical, both),
``d4`` (the 8 symmetries of the square), ``shift`` (circular shifts), ``rotation`` (continuous
angles, bilinear resampling; not exact on a pixel grid), ``intensity`` (``x -> a x``).

References
----------
H. Kvinge, T. Emerson, G. Jorgenson, S. Vasquez, T. Doster, J. Lew, "In what ways are deep neural
networks invariant and how should we measure this?", NeurIPS 2022, arXiv:2210.03773.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from shapekit._device import default_device
from shapekit.analysis._hooks import (activation_budget, as_tensor, check_activation_budget,
                                      eval_on, layers_that_ran, model_input, resolve_layers)
from shapekit.errors import InputError

GROUPS = ("rot90", "flips", "d4", "shift", "rotation", "intensity")


@dataclass(frozen=True)
class Transform:
    """One group element: a name and a function acting on ``(N, C, H, W)`` tensors."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    spatial: bool = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def rotate(x: torch.Tensor, angle_deg: float, padding_mode: str = "reflection") -> torch.Tensor:
    """Rotate ``(N, C, H, W)`` images by ``angle_deg`` (counter-clockwise) about the centre.

    Bilinear resampling through ``affine_grid``/``grid_sample`` (differentiable).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(1, 1, 8, 8)
    >>> bool(torch.allclose(rotate(x, 0.0), x, atol=1e-6))
    True
    """
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def group_transforms(group: str, *, angles: Sequence[float] | None = None,
                     shifts: Sequence[tuple[int, int]] | None = None,
                     scales: Sequence[float] | None = None) -> list[Transform]:
    """The non-identity elements of a named group (or transformation family).

    Parameters
    ----------
    group : {"rot90", "flips", "d4", "shift", "rotation", "intensity"}
    angles : sequence of float, optional
        Angles in degrees for ``rotation`` (default 15, 30, 45, 60, 75).
    shifts : sequence of (dy, dx), optional
        Circular shifts for ``shift`` (default (1, 0), (0, 1), (2, 3), (-3, -2)).
    scales : sequence of float, optional
        Intensity factors for ``intensity`` (default 0.5, 0.8, 1.25, 1.5).

    Returns
    -------
    list of Transform

    Examples
    --------
    >>> [t.name for t in group_transforms("rot90")]
    ['rot90', 'rot180', 'rot270']
    >>> len(group_transforms("d4"))
    7
    """
    if group == "rot90":
        return [Transform(f"rot{90 * k}", (lambda x, k=k: torch.rot90(x, k, dims=(-2, -1))))
                for k in (1, 2, 3)]
    if group == "flips":
        return [Transform("hflip", lambda x: torch.flip(x, dims=(-1,))),
                Transform("vflip", lambda x: torch.flip(x, dims=(-2,))),
                Transform("hvflip", lambda x: torch.flip(x, dims=(-2, -1)))]
    if group == "d4":
        out = group_transforms("rot90")
        for k in range(4):
            out.append(Transform(f"hflip_rot{90 * k}",
                                 (lambda x, k=k: torch.rot90(torch.flip(x, dims=(-1,)), k,
                                                             dims=(-2, -1)))))
        return out
    if group == "shift":
        shifts = shifts or [(1, 0), (0, 1), (2, 3), (-3, -2)]
        return [Transform(f"shift{dy},{dx}", (lambda x, d=(dy, dx): torch.roll(x, d, dims=(-2, -1))))
                for dy, dx in shifts if (dy, dx) != (0, 0)]
    if group == "rotation":
        angles = angles or [15.0, 30.0, 45.0, 60.0, 75.0]
        return [Transform(f"rot{a:g}", (lambda x, a=a: rotate(x, a))) for a in angles if a % 360]
    if group == "intensity":
        scales = scales or [0.5, 0.8, 1.25, 1.5]
        return [Transform(f"x{a:g}", (lambda x, a=a: x * a), spatial=False) for a in scales
                if a != 1.0]
    raise InputError(f"unknown group {group!r}; choose one of {', '.join(GROUPS)}")


def _transforms(group: str | Sequence[Transform | Callable[[torch.Tensor], torch.Tensor]]
                ) -> list[Transform]:
    """A group name or a sequence of transforms; plain callables become ``Transform("g<i>", fn)``."""
    if isinstance(group, str):
        return group_transforms(group)
    out = []
    for i, t in enumerate(group):
        if not callable(t):
            raise InputError(f"group element {i} is a {type(t).__name__}, not a function of tensors "
                             f"(a named group is one string, e.g. group=\"rot90\")")
        out.append(t if isinstance(t, Transform) else Transform(f"g{i}", t))
    return out


def mean_pairwise_distance(feats: torch.Tensor, max_pairs: int = 20000, seed: int = 0) -> float:
    """Mean Euclidean distance between the rows of ``feats`` for pairs of different rows.

    All pairs when there are at most ``max_pairs``, otherwise a seeded random subset.

    Examples
    --------
    >>> import torch
    >>> mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    5.0
    """
    f = feats.reshape(len(feats), -1).double()  # (N,) outputs too
    n = f.shape[0]
    if n < 2:
        raise InputError(f"need at least 2 inputs to normalise the deviation, got {n}")
    if n * (n - 1) // 2 <= max_pairs:
        i, j = torch.triu_indices(n, n, offset=1)
    else:
        g = torch.Generator().manual_seed(seed)
        i = torch.randint(0, n, (max_pairs,), generator=g)
        j = (i + torch.randint(1, n, (max_pairs,), generator=g)) % n
    return float((f[i] - f[j]).norm(dim=1).mean())


@dataclass
class EEDResult:
    """One EED score: ``score = raw / scale`` plus the raw mean per group element."""

    score: float
    raw: float
    scale: float
    per_element: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)


def eed_from_features(f_x: torch.Tensor, f_gx: Sequence[torch.Tensor],
                      rhos: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
                      names: Sequence[str], normalize: bool = True) -> EEDResult:
    """The functional core: EED from features of ``x`` and of each transformed ``g . x``.

    Parameters
    ----------
    f_x : Tensor ``(N, ...)``
        Features of the untransformed inputs.
    f_gx : sequence of Tensor ``(N, ...)``
        Features of the transformed inputs, one per group element.
    rhos : sequence of callables or None
        ``rho(g)`` applied to ``f_x`` before comparing (None = identity, i.e. invariance).
    names : sequence of str
        Names of the group elements.
    normalize : bool
        Divide by the mean pairwise distance of ``f_x`` (see the module docstring).

    Examples
    --------
    >>> import torch
    >>> f = torch.randn(5, 3)
    >>> eed_from_features(f, [f.clone()], [None], ["g"]).score
    0.0
    """
    per = {}
    for fg, rho, name in zip(f_gx, rhos, names):
        target = f_x if rho is None else rho(f_x)
        if target.shape != fg.shape:
            raise InputError(f"rho({name}) gives shape {tuple(target.shape)}, features of the "
                             f"transformed input have {tuple(fg.shape)}")
        diff = (fg.double() - target.double()).reshape(len(fg), -1)  # (N,) outputs too
        per[name] = float(diff.norm(dim=1).mean())
    raw = sum(per.values()) / max(len(per), 1)
    scale = mean_pairwise_distance(f_x) if normalize else 1.0
    score = raw / scale if scale > 0 else (0.0 if raw == 0 else float("inf"))
    return EEDResult(score=score, raw=raw, scale=scale, per_element=per)


def _features(model: nn.Module | Callable, x: torch.Tensor, names: list[str], batch_size: int,
              dev: torch.device, explicit: bool = True, budget: int | None = None,
              copies: int = 1) -> dict[str, torch.Tensor]:
    """Outputs of the named layers (unflattened) plus ``"output"``, on CPU.

    Layers that never ran are an error when ``explicit``, else left out (see
    :func:`~shapekit.analysis._hooks.layers_that_ran`). With a ``budget`` (bytes), ``copies``
    such passes over ``x`` must fit in it: checked after the first batch.
    """
    store: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    outs: list[torch.Tensor] = []
    handles = []
    if isinstance(model, nn.Module):
        modules = dict(model.named_modules())
        for n in names:
            def hook(_m, _i, o, n=n):
                t = o[0] if isinstance(o, (tuple, list)) else o
                # a copy: an in-place op later in forward (ReLU(inplace=True)) would rewrite it
                store[n].append(t.detach().to("cpu", torch.float32, copy=True))
            handles.append(modules[n].register_forward_hook(hook))
    try:
        with torch.no_grad():
            for xb in x.split(batch_size):
                o = model(model_input(model, xb, dev))
                outs.append((o[0] if isinstance(o, (tuple, list)) else o).detach().float().cpu())
                if budget is not None and len(outs) == 1:
                    used = sum(v[0].numel() * 4 for v in store.values() if v) + outs[0].numel() * 4
                    check_activation_budget(used * copies, len(xb), len(x), budget, len(names) + 1)
    finally:
        for h in handles:
            h.remove()
    ran = layers_that_ran(names, {n: len(v) for n, v in store.items()}, len(outs), explicit)
    res = {n: torch.cat(store[n]) for n in ran}
    res["output"] = torch.cat(outs)
    return res


def equivariance_deviation(model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
                           x: torch.Tensor, group: str | Sequence[Transform] = "rot90", *,
                           layers: Sequence[str] | None = (), equivariant: bool = False,
                           normalize: bool = True, batch_size: int = 64,
                           device: str | None = None,
                           max_bytes: int | None = None) -> dict[str, EEDResult]:
    """Empirical equivariance deviation of a model's output and hidden layers.

    Parameters
    ----------
    model : nn.Module or callable
        Any module (put in eval mode for the pass) or a plain function of ``(N, C, H, W)`` tensors.
    x : Tensor ``(N, C, H, W)``
        Data ``D`` (N >= 2); cast to the dtype of the module's parameters.
    group : str or sequence of Transform or callables
        A name for :func:`group_transforms` or explicit transforms (identity excluded); a plain
        function of ``(N, C, H, W)`` tensors is a spatial transform named ``g0``, ``g1``...
    layers : sequence of str or None
        Hidden layers (``named_modules`` names; one that ``forward`` never calls is an error);
        ``None`` = every leaf module that runs once per forward; ``()`` = output only.
    equivariant : bool
        False: invariance (``rho = identity``). True: ``rho(g) = g`` on the spatial axes of
        ``(N, C, H, W)`` feature maps (for spatial groups; ``intensity`` scales the features);
        layers whose features are not 4-D are then skipped for spatial groups.
    normalize : bool
        Divide by the mean pairwise feature distance (scores compare across layers).
    batch_size : int
    device : str, optional
        Default CUDA when present, else CPU.
    max_bytes : int, optional
        Memory the features of ``x`` and of every ``g . x`` (held together) may take; default half
        the available RAM. Exceeding it is an :class:`~shapekit.errors.InputError`, raised after
        the first batch.

    Returns
    -------
    dict of str to EEDResult
        One entry per layer plus ``"output"``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(6, 1, 8, 8)
    >>> avg = lambda t: torch.stack([torch.rot90(t, k, (-2, -1)) for k in range(4)]).mean(0)
    >>> r = equivariance_deviation(avg, x, "rot90")
    >>> r["output"].score < 1e-6
    True
    >>> equivariance_deviation(lambda t: t, x, "rot90", equivariant=True)["output"].score
    0.0
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise InputError(f"inputs must be (N, C, H, W), got shape {tuple(x.shape)}")
    transforms = _transforms(group)
    if not transforms:
        raise InputError("the group has no non-identity element")
    dev = default_device(device)
    names: list[str] = []
    if isinstance(model, nn.Module):
        names = resolve_layers(model, layers) if layers is None or len(layers) else []
    with eval_on(model, dev):
        base = _features(model, x, names, batch_size, dev, explicit=layers is not None,
                         budget=activation_budget(max_bytes), copies=1 + len(transforms))
        names = [n for n in names if n in base]  # layers=None: the leaves that forward() runs
        moved = [_features(model, t(x), names, batch_size, dev) for t in transforms]
    results: dict[str, EEDResult] = {}
    for key in [*names, "output"]:
        fx = base[key]
        if equivariant and any(t.spatial for t in transforms) and fx.ndim != 4:
            continue
        rhos = [t.fn if equivariant else None for t in transforms]
        results[key] = eed_from_features(fx, [m[key] for m in moved], rhos,
                                         [t.name for t in transforms], normalize)
    return results


def prediction_flip_rate(model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
                         x: torch.Tensor, group: str | Sequence[Transform] = "rot90", *,
                         batch_size: int = 64, device: str | None = None) -> float:
    """Label-level invariance: the fraction of (input, group element) pairs whose label changes.

    The label is the arg-max over the outputs' axis 1; a model with a single output (shape ``(N,)``
    or ``(N, 1)``: a binary classifier's logit) is labelled by its sign, ``output > 0``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(4, 1, 6, 6)
    >>> prediction_flip_rate(lambda t: t.flatten(1).sum(1, keepdim=True).repeat(1, 3), x, "flips")
    0.0
    """
    x = as_tensor(x)
    transforms = _transforms(group)
    dev = default_device(device)
    with eval_on(model, dev):
        y0 = _labels(_features(model, x, [], batch_size, dev)["output"])
        flips = [(_labels(_features(model, t(x), [], batch_size, dev)["output"]) != y0)
                 .float().mean() for t in transforms]
    return float(torch.stack(flips).mean())


def _labels(out: torch.Tensor) -> torch.Tensor:
    """Arg-max over axis 1, or the sign of a single output (one logit: ``argmax`` is always 0)."""
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        return out.reshape(len(out)) > 0
    return out.argmax(1)


class GroupAveraged(nn.Module):
    """``F_G(x) = mean_g F(g . x)`` over a finite group: exactly invariant by construction.

    The reference "invariant model" for the EED (Reynolds operator).

    Examples
    --------
    >>> import torch
    >>> net = GroupAveraged(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2)))
    >>> x = torch.rand(3, 1, 4, 4)
    >>> bool(torch.allclose(net(x), net(torch.rot90(x, 1, (-2, -1))), atol=1e-6))
    True
    """

    def __init__(self, module: nn.Module, group: str = "rot90") -> None:
        super().__init__()
        if group not in ("rot90", "flips", "d4"):
            raise InputError(f"group averaging needs a finite group (rot90, flips, d4), got {group!r}")
        self.module = module
        self.group = group
        self._transforms = group_transforms(group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.module(x)] + [self.module(t(x)) for t in self._transforms]
        return torch.stack(outs).mean(0)
